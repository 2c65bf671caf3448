"""The Streamlit web UI: ask (streamed, cited, graded answers) and library (upload, index, remove).

Everything goes through `app.Assistant`. Document text and model output are only ever shown
escaped (see `app.ui.text`); the only raw HTML written is the anchor of an evidence card,
whose id we build ourselves.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import streamlit as st

from app.assistant import Assistant, AssistantError
from app.generators import GENERATOR_NAMES, GenerationError
from app.settings import load_settings
from app.ui.preview import PreviewError, render_pdf_page
from app.ui.text import anchor_id, answer_markdown, escape_markdown
from app.ui.uploads import save_uploads
from evidence.schema import Answer, Evidence, SearchFilters
from indexing.labels import EvidenceLevel, SourceType

PAGES = ("Ask", "Library")
MODES = {"Evidence-based (cited, checked)": "evidence", "Plain (model's own answer, uncited)": "plain"}
GENERATOR_LABELS = {
    "extractive": "Extractive digest (no model)",
    "local": "Local model",
    "openai": "OpenAI-compatible server",
}
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


@st.cache_data(show_spinner=False, max_entries=64)
def _page_image(path: str, page: int, mtime: float) -> Any:
    return render_pdf_page(path, page)


# ---------------------------------------------------------------------------------------- sidebar
def sidebar(helper: Assistant) -> tuple[str, str, str, SearchFilters | None]:
    st.sidebar.title("m1-evidence")
    page = st.sidebar.radio("Page", PAGES, key="page", horizontal=True)
    st.sidebar.subheader("Answer")
    mode_label = st.sidebar.radio("Mode", list(MODES), key="mode")
    default_gen = helper.settings.generator
    generator = st.sidebar.selectbox(
        "Generator",
        GENERATOR_NAMES,
        index=GENERATOR_NAMES.index(default_gen),
        format_func=lambda name: GENERATOR_LABELS[name],
        key="generator",
    )
    st.sidebar.subheader("Filters")
    types = st.sidebar.multiselect(
        "Source type", [t.value for t in SourceType], format_func=lambda v: SourceType(v).label, key="source_types"
    )
    col_a, col_b = st.sidebar.columns(2)
    year_min = col_a.number_input("From year", min_value=1900, max_value=2100, value=None, step=1, key="year_min")
    year_max = col_b.number_input("To year", min_value=1900, max_value=2100, value=None, step=1, key="year_max")
    level = st.sidebar.selectbox(
        "Minimum evidence level",
        [0, 1, 2, 3, 4, 5],
        format_func=lambda n: "any level" if n == 0 else EvidenceLevel(n).label,
        key="min_level",
    )
    filters = SearchFilters(
        source_types=[SourceType(t) for t in types] or None,
        year_min=int(year_min) if year_min else None,
        year_max=int(year_max) if year_max else None,
        min_level=EvidenceLevel(level) if level else None,
    )
    active = any(v is not None for v in filters.model_dump().values())
    status = helper.generator_status(generator)
    st.sidebar.caption("Answers by: " + escape_markdown(status.label))
    if status.is_demo:
        st.sidebar.warning("Demo model: not a clinical model.", icon=":material/science:")
    return page, MODES[mode_label], generator, filters if active else None


# ---------------------------------------------------------------------------------------- ask page
def ask_page(helper: Assistant, mode: str, generator: str, filters: SearchFilters | None) -> None:
    st.title("Ask the evidence")
    st.caption(
        "Answers are grounded in the indexed guidelines and papers. Each passage carries its source type, "
        "an evidence level (1 strongest, 5 expert opinion) and the grade the source itself states."
    )
    with st.form("ask_form", clear_on_submit=False, border=False):
        question = st.text_area("Question", key="question", height=90, placeholder="e.g. What HbA1c target is recommended for most adults with type 2 diabetes?")
        submitted = st.form_submit_button("Ask", type="primary")
    if st.session_state.pop("stop_generation", False) and not submitted:
        st.info("Stopped: the answer was not finished.", icon=":material/stop_circle:")
    if submitted:
        if not (question or "").strip():
            st.error("Type a question first.")
        else:
            run_question(helper, question, mode, generator, filters)
    answer: Answer | None = st.session_state.get("answer")
    if answer is not None and not submitted:
        show_answer_text(answer)
    if answer is not None:
        show_answer_details(answer)


def run_question(helper: Assistant, question: str, mode: str, generator: str, filters: SearchFilters | None) -> None:
    st.session_state.pop("answer", None)
    stop_slot = st.empty()
    # Any click makes Streamlit rerun the page, which abandons this run; the abandoned stream is
    # closed, and with it the generation (local decode loop or the server connection).
    stop_slot.button("Stop", key="stop_generation", icon=":material/stop:")
    placeholder = st.empty()
    waiting = "Searching the evidence and writing the answer…"
    if generator == "local":
        waiting += " (the first answer also loads the local model)"
    placeholder.caption(waiting)
    text = ""
    last_draw = 0.0
    answer: Answer | None = None
    try:
        for item in helper.stream(question, mode=mode, generator=generator, filters=filters, cancel=threading.Event()):
            if isinstance(item, Answer):
                answer = item
                break
            text += item
            if time.monotonic() - last_draw > 0.05:
                placeholder.markdown(answer_markdown(text, set()))
                last_draw = time.monotonic()
    except (ValueError, OSError, GenerationError) as exc:  # AssistantError and SettingsError included
        stop_slot.empty()
        placeholder.empty()
        st.error(escape_markdown(str(exc)), icon=":material/error:")  # a server's text: never live markdown
        return
    stop_slot.empty()
    placeholder.empty()
    if answer is not None:
        st.session_state["answer"] = answer
        show_answer_text(answer)


def show_answer_text(answer: Answer) -> None:
    known = {e.evidence_id for e in answer.evidence} if answer.mode == "evidence" else set()
    with st.container(border=True, key="answer_box"):
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


def show_answer_details(answer: Answer) -> None:
    if not answer.evidence:
        return
    cited = {c.evidence_id for c in answer.citations}
    heading = "Evidence" if answer.mode == "evidence" else "Related evidence (not given to the model)"
    st.subheader(heading, anchor="evidence")
    for item in answer.evidence:
        evidence_card(item, cited=item.evidence_id in cited)


def level_badge(item: Evidence) -> None:
    grade = item.grade
    if grade is None:
        st.badge("ungraded", color="gray")
        return
    st.badge(f"Level {int(grade.level)}", color=LEVEL_COLOURS.get(int(grade.level), "gray"))


def evidence_card(item: Evidence, cited: bool) -> None:
    with st.container(border=True, key=f"card_{anchor_id(item.evidence_id)}"):
        # Our own id only (never document text): the anchor the answer's [En] links jump to.
        st.markdown(f'<div id="{anchor_id(item.evidence_id)}"></div>', unsafe_allow_html=True)
        st.markdown(f"**{escape_markdown(item.evidence_id)}** · {escape_markdown(item.title)}")
        badges = st.columns([2, 1, 2, 3], gap="small")
        with badges[0]:
            st.badge(item.grade.source_type.label if item.grade else "source type unknown", color="violet")
        with badges[1]:
            level_badge(item)
        with badges[2]:
            if item.stated_grades:
                quotes = " / ".join(g.quote for g in item.stated_grades[:2])[:60]
                st.badge("stated: " + escape_markdown(quotes), color="blue")
            else:
                st.badge("no stated grade", color="gray")
        with badges[3]:
            if cited:
                st.badge("cited in the answer", color="green", icon=":material/format_quote:")
        facts = [
            f"{item.year}" if item.year else "year unknown",
            f"p. {item.pages}",
        ]
        if item.organization:
            facts.insert(0, item.organization)
        if item.heading_path:
            facts.append(" › ".join(item.heading_path))
        st.caption(escape_markdown(" · ".join(facts)))
        st.markdown(escape_markdown(item.text))
        with st.expander("Why this level"):
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
        if item.path.lower().endswith(".pdf") and Path(item.path).is_file():
            if st.toggle(f"Show page {item.page_start} of the PDF", key=f"preview_{item.chunk_id}"):
                try:
                    path = Path(item.path)
                    st.image(_page_image(str(path), item.page_start, path.stat().st_mtime), caption=f"page {item.page_start}")
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


def _progress_callback(bar: Any) -> Any:
    def update(progress: Any) -> None:
        total = max(int(getattr(progress, "files_total", 0) or 0), 1)
        done = min(int(getattr(progress, "files_done", 0) or 0), total)
        current = Path(str(getattr(progress, "current_path", "") or "")).name
        stage = getattr(progress, "stage", "")
        bar.progress(done / total, text=escape_markdown(f"{done}/{total} files · {stage} {current}".strip()))

    return update


def show_report(report: Any) -> None:
    indexed = len(getattr(report, "indexed", []) or [])
    unchanged = len(getattr(report, "unchanged", []) or [])
    failed = list(getattr(report, "failed", []) or [])
    st.success(f"Indexed {indexed} file(s); {unchanged} unchanged; {len(failed)} failed.")
    for outcome in failed:
        st.error(escape_markdown(f"{Path(str(outcome.path)).name}: {outcome.reason}"))


def upload_section(helper: Assistant) -> None:
    st.subheader("Add documents")
    files = st.file_uploader(
        "PDF, markdown or text files (saved under the data folder, only read)",
        type=["pdf", "md", "markdown", "txt"],
        accept_multiple_files=True,
        key="uploads",
    )
    if st.button("Index uploaded files", disabled=not files, key="index_uploads"):
        saved = save_uploads(files or [], helper.settings.uploads_dir, helper.settings.upload_max_mb)
        for error in saved.errors:  # a file that cannot be saved never stops the others
            st.error(escape_markdown(error))
        if saved.paths:
            index_with_progress(helper, saved.paths)
    if st.button("Index the demo corpus", key="index_demo"):
        index_with_progress(helper, None)


def index_with_progress(helper: Assistant, paths: list[Path] | None) -> None:
    bar = st.progress(0.0, text="Starting…")
    try:
        report = helper.index_demo(progress=_progress_callback(bar)) if paths is None else helper.index(paths, progress=_progress_callback(bar))
    except (AssistantError, OSError, ValueError) as exc:
        bar.empty()
        st.error(escape_markdown(f"Indexing failed: {exc}"))
        return
    bar.progress(1.0, text="Done")
    show_report(report)


def documents_section(helper: Assistant) -> None:
    st.subheader("Indexed documents")
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
                st.success(escape_markdown(f"Removed {record.title if record else target}"))
                st.rerun()


# ---------------------------------------------------------------------------------------- first start
def first_start(helper: Assistant) -> None:
    """With an empty index, index the demo corpus once (progress shown) so the app is usable."""
    if st.session_state.get("demo_checked") or helper.documents():
        st.session_state["demo_checked"] = True
        return
    st.session_state["demo_checked"] = True
    st.info("The index is empty: indexing the bundled demo guidelines (first start only).")
    index_with_progress(helper, None)


def main() -> None:
    # An emoji icon becomes a data: URL; a ":material/...:" page icon makes the browser fetch an SVG
    # from fonts.gstatic.com (tests/e2e/test_offline_page.py checks no request leaves 127.0.0.1).
    st.set_page_config(page_title="m1-evidence", page_icon="🩺", layout="wide")
    try:
        helper = assistant()
        first_start(helper)
        page, mode, generator, filters = sidebar(helper)
        if page == "Library":
            library_page(helper)
        else:
            ask_page(helper, mode, generator, filters)
    except (ValueError, OSError, GenerationError) as exc:
        # Bad settings, an index built with another embedder, an unreadable index: one clear line.
        st.error(escape_markdown(str(exc)), icon=":material/error:")  # a server's text: never live markdown
