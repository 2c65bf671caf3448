"""The clinician's workspace: history that keeps its citations, export, follow-ups, feedback.

The store is the in-memory stand-in (tests/app/fakes.py); retrieval, the extractive digest and
citation checks are the real ones.
"""

from __future__ import annotations

import io
import json

import pytest

from app import AnswerWarning
from app.conversation import Conversation, is_follow_up, standalone_question
from app.export import answer_to_pdf
from app.feedback import FeedbackError, FeedbackLog
from app.history import History, HistoryError, source_states
from evidence.export import location_label
from indexing.labels import EvidenceLevel, SourceType

QUESTION = "What is the first-line drug therapy for type 2 diabetes?"


def test_history_reopens_an_answer_exactly_and_flags_removed_and_changed_sources(assistant, tmp_path):
    answer = assistant.ask(QUESTION, generator="extractive")
    history = History(tmp_path / "data")
    entry_id = history.add(answer, asked="first-line?", conversation_id="c1", index_generation=7)
    # a new History object on the same folder (a restart) reads the same answer back
    again = History(tmp_path / "data").get(entry_id)
    assert again.answer == answer and again.asked == "first-line?" and again.index_generation == 7
    assert all(s.status == "current" for s in source_states(again.answer, assistant.documents()).values())

    cited = answer.evidence[0]
    store = assistant._store
    store.remove_document(cited.document_id)
    states = source_states(again.answer, assistant.documents())
    assert states[cited.evidence_id].status == "removed" and "removed" in states[cited.evidence_id].message
    # the same file indexed again with other content: a new content hash at the old path
    store.add_document("d" * 64, cited.title, SourceType.GUIDELINE, EvidenceLevel.SYSTEMATIC, 2024, ["Changed text."])
    store.records["d" * 64].path = cited.path
    states = source_states(again.answer, assistant.documents())
    assert states[cited.evidence_id].status == "changed" and "changed since" in states[cited.evidence_id].message
    assert again.answer.evidence[0].text == cited.text  # the passage shown is the one cited then


def test_history_lists_newest_first_and_deletes_one_or_all(assistant, tmp_path):
    history = History(tmp_path / "data")
    first = history.add(assistant.ask(QUESTION, generator="extractive"))
    second = history.add(assistant.ask("HbA1c target for adults with type 2 diabetes?", generator="extractive"))
    assert [e.entry_id for e in history.entries()] == [second, first]
    history.delete(first)
    assert [e.entry_id for e in history.entries()] == [second]
    with pytest.raises(HistoryError, match=str(first)):
        history.get(first)
    assert history.clear() == 1 and history.entries() == []


def test_markdown_export_has_answer_evidence_table_and_warnings(assistant):
    answer = assistant.ask(QUESTION, generator="extractive")
    answer.evidence[0].doi = "10.1000/xyz"
    answer.evidence[0].title = "Evil <script>alert(1)</script> | title"
    md = answer.to_markdown()
    assert md.startswith("# What is the first") and "Metformin" in md
    assert "| ID | Source type | Level | Stated grade | Year | Location | Title | DOI |" in md
    row = next(line for line in md.splitlines() if line.startswith("| E1 |"))
    assert "guideline" in row and "10.1000/xyz" in row and "2022" in row and "strong recommendation" in row
    assert "<script>" not in md and "\\<script\\>" in md and "\\| title" in md  # inert, table intact
    answer.warnings.append(AnswerWarning(code="other", message="Check this."))
    assert "## Warnings" in answer.to_markdown() and "- Check this." in answer.to_markdown()


def test_pdf_export_is_a_readable_pdf_with_the_evidence(assistant):
    import pypdfium2

    answer = assistant.ask(QUESTION, generator="extractive")
    data = answer_to_pdf(answer)
    assert data.startswith(b"%PDF-")
    pdf = pypdfium2.PdfDocument(data)
    text = "".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    assert "Metformin" in text and "Evidence" in text and answer.evidence[0].evidence_id in text


def test_location_labels_say_pages_only_for_pdfs(assistant):
    e = assistant.search(QUESTION)[0]
    assert location_label(e.model_copy(update={"path": "/x/guideline.pdf", "page_start": 12, "page_end": 12})) == "p. 12"
    assert location_label(e.model_copy(update={"path": "/x/guideline.pdf", "page_start": 3, "page_end": 4})) == "pp. 3-4"
    folder = e.model_copy(update={"path": "/site/content/ada-2024", "page_start": 2, "page_end": 2})
    assert location_label(folder, 4) == "section 2 of 4"
    assert location_label(e.model_copy(update={"path": "/x/note.md", "page_start": 1, "page_end": 1})) == "whole file"


@pytest.mark.parametrize(
    "follow_up, expected",
    [
        ("and in pregnancy?", "What is the first-line drug therapy for type 2 diabetes, in pregnancy?"),
        ("what dose?", "What dose (first-line drug therapy type 2 diabetes)?"),
        ("Is metformin safe in chronic kidney disease?", "Is metformin safe in chronic kidney disease?"),
    ],
)
def test_follow_ups_become_standalone_questions(follow_up, expected):
    assert standalone_question(follow_up, QUESTION) == expected


def test_chinese_follow_up_and_new_topic():
    assert is_follow_up("孕妇呢？")
    assert standalone_question("孕妇呢？", "2型糖尿病的一线药物是什么？") == "2型糖尿病的一线药物是什么，孕妇？"
    assert standalone_question("高血压患者的血压目标是多少？", "2型糖尿病的一线药物是什么？") == "高血压患者的血压目标是多少？"


def test_conversation_answers_a_follow_up_with_fresh_retrieval(assistant):
    conversation = Conversation()
    first = conversation.ask(assistant, QUESTION, generator="extractive")
    assert first.question == QUESTION
    second = conversation.ask(assistant, "what about the HbA1c target?", generator="extractive")
    assert second.question.startswith(QUESTION.rstrip("?")) and "HbA1c target" in second.question
    assert "HbA1c" in second.text  # retrieval ran again on the standalone question
    assert [t.asked for t in conversation.turns] == [QUESTION, "what about the HbA1c target?"]


def test_feedback_per_answer_and_citation_exports_json_lines(assistant, tmp_path):
    answer = assistant.ask(QUESTION, generator="extractive")
    log = FeedbackLog(tmp_path / "data")
    log.add(answer, "helpful", index_generation=3)
    log.add(answer, "wrong_citation", evidence_id=answer.evidence[0].evidence_id, comment="cites the wrong table")
    with pytest.raises(FeedbackError, match="E99"):
        log.add(answer, "outdated", evidence_id="E99")
    with pytest.raises(FeedbackError, match="verdict"):
        log.add(answer, "great")
    out = io.StringIO()
    assert log.export_jsonl(out) == 2
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert rows[0]["verdict"] == "helpful" and rows[0]["index_generation"] == 3 and rows[0]["question"] == QUESTION
    assert rows[1]["evidence_id"] == "E1" and rows[1]["comment"] == "cites the wrong table"
    assert rows[1]["answer"]["text"] == answer.text
