"""The Streamlit web UI: ask (streamed, cited, graded answers) and library (upload, index, remove).

Everything goes through `app.Assistant` (a cited section's text and a cited PDF's bytes too:
`source_text`, `source_pdf`). Document text and model output are only ever shown escaped (see
`app.ui.text`); the only raw HTML written is the anchor of an evidence card, whose id we build
ourselves, a section with its cited span in <mark> (text html-escaped), and the iframe of the
"Open the PDF at page N" link (`app.ui.pdf_link`: base64 bytes, our own page number and label).
"""

from __future__ import annotations

import html
import json
import threading
import time
from pathlib import Path
from urllib.parse import quote as url_quote
from collections.abc import Callable
from typing import Any, NamedTuple

import streamlit as st

from app.assistant import Assistant, AssistantError
from app.conversation import Conversation
from app.export import answer_to_pdf
from app.feedback import MAX_COMMENT_CHARS, VERDICTS, FeedbackError, FeedbackLog
from app.generators import GENERATOR_NAMES, GenerationError
from app.history import History, SourceState, source_states
from app.settings import load_settings
from app.startup import read_status
from app.ui.highlight import cited_quotes, mark_span, render_with_highlight, span_boxes
from app.ui.pdf_link import open_at_page_html
from app.ui.preview import PreviewError
from app.ui.text import anchor_id, answer_markdown, escape_markdown, generation_line, index_line, passage_markdown
from app.ui.uploads import save_uploads
from evidence.export import location_label
from evidence.schema import Answer, Evidence, SearchFilters
from indexing.labels import EvidenceLevel, SourceType

PAGES = ("Ask", "Library")
MODES = {"Evidence-based (cited, checked)": "evidence", "Plain (model's own answer, uncited)": "plain"}
GENERATOR_LABELS = {
    "extractive": "Extractive digest (no model)",
    "local": "Local model",
    "openai": "OpenAI-compatible server",
}
PDF_LINK_HEIGHT_PX = 48  # the link's iframe: one button-sized line (pdf_link._STYLE)
LEVEL_COLOURS = {1: "green", 2: "green", 3: "blue", 4: "orange", 5: "gray"}
WARNING_ICONS = {
    "demo_model": ":material/science:",
    "insufficient_evidence": ":material/search_off:",
    "conflicting_evidence": ":material/compare_arrows:",
    "unsupported_claims": ":material/report:",
    "uncited_claims": ":material/report:",
    "unknown_citations": ":material/link_off:",
}


@st.cache_resource(show_spinner=False)
def _assistant(settings_json: str) -> Assistant:
    """One assistant per distinct settings, shared by every browser session of this process."""
    from app.settings import Settings

    return Assistant(Settings.model_validate_json(settings_json))


def assistant() -> Assistant:
    settings = load_settings()
    return _assistant(settings.model_dump_json())


@st.cache_data(max_entries=32, show_spinner=False)
def _highlighted_image(document_id: str, page: int, quotes: tuple[str, ...], _pdf: bytes) -> tuple[Any, bool]:
    """The page of the PDF bytes `_pdf` (from `Assistant.source_pdf`, whose sha256 is
    `document_id`) with the cited sentences' boxes drawn; cached per (document id, page, quotes),
    the id standing for the bytes (left out of the cache key), so a rerun does not re-read the
    char boxes. No quote or none found: the plain page, rendered by the same call so marked and
    unmarked previews have one size."""
    boxes = [b for q in quotes for b in span_boxes(_pdf, page, q)]
    return render_with_highlight(_pdf, page, boxes), bool(boxes)


class Choices(NamedTuple):
    page: str
    mode: str
    generator: str
    filters: SearchFilters | None
    problem: str | None  # a filter the user must fix before asking, in the words on screen


def history_store(helper: Assistant) -> History:
    return History(helper.settings.data_dir)


