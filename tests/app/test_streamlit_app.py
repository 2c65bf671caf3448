"""The web UI's flows through Streamlit's AppTest (same process, no browser)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.assistant import Assistant, AssistantError
from app.feedback import FeedbackLog
from app.history import History
from app.ui.text import escape_markdown
from tests.app.fakes import ScriptedGenerator, quote_evidence

SCRIPT = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")
QUESTION = "What HbA1c target is recommended for adults with type 2 diabetes?"


def start() -> AppTest:
    at = AppTest.from_file(SCRIPT, default_timeout=180)
    at.run()
    assert not at.exception, at.exception
    return at


def ask(at: AppTest, question: str) -> AppTest:
    at.text_area(key="question").input(question)
    next(b for b in at.button if b.label == "Ask").click()
    at.run()
    assert not at.exception, at.exception
    return at


def markdown(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown]


@pytest.fixture
def scripted_local(monkeypatch):
    """The local generator replaced by a scripted demo model (the real one is tested elsewhere)."""
    _script_local(monkeypatch, demo=True)


@pytest.fixture
def scripted_clinical_local(monkeypatch):
    """The same, as a non-demo model (the demo model is never asked to rewrite follow-ups)."""
    _script_local(monkeypatch, demo=False)


def _script_local(monkeypatch, demo: bool) -> None:
    import app.assistant as assistant_module

    real = assistant_module.make_generator
    monkeypatch.setattr(
        assistant_module,
        "make_generator",
        lambda name, settings: ScriptedGenerator(local_script, demo=demo) if name == "local" else real(name, settings),
    )


MODEL_REWRITE = "What HbA1c target is recommended during pregnancy for women with type 2 diabetes?"


def local_script(request) -> str:  # type: ignore[no-untyped-def]
    """Quotes its first passage; asked to rewrite a follow-up, gives MODEL_REWRITE for "and in
    pregnancy?" and any other question unchanged."""
    from app.conversation import REWRITE_SYSTEM

    if request.messages and request.messages[0]["content"] == REWRITE_SYSTEM:
        return MODEL_REWRITE if request.question == "and in pregnancy?" else request.question
    return quote_evidence(request)


def test_ask_streams_a_cited_answer_with_graded_evidence_cards(app_data):
    at = ask(start(), QUESTION)
    texts = markdown(at)
    answer = texts[0]
    links = re.findall(r"\(#(evidence-e\d+)\)", answer)
    assert links  # each [En] links to its card ...
    for anchor in links:
        assert f'<div id="{anchor}"></div>' in texts  # ... and the card carries that anchor
    assert any(t.startswith("**E1** · ") for t in texts)
    assert any(re.fullmatch(r":\w+-badge\[Level [1-5]\]", t) for t in texts)
    assert any(t.startswith(":violet-badge[") for t in texts)  # source type
    assert any(t.startswith(":blue-badge[stated: ") or t == ":gray-badge[no stated grade]" for t in texts)
    assert [e.label for e in at.expander][:1] == ["Why this level"]
    assert any("Answer by: extractive digest" in c.value for c in at.caption)
    assert at.session_state["answer"].evidence


def test_off_topic_question_shows_insufficient_evidence(app_data):
    at = ask(start(), "Which football club won the 1998 cup final?")
    assert any("No relevant evidence" in i.value for i in at.info)
    assert "insufficient" in markdown(at)[0]
    assert not at.main.expander  # no evidence cards


def test_filters_restrict_the_cards(app_data):
    at = start()
    at.multiselect(key="source_types").set_value(["consensus_statement"])
    at = ask(at, QUESTION)
    answer = at.session_state["answer"]
    assert answer.evidence or answer.insufficient_evidence
    assert all(e.grade.source_type.value == "consensus_statement" for e in answer.evidence)
    at.multiselect(key="source_types").set_value([])
    at.selectbox(key="min_level").set_value(5)
    at.number_input(key="year_min").set_value(2030)
    at = ask(at, QUESTION)
    assert at.session_state["answer"].insufficient_evidence
    assert any("under the chosen filters" in t for t in markdown(at))