# ---------------------------------------------------------------------------------------- sidebar
def sidebar(helper: Assistant) -> Choices:
    st.sidebar.title("m1-evidence")
    page = st.sidebar.radio("Page", PAGES, key="page", horizontal=True)
    st.sidebar.subheader("Answer")
    default_gen = helper.settings.generator
    generator = st.sidebar.selectbox(
        "Generator",
        GENERATOR_NAMES,
        index=GENERATOR_NAMES.index(default_gen),
        format_func=lambda name: GENERATOR_LABELS[name],
        key="generator",
    )
    plain_possible = generator != "extractive"  # plain mode needs a language model
    mode_label = st.sidebar.radio("Mode", list(MODES), key="mode", disabled=not plain_possible)
    mode = MODES[mode_label] if plain_possible else "evidence"
    if not plain_possible:
        st.sidebar.caption("Plain mode needs a language model: choose the local model or a server.")
    st.sidebar.subheader("Filters")
    types = st.sidebar.multiselect(
        "Source type", [t.value for t in SourceType], format_func=lambda v: SourceType(v).label, key="source_types"
    )
    col_a, col_b = st.sidebar.columns(2)
    year_min = col_a.number_input("From year", min_value=1900, max_value=2100, value=None, step=1, key="year_min")
    year_max = col_b.number_input("To year", min_value=1900, max_value=2100, value=None, step=1, key="year_max")
    problem = None
    if year_min and year_max and year_min > year_max:
        problem = f"“From year” ({int(year_min)}) is after “To year” ({int(year_max)}): swap them or clear one."
        st.sidebar.error(problem)
    level = st.sidebar.selectbox(
        "Minimum evidence level",
        [0, 1, 2, 3, 4, 5],
        format_func=lambda n: "any level" if n == 0 else EvidenceLevel(n).label,
        key="min_level",
    )
    filters = SearchFilters(
        source_types=[SourceType(t) for t in types] or None,
        year_min=int(year_min) if year_min and not problem else None,
        year_max=int(year_max) if year_max and not problem else None,
        min_level=EvidenceLevel(level) if level else None,
    )
    active = any(v is not None for v in filters.model_dump().values())
    status = helper.generator_status(generator)
    st.sidebar.caption("Answers by: " + escape_markdown(status.label))
    if status.is_demo:
        st.sidebar.warning("Demo model: not a clinical model.", icon=":material/science:")
    return Choices(page, mode, generator, filters if active else None, problem)


def history_sidebar(helper: Assistant) -> None:
    """Earlier answers, newest first; a click reopens one (and its conversation) as it was.

    Drawn last, so the answer of this very run is listed; the buttons act through callbacks,
    which Streamlit runs before the next run draws anything."""
    st.subheader("History")
    st.button("New conversation", key="new_conversation", icon=":material/add_comment:", on_click=new_conversation)
    history = history_store(helper)
    entries = history.entries(limit=30)
    if not entries:
        st.caption("Your questions and answers will be kept here, on this machine.")
        return
    for entry in entries:
        label = " ".join(entry.asked.split())
        label = label if len(label) <= 60 else label[:59] + "…"
        st.button(
            escape_markdown(label),
            key=f"history_{entry.entry_id}",
            help=escape_markdown(f"{entry.created_at:%Y-%m-%d %H:%M} UTC · answered: {entry.question}"),
            use_container_width=True,
            type="tertiary",
            on_click=open_entry,
            args=(history, entry.entry_id),
        )
    with st.expander("Delete history"):
        shown = st.session_state.get("entry_id")
        if shown is not None:
            st.button("Delete the open answer", key="delete_entry", on_click=delete_entry, args=(history, shown))
        sure = st.checkbox("Yes, delete every kept answer", key="confirm_clear")
        st.button("Delete all", key="clear_history", disabled=not sure, on_click=clear_history, args=(history,))


def new_conversation() -> None:
    for key in ("answer", "entry_id", "asked", "partial"):
        st.session_state.pop(key, None)
    st.session_state["conversation"] = Conversation()


def delete_entry(history: History, entry_id: int) -> None:
    history.delete(entry_id)
    new_conversation()


def clear_history(history: History) -> None:
    history.clear()
    new_conversation()
    st.session_state["confirm_clear"] = False


def open_entry(history: History, entry_id: int) -> None:
    entry = history.get(entry_id)
    st.session_state["answer"] = entry.answer
    st.session_state["entry_id"] = entry.entry_id
    st.session_state["asked"] = entry.asked
    conversation = Conversation(conversation_id=entry.conversation_id or Conversation().conversation_id)
    if entry.conversation_id:
        for turn in history.entries(conversation_id=entry.conversation_id):
            if turn.entry_id <= entry.entry_id:
                conversation.record(turn.asked, turn.answer)
    else:
        conversation.record(entry.asked, entry.answer)
    st.session_state["conversation"] = conversation


# ---------------------------------------------------------------------------------------- ask page
def ask_page(helper: Assistant, choices: Choices) -> None:
    st.title("Ask the evidence")
    st.caption(
        "Answers are grounded in the indexed guidelines and papers. Each passage carries its source type, "
        "an evidence level (1 strongest, 5 expert opinion) and the grade the source itself states."
    )
    conversation: Conversation = st.session_state.setdefault("conversation", Conversation())
    earlier_slot = st.container()  # filled at the end, when this run's turn is known
    with st.form("ask_form", clear_on_submit=True, border=False):
        hint = "e.g. What HbA1c target is recommended for most adults with type 2 diabetes?"
        if conversation.turns:
            hint = "A follow-up (e.g. “and in pregnancy?”) or a new question"
        question = st.text_area("Question", key="question", height=90, placeholder=hint)
        submitted = st.form_submit_button("Ask", type="primary")
    if st.session_state.pop("stop_generation", False) and not submitted:
        stopped()
    if submitted:
        if not (question or "").strip():
            st.error("Type a question first.")
        elif choices.problem:
            st.error(choices.problem, icon=":material/error:")
        else:
            run_question(helper, question, choices, conversation)
    answer: Answer | None = st.session_state.get("answer")
    if answer is not None and not submitted:
        show_answer_text(answer, st.session_state.get("asked"))
    if answer is not None:
        totals = {d.document_id: d.n_pages for d in helper.documents()}
        answer_actions(helper, answer, totals)
        show_answer_details(helper, answer, totals)
    with earlier_slot:
        earlier_turns(conversation)


def earlier_turns(conversation: Conversation) -> None:
    """The conversation so far, above the question box (the open answer is shown in full below)."""
    earlier = conversation.turns[:-1] if st.session_state.get("answer") is not None else conversation.turns
    if not earlier:
        return
    with st.expander(f"Earlier in this conversation ({len(earlier)})", expanded=False):
        for turn in earlier:
            st.markdown("**You:** " + escape_markdown(turn.asked))
            if turn.standalone != turn.asked:
                st.caption("Answered as: " + escape_markdown(turn.standalone))
            st.markdown(answer_markdown(turn.answer_text, set()))
            st.divider()


def stopped() -> None:
    st.info("Stopped: the answer was not finished.", icon=":material/stop_circle:")
    partial = st.session_state.pop("partial", None)
    if partial and partial.get("text", "").strip():
        with st.container(border=True, key="partial_box"):
            st.caption("Partial answer, as far as it was written (not checked, not kept in the history):")
            st.markdown(answer_markdown(partial["text"], set()))