def test_demo_model_and_plain_mode_warnings(app_data, scripted_local):
    at = start()
    at.selectbox(key="generator").set_value("local")
    at.run()
    assert any("Demo model" in w.value for w in at.sidebar.warning)
    at = ask(at, QUESTION)
    assert any("not a clinical model" in w.value for w in at.warning)
    at.radio(key="mode").set_value("Plain (model's own answer, uncited)")
    at = ask(at, QUESTION)
    assert any("Plain mode" in w.value for w in at.warning)
    assert any(s.value == "Related evidence (not given to the model)" for s in at.subheader)


def test_library_lists_and_removes_documents(app_data):
    at = start()
    at.radio(key="page").set_value("Library")
    at.run()
    assert not at.exception
    before = len(Assistant().documents())
    assert at.metric[0].value == str(before)
    victim = at.selectbox(key="remove_id").value
    at.selectbox(key="remove_id").set_value(victim)
    next(b for b in at.button if b.label == "Remove").click()
    at.run()
    assert not at.exception
    ids = {d.document_id for d in Assistant().documents()}
    assert victim not in ids and len(ids) == before - 1
    assert at.metric[0].value == str(before - 1)


def test_first_start_indexes_and_document_text_stays_inert(tmp_path, monkeypatch):
    """An empty index is filled on first start (here from a tiny corpus); hostile text is escaped."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "hostile.md").write_text(
        "# Warfarin dosing guideline\n\n"
        "Warfarin dosing should target an INR of 2.0 to 3.0 for atrial fibrillation. "
        "<script>alert('x')</script> **bold claim** [click](http://evil.example) <img src=x onerror=alert(1)>\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("M1E_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(Assistant, "index_demo", lambda self, progress=None: self.index([corpus], progress=progress))
    at = start()
    assert not any("index is empty" in i.value for i in at.info)  # the banner goes once indexing is done
    assert any("Indexed 1 file(s); 0 unchanged; 0 failed" in s.value for s in at.success)
    at = ask(at, "What INR should warfarin dosing target in atrial fibrillation?")
    texts = markdown(at)
    shown = [t for t in texts if "Warfarin dosing should target" in t]
    assert len(shown) >= 2  # the answer quotes it and the evidence card shows it
    for text in shown:
        assert r"\<script\>" in text and r"\<img src\=x" in text
    raw_html = [t for t in texts if "<" in t.replace("\\<", "")]
    assert all(re.fullmatch(r'<div id="evidence-e\d+"></div>', t) for t in raw_html)


def test_packaged_entry_is_the_same_app(app_data, monkeypatch):
    """`m1e ui` from a non-editable install runs app/ui/entry.py; it must be the same UI."""
    from app.commands import ui

    entry = Path(ui.__file__).resolve().parents[1] / "ui" / "entry.py"
    at = AppTest.from_file(str(entry), default_timeout=180)
    at.run()
    assert not at.exception and at.title[0].value == "Ask the evidence"
    monkeypatch.setattr(Path, "is_file", lambda self: self.name != "streamlit_app.py" and Path.exists(self))
    assert ui.streamlit_script() == entry


def test_stop_button_during_generation_reports_the_stop(app_data):
    at = start()
    at.session_state["stop_generation"] = True  # what a click on Stop leaves for the next run
    at.run()
    assert any("Stopped" in i.value for i in at.info)
    at.run()
    assert not any("Stopped" in i.value for i in at.info)


def test_bad_settings_show_one_clear_error(app_data, monkeypatch):
    monkeypatch.setenv("M1E_TOP_K", "0")
    at = AppTest.from_file(SCRIPT, default_timeout=180)
    at.run()
    assert not at.exception
    shown = re.sub(r"\\(.)", r"\1", at.error[0].value)  # the error is escaped markdown (issue 13 item 12)
    assert len(at.error) == 1 and "top_k" in shown


def sidebar_history(at: AppTest) -> list:
    return [b for b in at.sidebar.button if str(b.key).startswith("history_")]


def test_follow_up_is_answered_as_a_standalone_question_and_kept_in_history(app_data):
    at = ask(start(), QUESTION)
    at = ask(at, "and in pregnancy?")
    standalone = "What HbA1c target is recommended for adults with type 2 diabetes, in pregnancy?"
    assert [c.value for c in at.caption].count("Answering: " + escape_markdown(standalone)) == 1
    assert any(e.label.startswith("Earlier in this conversation (1)") for e in at.expander)
    assert len(sidebar_history(at)) == 2
    entries = History(app_data).entries()
    assert [e.asked for e in entries] == ["and in pregnancy?", QUESTION]
    assert entries[0].question == standalone and entries[0].conversation_id == entries[1].conversation_id


def test_the_local_models_rewrite_of_a_follow_up_is_shown_and_answered(app_data, scripted_clinical_local):
    at = start()
    at.selectbox(key="generator").set_value("local")
    at.run()
    at = ask(ask(at, QUESTION), "and in pregnancy?")
    assert [c.value for c in at.caption].count("Answering: " + escape_markdown(MODEL_REWRITE)) == 1
    entries = History(app_data).entries()
    assert entries[0].asked == "and in pregnancy?" and entries[0].question == MODEL_REWRITE


def test_history_reopens_after_a_restart_and_flags_a_removed_source(app_data):
    at = ask(start(), QUESTION)
    first_card = next(t for t in markdown(at) if t.startswith("**E1** · "))
    answer = History(app_data).entries()[0].answer
    Assistant().remove(answer.evidence[0].document_id)
    at = start()  # a reload: a new session, nothing in memory
    buttons = sidebar_history(at)
    assert len(buttons) == 1
    buttons[0].click()
    at.run()
    assert not at.exception
    assert first_card in markdown(at)  # the evidence exactly as it was
    assert any("removed from the index since the answer was written" in w.value for w in at.warning)


def test_feedback_from_the_page_is_stored_with_the_answer(app_data):
    at = ask(start(), QUESTION)
    at.radio(key="feedback_verdict").set_value("wrong_citation")
    at.selectbox(key="feedback_about").set_value("E1")
    at.text_area(key="feedback_comment").input("the table is from another guideline")
    next(b for b in at.button if b.label == "Send feedback").click()
    at.run()
    assert not at.exception
    [record] = FeedbackLog(app_data).records()
    assert record.verdict == "wrong_citation" and record.evidence_id == "E1" and record.question == QUESTION
    assert record.history_id == History(app_data).entries()[0].entry_id


def test_plain_mode_is_disabled_for_the_extractive_digest_and_years_use_screen_labels(app_data):
    at = start()
    assert at.radio(key="mode").disabled
    at.number_input(key="year_min").set_value(2020)
    at.number_input(key="year_max").set_value(2010)
    at = ask(at, QUESTION)
    assert any("“From year” (2020) is after “To year” (2010)" in e.value for e in at.error)
    assert not any("year_min" in e.value for e in at.error)


def test_stop_keeps_the_partial_text(app_data):
    at = start()
    at.session_state["partial"] = {"question": QUESTION, "text": "Metformin is recommended [E1]"}
    at.session_state["stop_generation"] = True
    at.run()
    assert any("Stopped" in i.value for i in at.info)
    assert any("Metformin is recommended" in t for t in markdown(at))


def test_passages_keep_their_bullets_and_tables_escaped():
    from app.ui.text import passage_markdown

    shown = passage_markdown("Dosing:\n- Apixaban 5 mg <b>BID</b>\n| Drug | Dose |\n|---|---|\n| Rivaroxaban | 20 mg [x](y) |")
    assert "\n- Apixaban 5 mg \\<b\\>BID\\</b\\>" in shown
    assert "| Drug | Dose |\n|---|---|\n| Rivaroxaban | 20 mg \\[x\\]\\(y\\) |" in shown


def test_a_cited_guideline_section_is_shown_whole_with_the_quote_marked(app_data):
    """The card's "Show the quoted words in this section" reads the section file again through
    Assistant.source_text and marks the cited sentence in it."""
    at = ask(start(), QUESTION)
    answer = at.session_state["answer"]
    cited = {c.evidence_id for c in answer.citations}
    item = next(e for e in answer.evidence if e.evidence_id in cited and not e.path.lower().endswith(".pdf"))
    at.toggle(key=f"marked_{item.chunk_id}").set_value(True)
    at.run()
    assert not at.exception, at.exception
    marked = [m.value for m in at.markdown if "<mark>" in m.value]
    assert marked and len(marked[0]) > len(item.text)  # the whole section, not just the passage
    assert any(c.value.startswith("the whole section") for c in at.caption)


def test_a_card_with_a_stated_grade_marks_the_quoted_sentence_not_the_grade(app_data):
    """The card's stated-grade badge must not replace the quotes it marks (a name once shadowed
    the other: the section view then marked the grade's letters instead of the cited sentence)."""
    import html
    import re

    from app.ui.highlight import cited_quotes

    at = ask(start(), QUESTION)
    answer = at.session_state["answer"]
    cited = {c.evidence_id for c in answer.citations}
    item = next(e for e in answer.evidence
                if e.evidence_id in cited and e.stated_grades and not e.path.lower().endswith(".pdf"))
    at.toggle(key=f"marked_{item.chunk_id}").set_value(True)
    at.run()
    assert not at.exception, at.exception
    [shown] = [m.value for m in at.markdown if "<mark>" in m.value]
    def words(text: str) -> str:  # the section keeps its markdown emphasis; the quote does not
        return " ".join(re.sub(r"[*_`]", "", text).split())

    marks = [words(html.unescape(m)) for m in re.findall(r"<mark>(.*?)</mark>", shown, re.S)]
    quotes = [words(q) for q in cited_quotes(answer.text, item.evidence_id)]
    assert quotes and all(len(m) >= 20 for m in marks), marks
    assert any(q[:40] in m or m[:40] in q for q in quotes for m in marks), (quotes, marks)