def run_question(helper: Assistant, question: str, choices: Choices, conversation: Conversation) -> None:
    for key in ("answer", "entry_id", "asked"):
        st.session_state.pop(key, None)
    answering = st.empty()  # while it is written; the answer box shows it afterwards
    try:
        generator = helper.generator(choices.generator)
        if conversation.turns and generator.uses_prompt:
            answering.caption("Reading the follow-up in the light of the conversation…")
        standalone = conversation.standalone(question, generator)  # the model's rewrite, or the rules'
    except (ValueError, OSError) as exc:  # AssistantError (unknown generator), SettingsError
        answering.empty()
        st.error(escape_markdown(str(exc)), icon=":material/error:")
        return
    answering.empty()
    if standalone != question.strip():
        answering.caption("Answering: " + escape_markdown(standalone))
    stop_slot = st.empty()
    # Any click makes Streamlit rerun the page, which abandons this run; the abandoned stream is
    # closed, and with it the generation. The text so far is kept in "partial" for that rerun.
    stop_slot.button("Stop", key="stop_generation", icon=":material/stop:")
    status = st.empty()
    placeholder = st.empty()
    waiting = "Searching the evidence and writing the answer…"
    if choices.generator == "local":
        waiting += " (the first answer also loads the local model)"
    status.caption(waiting)
    unit = "words" if choices.generator == "extractive" else "tokens"
    partial = st.session_state["partial"] = {"question": standalone, "text": ""}
    started = time.monotonic()
    first_at: float | None = None
    count, last_draw = 0, 0.0
    answer: Answer | None = None
    try:
        options = dict(mode=choices.mode, generator=choices.generator, filters=choices.filters, cancel=threading.Event())
        for item in conversation.stream(helper, question, standalone=standalone, **options):
            if isinstance(item, Answer):
                answer = item
                break
            now = time.monotonic()
            first_at = first_at or now
            count += 1
            partial["text"] += item
            if now - last_draw > 0.1:
                placeholder.markdown(answer_markdown(partial["text"], set()))
                status.caption(generation_line(count, now - started, now - first_at, unit))
                last_draw = now
    except (ValueError, OSError, GenerationError) as exc:  # AssistantError and SettingsError included
        for slot in (answering, stop_slot, status, placeholder):
            slot.empty()
        st.session_state.pop("partial", None)
        st.error(escape_markdown(str(exc)), icon=":material/error:")  # a server's text: never live markdown
        return
    for slot in (answering, stop_slot, status, placeholder):
        slot.empty()
    st.session_state.pop("partial", None)
    if answer is not None:
        entry_id = history_store(helper).add(
            answer, asked=question, conversation_id=conversation.conversation_id, index_generation=helper.index_generation()
        )
        st.session_state.update(answer=answer, entry_id=entry_id, asked=question)
        show_answer_text(answer, question)


def show_answer_text(answer: Answer, asked: str | None = None) -> None:
    known = {e.evidence_id for e in answer.evidence} if answer.mode == "evidence" else set()
    with st.container(border=True, key="answer_box"):
        if asked and " ".join(asked.split()) != answer.question:
            st.caption("Answering: " + escape_markdown(answer.question))
        st.markdown(answer_markdown(answer.text, known))
        total = answer.timings.get("total")
        st.caption(
            f"Answer by: {escape_markdown(answer.model_label)}"
            + (f" · {total:.1f} s" if total is not None else "")
        )
    for warning in answer.warnings:
        icon = WARNING_ICONS.get(warning.code, ":material/warning:")
        if warning.code == "insufficient_evidence":
            st.info(escape_markdown(warning.message), icon=icon)
        else:
            st.warning(escape_markdown(warning.message), icon=icon)


@st.cache_data(show_spinner=False, max_entries=16)
def _pdf_bytes(answer_json: str, totals_json: str) -> bytes:
    return answer_to_pdf(Answer.model_validate_json(answer_json), json.loads(totals_json))


def answer_actions(helper: Assistant, answer: Answer, totals: dict[str, int]) -> None:
    """Copy or download the answer with its evidence table (Markdown, printable PDF), and feedback."""
    markdown = answer.to_markdown(totals)
    name = f"m1e-answer-{st.session_state.get('entry_id') or 'latest'}"
    cols = st.columns([1, 1, 1, 3], gap="small")
    cols[0].download_button("Markdown", markdown, file_name=name + ".md", mime="text/markdown", key="download_md",
                            icon=":material/download:", on_click="ignore")
    cols[1].download_button("PDF", _pdf_bytes(answer.model_dump_json(), json.dumps(totals)), file_name=name + ".pdf",
                            mime="application/pdf", key="download_pdf", icon=":material/picture_as_pdf:", on_click="ignore")
    with cols[2].popover("Copy", icon=":material/content_copy:"):
        st.caption("The answer with its evidence table, as Markdown (copy with the icon at the top right):")
        st.code(markdown, language="markdown")
    with cols[3].popover("Feedback", icon=":material/rate_review:"):
        feedback_form(helper, answer)


def feedback_form(helper: Assistant, answer: Answer) -> None:
    with st.form("feedback_form", clear_on_submit=True, border=False):
        verdict = st.radio("Verdict", list(VERDICTS), format_func=VERDICTS.get, horizontal=True, key="feedback_verdict")
        about = st.selectbox("About", ["the whole answer"] + [e.evidence_id for e in answer.evidence], key="feedback_about")
        comment = st.text_area("Comment (optional)", key="feedback_comment", max_chars=MAX_COMMENT_CHARS)
        if st.form_submit_button("Send feedback"):
            try:
                FeedbackLog(helper.settings.data_dir).add(
                    answer,
                    verdict,
                    evidence_id=None if about == "the whole answer" else about,
                    comment=comment,
                    history_id=st.session_state.get("entry_id"),
                    index_generation=helper.index_generation(),
                )
            except FeedbackError as exc:
                st.error(escape_markdown(str(exc)))
            else:
                st.success("Thank you: kept on this machine for review (`m1e feedback export`).")


def show_answer_details(helper: Assistant, answer: Answer, totals: dict[str, int]) -> None:
    if not answer.evidence:
        return
    cited = {c.evidence_id for c in answer.citations}
    states = source_states(answer, helper.documents())
    heading = "Evidence" if answer.mode == "evidence" else "Related evidence (not given to the model)"
    st.subheader(heading, anchor="evidence")
    for item in answer.evidence:
        evidence_card(item, cited=item.evidence_id in cited, state=states.get(item.evidence_id),
                      total=totals.get(item.document_id), quotes=tuple(cited_quotes(answer.text, item.evidence_id)),
                      source_text=lambda item=item: helper.source_text(item),
                      source_pdf=lambda item=item: helper.source_pdf(item))


def doi_url(doi: str) -> str:
    """The doi.org resolver link for a record's DOI; the DOI is quoted so a stray character in the
    record cannot change the link's target."""
    return "https://doi.org/" + url_quote(doi.strip().removeprefix("https://doi.org/"), safe="/:;()._-")


def marked_section_html(text: str, quotes: tuple[str, ...]) -> str:
    """The section text as escaped HTML with each cited span in <mark>; `pre-wrap` keeps its line
    breaks (bullets, tables) so the clinician reads the span in the section as it is written."""
    pieces = [(text, False)]
    for quote in quotes:
        pieces = [m for chunk, on in pieces for m in ([(chunk, True)] if on else mark_span(chunk, quote))]
    body = "".join(f"<mark>{html.escape(c)}</mark>" if on else html.escape(c) for c, on in pieces)
    return f'<div style="white-space: pre-wrap">{body}</div>'


def level_badge(item: Evidence) -> None:
    grade = item.grade
    if grade is None:
        st.badge("ungraded", color="gray")
        return
    st.badge(f"Level {int(grade.level)}", color=LEVEL_COLOURS.get(int(grade.level), "gray"))


def evidence_card(item: Evidence, cited: bool, state: SourceState | None = None, total: int | None = None,
                  quotes: tuple[str, ...] = (), source_text: Callable[[], str | None] | None = None,
                  source_pdf: Callable[[], bytes] | None = None) -> None:
    """One evidence card. `source_text` reads the cited section as it stands now
    (`Assistant.source_text`), `source_pdf` the cited PDF's bytes (`Assistant.source_pdf`); each
    is called only when the clinician asks to see the section or the page."""
    with st.container(border=True, key=f"card_{anchor_id(item.evidence_id)}"):
        # Our own id only (never document text): the anchor the answer's [En] links jump to.
        st.markdown(f'<div id="{anchor_id(item.evidence_id)}"></div>', unsafe_allow_html=True)
        st.markdown(f"**{escape_markdown(item.evidence_id)}** · {escape_markdown(item.title)}")
        _card_badges(item, cited)
        st.caption(escape_markdown(" · ".join(_card_facts(item, total))))
        if item.doi:
            st.link_button("Open the DOI", doi_url(item.doi))
        current = state is None or state.status == "current"
        if not current:
            st.warning(escape_markdown(state.message), icon=":material/history:")
        st.markdown(passage_markdown(item.text))
        with st.expander("Why this level"):
            _why_this_level(item)
        # A changed or removed source is never previewed: the file now may show another passage.
        if current and quotes and not item.path.lower().endswith(".pdf"):
            if st.toggle("Show the quoted words in this section", key=f"marked_{item.chunk_id}"):
                whole = source_text() if source_text is not None else None
                st.markdown(marked_section_html(whole or item.text, quotes), unsafe_allow_html=True)
                st.caption(f"the whole {location_label(item, total)}" if whole else "the cited passage (the source could not be read again)")
        if current and item.path.lower().endswith(".pdf") and source_pdf is not None:
            if st.toggle(f"Show page {item.page_start} of the PDF", key=f"preview_{item.chunk_id}"):
                pdf_page_section(item, quotes, source_pdf)