PDF_QUESTION = "How much does lowering LDL cholesterol with statins reduce major vascular events?"


def test_a_cited_pdf_page_offers_the_whole_pdf_at_that_page_only_while_unchanged(app_data, monkeypatch):
    """The card's "Show page N of the PDF" takes the PDF's bytes from Assistant.source_pdf: the
    page preview, a link onto those bytes at `#page=N` and their download; when Assistant refuses
    (the file changed since it was indexed), the card shows why and offers no PDF at all."""
    import base64

    at = ask(start(), PDF_QUESTION)
    answer = at.session_state["answer"]
    item = next(e for e in answer.evidence if e.path.lower().endswith(".pdf"))
    at.toggle(key=f"preview_{item.chunk_id}").set_value(True)
    at.run()
    assert not at.exception, at.exception
    (frame,) = at.get("iframe")
    srcdoc = frame.proto.srcdoc
    assert f'data-page="{item.page_start}"' in srcdoc and "#page=" in srcdoc
    assert base64.b64encode(Path(item.path).read_bytes()).decode() in srcdoc
    assert frame.proto.alt == f"Open the PDF at page {item.page_start}"
    assert [b.label for b in at.get("download_button") if b.label == "Download the whole PDF"]

    def changed(self, evidence):  # type: ignore[no-untyped-def]
        raise AssistantError(f"{evidence.path}: the file has changed since it was indexed")

    monkeypatch.setattr(Assistant, "source_pdf", changed)
    at.run()
    assert not at.exception, at.exception
    assert not at.get("iframe")
    assert not [b for b in at.get("download_button") if b.label == "Download the whole PDF"]
    assert any("has changed since it was indexed" in c.value for c in at.caption)