def _card_badges(item: Evidence, cited: bool) -> None:
    """Source type, level, the grade the source states, and whether the answer cites it."""
    badges = st.columns([2, 1, 2, 3], gap="small")
    with badges[0]:
        st.badge(item.grade.source_type.label if item.grade else "source type unknown", color="violet")
    with badges[1]:
        level_badge(item)
    with badges[2]:
        if item.stated_grades:
            stated = " / ".join(g.quote for g in item.stated_grades[:2])[:60]
            st.badge("stated: " + escape_markdown(stated), color="blue")
        else:
            st.badge("no stated grade", color="gray")
    with badges[3]:
        if cited:
            st.badge("cited in the answer", color="green", icon=":material/format_quote:")


def _card_facts(item: Evidence, total: int | None) -> list[str]:
    """Organisation, year, location, heading path and DOI, for the card's caption line."""
    facts = [f"{item.year}" if item.year else "year unknown", location_label(item, total)]
    if item.organization:
        facts.insert(0, item.organization)
    if item.heading_path:
        facts.append(" › ".join(item.heading_path))
    if item.doi:
        facts.append("DOI " + item.doi)
    return facts


def _why_this_level(item: Evidence) -> None:
    """What decided the grade, with its reasons, and every grade the source states."""
    if item.grade is None:
        st.write("This document has not been graded.")
    else:
        g = item.grade
        st.markdown(
            escape_markdown(
                f"{g.source_type.label}, {EvidenceLevel(g.level).label}. "
                f"Decided by {g.origin}; confidence {g.confidence:.0%}."
            )
        )
        for reason in g.reasons:
            st.markdown("- " + escape_markdown(reason))
    for sg in item.stated_grades:
        where = f" (p. {sg.page})" if sg.page else ""
        st.markdown(
            f"- Stated grade **{escape_markdown(sg.quote)}**{escape_markdown(where)}: "
            + escape_markdown(sg.recommendation)
        )


def pdf_page_section(item: Evidence, quotes: tuple[str, ...], source_pdf: Callable[[], bytes]) -> None:
    """The cited PDF page with the quoted sentences marked, a link that opens the whole PDF at that
    page in the browser's viewer, and a download of it: all from the bytes `Assistant.source_pdf`
    gives (the indexed content, hash-checked), so a file changed since shows its reason instead."""
    try:
        data = source_pdf()
    except AssistantError as exc:
        st.caption(escape_markdown(str(exc)))
        return
    links = st.columns([2, 2, 3], vertical_alignment="center")
    with links[0]:
        try:
            st.iframe(open_at_page_html(data, item.page_start), height=PDF_LINK_HEIGHT_PX,
                      alt=f"Open the PDF at page {item.page_start}")
        except ValueError as exc:  # over MAX_LINK_BYTES: the download still works
            st.caption(escape_markdown(f"Not opened in the browser: {exc}"))
    links[1].download_button("Download the whole PDF", data=data, file_name=Path(item.path).name,
                             mime="application/pdf", key=f"pdf_{item.chunk_id}")
    try:
        image, drawn = _highlighted_image(item.document_id, item.page_start, quotes, data)
        note = "" if drawn or not quotes else " (the quoted words were not found on this page)"
        st.image(image, caption=f"page {item.page_start}{note}")
    except PreviewError as exc:
        st.caption(escape_markdown(str(exc)))


# ---------------------------------------------------------------------------------------- library page
def library_page(helper: Assistant) -> None:
    st.title("Library")
    status_section(helper)
    upload_section(helper)
    documents_section(helper)


def status_section(helper: Assistant) -> None:
    info = helper.info()
    idx = info.index
    cols = st.columns(4)
    cols[0].metric("Documents", idx.documents)
    cols[1].metric("Pages", idx.pages)
    cols[2].metric("Passages", idx.chunks)
    cols[3].metric("Level 1-2 documents", idx.by_level.get(1, 0) + idx.by_level.get(2, 0))
    st.caption(
        escape_markdown(
            f"Index: {idx.index_dir} · embedder: {idx.embedder or 'n/a'} · generator: {info.generator.label}"
            + (" (loaded)" if info.generator.loaded else "")
            + (f" · {info.generator.detail}" if info.generator.detail else "")
        )
    )
    if info.demo_model:
        st.warning("The configured generator is the demo model: it is not a clinical model.", icon=":material/science:")


def _progress_callback(bar: Any, started: float) -> Any:
    def update(progress: Any) -> None:
        total = max(int(getattr(progress, "files_total", 0) or 0), 1)
        done = min(int(getattr(progress, "files_done", 0) or 0), total)
        current = Path(str(getattr(progress, "current_path", "") or "")).name
        line = index_line(done, total, int(getattr(progress, "chunks", 0) or 0), time.monotonic() - started,
                          str(getattr(progress, "stage", "")), current)
        bar.progress(done / total, text=escape_markdown(line))

    return update


def show_report(report: Any, rejected: list[str] | None = None) -> None:
    """One summary that counts what the lines under it show: files refused at upload are failures too."""
    rejected = rejected or []
    indexed = len(getattr(report, "indexed", []) or []) if report is not None else 0
    unchanged = len(getattr(report, "unchanged", []) or []) if report is not None else 0
    failed = [f"{Path(str(o.path)).name}: {o.reason}" for o in (getattr(report, "failed", []) or [])] + rejected
    summary = f"Indexed {indexed} file(s); {unchanged} unchanged; {len(failed)} failed."
    if report is not None and getattr(report, "seconds", 0):
        summary += f" ({report.seconds:.0f} s)"
    (st.warning if failed else st.success)(summary)
    for line in failed:
        st.error(escape_markdown(line))


def upload_section(helper: Assistant) -> None:
    st.subheader("Add documents")
    done = st.session_state.pop("index_result", None)
    if done is not None:  # the batch that finished before this rerun (counts above are fresh)
        show_report(done["report"], done["rejected"])
    files = st.file_uploader(
        "PDF, markdown or text files (saved under the data folder, only read)",
        type=["pdf", "md", "markdown", "txt"],
        accept_multiple_files=True,
        key="uploads",
    )
    if st.button("Index uploaded files", disabled=not files, key="index_uploads"):
        saved = save_uploads(files or [], helper.settings.uploads_dir, helper.settings.upload_max_mb)
        rejected = list(saved.errors)  # a file that cannot be saved never stops the others; counted as failed
        report = index_with_progress(helper, saved.paths) if saved.paths else None
        if report is not None or rejected:
            st.session_state["index_result"] = {"report": report, "rejected": rejected}
            st.rerun()
    if st.button("Index the demo corpus", key="index_demo"):
        report = index_with_progress(helper, None)
        if report is not None:
            st.session_state["index_result"] = {"report": report, "rejected": []}
            st.rerun()


def index_with_progress(helper: Assistant, paths: list[Path] | None) -> Any:
    """Index with a live line (files, passages, elapsed, rate); the report, or None after an error."""
    bar = st.progress(0.0, text="Starting…")
    started = time.monotonic()
    try:
        callback = _progress_callback(bar, started)
        report = helper.index_demo(progress=callback) if paths is None else helper.index(paths, progress=callback)
    except (AssistantError, OSError, ValueError) as exc:
        bar.empty()
        st.error(escape_markdown(f"Indexing failed: {exc}"))
        return None
    chunks = report.totals.chunks if getattr(report, "totals", None) else 0
    bar.progress(1.0, text=escape_markdown(f"Done: {chunks} passages in {time.monotonic() - started:.0f} s"))
    return report


def documents_section(helper: Assistant) -> None:
    st.subheader("Indexed documents")
    removed = st.session_state.pop("removed_message", None)
    if removed:
        st.success(escape_markdown(removed), icon=":material/delete:")
    docs = helper.documents()
    if not docs:
        st.info("Nothing is indexed yet.")
        return
    rows = []
    for d in docs:
        g = d.grade
        rows.append(
            {
                "ID": d.document_id[:12],
                "Title": d.title,
                "Source type": g.source_type.label if g else "ungraded",
                "Level": int(g.level) if g else None,
                "Year": d.meta.year if d.meta else None,
                "Pages": d.n_pages,
                "Passages": d.n_chunks,
                "File": Path(d.path).name,
            }
        )
    st.dataframe(rows, hide_index=True, use_container_width=True)
    choices = {d.document_id: f"{d.document_id[:12]} · {d.title}" for d in docs}
    with st.form("remove_form", border=False):
        target = st.selectbox("Remove a document from the index", list(choices), format_func=choices.get, key="remove_id")
        if st.form_submit_button("Remove"):
            try:
                record = helper.remove(target)
            except AssistantError as exc:
                st.error(escape_markdown(str(exc)))
            else:
                st.session_state.pop("answer", None)
                title = record.title if record else target
                st.session_state["removed_message"] = f"Removed “{title}” from the index (answers in the history that cite it say so)."
                st.rerun()


# ---------------------------------------------------------------------------------------- first start
@st.fragment(run_every=2)
def demo_progress(data_dir: str) -> None:
    """The live line of the indexer `m1e ui` started; the whole page reruns when it finishes."""
    status = read_status(data_dir)
    if status is None or status.state != "running":
        st.rerun()
    clock = f" · running {time.time() - status.started:.0f} s" if status.started else ""
    st.info("Indexing the bundled demo guidelines (started with the server): " + escape_markdown(status.line + clock),
            icon=":material/hourglass_top:")


def first_start(helper: Assistant) -> None:
    """With an empty index, index the demo corpus once (progress shown) so the app is usable.

    When `m1e ui` already started the indexer (app.startup), show its progress instead."""
    status = read_status(helper.settings.data_dir)
    if status is not None and status.state == "running":
        demo_progress(str(helper.settings.data_dir))
        return
    if status is not None and not st.session_state.get("demo_finish_shown"):
        st.session_state["demo_finish_shown"] = True
        (st.success if status.state == "done" else st.error)(escape_markdown(status.line.capitalize()))
        st.session_state["demo_checked"] = True
    if st.session_state.get("demo_checked") or helper.documents():
        st.session_state["demo_checked"] = True
        return
    st.session_state["demo_checked"] = True
    banner = st.empty()
    banner.info("The index is empty: indexing the bundled demo guidelines (first start only).")
    report = index_with_progress(helper, None)
    banner.empty()  # the index is no longer empty
    if report is not None:
        show_report(report)


def main() -> None:
    # An emoji icon becomes a data: URL; a ":material/...:" page icon makes the browser fetch an SVG
    # from fonts.gstatic.com (tests/e2e/test_offline_page.py checks no request leaves 127.0.0.1).
    st.set_page_config(page_title="m1-evidence", page_icon="🩺", layout="wide")
    try:
        helper = assistant()
        first_start(helper)
        choices = sidebar(helper)
        history_slot = st.sidebar.container()
        if choices.page == "Library":
            library_page(helper)
        else:
            ask_page(helper, choices)
        with history_slot:
            history_sidebar(helper)
    except (ValueError, OSError, GenerationError) as exc:
        # Bad settings, an index built with another embedder, an unreadable index: one clear line.
        st.error(escape_markdown(str(exc)), icon=":material/error:")  # a server's text: never live markdown
