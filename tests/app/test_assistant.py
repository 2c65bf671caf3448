"""The Assistant's ask/stream pipeline: evidence in, checked and warned answer out.

The store and the language model are stand-ins (tests/app/fakes.py); retrieval, prompt
composition, conflict detection, citation checking and the extractive digest are the real ones.
"""

from __future__ import annotations

import re
import threading

import pytest

from app import Answer, Assistant, AssistantError, AssistantInfo, SearchFilters, SourceType
from app.assistant import EMPTY_INDEX_TEXT
from indexing.labels import EvidenceLevel
from tests.app.fakes import ScriptedGenerator, quote_evidence

QUESTION = "What is the first-line drug therapy for type 2 diabetes?"


def with_generator(assistant: Assistant, gen: ScriptedGenerator) -> ScriptedGenerator:
    assistant._generators["local"] = gen
    return gen


def codes(answer: Answer) -> list[str]:
    return [w.code for w in answer.warnings]


def test_extractive_answer_cites_its_own_graded_evidence(assistant):
    answer = assistant.ask(QUESTION, generator="extractive")
    assert answer.generator == "extractive" and not answer.insufficient_evidence
    assert "Metformin" in answer.text
    ids = [e.evidence_id for e in answer.evidence]
    assert ids == [f"E{i}" for i in range(1, len(ids) + 1)]
    assert answer.citations and all(c.evidence_id in ids and c.known for c in answer.citations)
    assert answer.evidence[0].grade.level == EvidenceLevel.SYSTEMATIC  # strongest first
    assert "demo_model" not in codes(answer)
    assert {"retrieval", "generation", "checks", "total"} <= set(answer.timings)


def test_supported_model_answer_has_no_citation_warnings(assistant):
    gen = with_generator(assistant, ScriptedGenerator(quote_evidence))
    answer = assistant.ask(QUESTION, generator="local")
    assert answer.citations and all(c.known and c.supported for c in answer.citations)
    assert not {"unknown_citations", "unsupported_claims", "uncited_claims"} & set(codes(answer))
    # the model saw the evidence blocks, labelled as the answer's evidence
    prompt = gen.requests[0].messages[-1]["content"]
    assert "[E1]" in prompt and answer.evidence[0].text.split(".")[0] in prompt


def test_demo_model_is_labelled(assistant):
    with_generator(assistant, ScriptedGenerator(quote_evidence, demo=True))
    answer = assistant.ask(QUESTION, generator="local")
    assert answer.warnings[0].code == "demo_model"
    assert "not a clinical model" in answer.warnings[0].message and "demo model" in answer.model_label


def test_unknown_and_uncited_claims_are_flagged(assistant):
    script = lambda r: "Metformin is first line [E9]. Insulin should always be started at diagnosis."  # noqa: E731
    with_generator(assistant, ScriptedGenerator(script, demo=False))
    answer = assistant.ask(QUESTION, generator="local")
    assert "unknown_citations" in codes(answer) and "E9" in answer.checks.unknown_ids
    assert "uncited_claims" in codes(answer)
    assert [c.known for c in answer.citations if c.evidence_id == "E9"] == [False]


def test_unsupported_citation_is_flagged(assistant):
    script = lambda r: "Aspirin cures asthma in every child within one day [E1]."  # noqa: E731
    with_generator(assistant, ScriptedGenerator(script, demo=False))
    answer = assistant.ask(QUESTION, generator="local")
    assert "unsupported_claims" in codes(answer)
    assert answer.citations and not answer.citations[0].supported


def test_nothing_relevant_means_no_generator_call(assistant):
    gen = with_generator(assistant, ScriptedGenerator(quote_evidence))
    answer = assistant.ask("Which football club won the 1998 cup final?", generator="local")
    assert gen.requests == []
    assert answer.insufficient_evidence and answer.evidence == [] and answer.citations == []
    assert "insufficient" in answer.text.lower()
    assert codes(answer) == ["insufficient_evidence"]


def test_empty_index_says_so(tmp_path):
    answer = Assistant(data_dir=tmp_path / "empty").ask(QUESTION)
    assert answer.insufficient_evidence and answer.text == EMPTY_INDEX_TEXT


def test_filters_reach_retrieval(assistant):
    only_rct = SearchFilters(source_types=[SourceType.RCT])
    assert {e.grade.source_type for e in assistant.search("blood pressure target", filters=only_rct)} == {SourceType.RCT}
    strong = SearchFilters(min_level=EvidenceLevel.RANDOMISED)
    found = assistant.search("controller therapy for persistent asthma in children", filters=strong)
    assert all(int(e.grade.level) <= 2 for e in found)
    answer = assistant.ask("controller therapy for persistent asthma in children", filters=strong)
    assert answer.insufficient_evidence and "filters" in answer.text


def test_conflicting_recommendations_are_flagged(assistant):
    store = assistant._store
    sentence = "Daily aspirin is {}recommended for primary prevention of cardiovascular disease in adults aged 40 to 70 years."
    store.add_document("d" * 64, "Older aspirin guideline", SourceType.GUIDELINE, EvidenceLevel.SYSTEMATIC, 2009, [sentence.format("")])
    store.add_document("e" * 64, "Newer aspirin guideline", SourceType.GUIDELINE, EvidenceLevel.SYSTEMATIC, 2022, [sentence.format("not ")])
    answer = assistant.ask("Is daily aspirin recommended for primary prevention of cardiovascular disease?")
    assert answer.conflicts and "aspirin" in answer.conflicts[0].topic
    ids = {e.evidence_id for e in answer.evidence}
    assert set(answer.conflicts[0].for_ids + answer.conflicts[0].against_ids) <= ids
    assert "conflicting_evidence" in codes(answer)


def test_plain_mode_gives_no_evidence_to_the_model(assistant):
    gen = with_generator(assistant, ScriptedGenerator(lambda r: "Metformin, usually.", demo=False))
    answer = assistant.ask(QUESTION, mode="plain", generator="local")
    assert "<<<EVIDENCE" not in gen.requests[0].messages[-1]["content"]
    assert answer.mode == "plain" and answer.citations == [] and answer.checks is None
    assert codes(answer).count("plain_mode") == 1


def test_plain_mode_needs_a_language_model(assistant):
    with pytest.raises(AssistantError, match="plain mode needs a language model"):
        assistant.ask(QUESTION, mode="plain", generator="extractive")


def test_stream_yields_text_then_the_answer(assistant):
    with_generator(assistant, ScriptedGenerator(quote_evidence))
    items = list(assistant.stream(QUESTION, generator="local"))
    assert all(isinstance(i, str) for i in items[:-1]) and isinstance(items[-1], Answer)
    assert len(items) > 3
    assert "".join(items[:-1]).strip() == items[-1].text


def test_cancel_stops_generation_and_warns(assistant):
    cancel = threading.Event()
    long_answer = lambda r: " ".join(["word"] * 100)  # noqa: E731
    gen = ScriptedGenerator(long_answer, on_piece=lambda i: cancel.set() if i == 5 else None)
    with_generator(assistant, gen)
    answer = assistant.ask(QUESTION, generator="local", cancel=cancel)
    assert "generation_cancelled" in codes(answer)
    assert len(answer.text.split()) <= 6


def test_small_context_truncates_and_warns(assistant):
    question = "metformin HbA1c target type 2 diabetes"
    assert len(assistant.search(question)) == 2
    gen = with_generator(assistant, ScriptedGenerator(quote_evidence, context=assistant.settings.max_new_tokens + 540))
    answer = assistant.ask(question, generator="local")
    assert "context_truncated" in codes(answer)
    assert len(answer.evidence) == 1 and gen.requests[0].evidence == answer.evidence


def test_context_too_small_for_any_evidence_means_no_generator_call(assistant):
    gen = with_generator(assistant, ScriptedGenerator(quote_evidence, context=assistant.settings.max_new_tokens + 400))
    answer = assistant.ask(QUESTION, generator="local")
    assert gen.requests == []
    assert answer.insufficient_evidence and "context" in answer.text
    assert "context_truncated" in codes(answer)


def test_answer_round_trips_through_json(assistant):
    answer = assistant.ask(QUESTION)
    again = Answer.model_validate_json(answer.model_dump_json())
    assert again == answer
    assert again.evidence[0].grade.source_type == answer.evidence[0].grade.source_type


def test_bad_requests_name_the_problem(assistant):
    with pytest.raises(AssistantError, match="empty"):
        assistant.ask("   ")
    with pytest.raises(AssistantError, match="limit is 2000"):
        assistant.ask("x" * 2001)
    with pytest.raises(AssistantError, match="unknown mode"):
        assistant.ask(QUESTION, mode="creative")
    with pytest.raises(AssistantError, match="unknown generator"):
        assistant.ask(QUESTION, generator="gpt")


def test_documents_and_remove_by_prefix(assistant):
    assert len(assistant.documents()) == 3
    record = assistant.remove("bbbbbbbb")
    assert record.title == "Hypertension trial"
    assert {d.document_id[0] for d in assistant.documents()} == {"a", "c"}
    with pytest.raises(AssistantError, match="no indexed document"):
        assistant.remove("bbbbbbbb")
    assert all(e.document_id != "b" * 64 for e in assistant.search("systolic blood pressure target"))


def test_info_reports_index_and_generator(assistant):
    info = assistant.info()
    assert info.index.documents == 3 and info.index.by_level == {1: 1, 2: 1, 5: 1}
    assert info.generator.name == "extractive" and not info.demo_model
    assert AssistantInfo.model_validate_json(info.model_dump_json()) == info
    server = Assistant(data_dir=assistant.settings.data_dir, generator="openai", server_url="http://10.0.0.5:8000/v1").info()
    assert server.generator.detail == "http://10.0.0.5:8000/v1/chat/completions" and "Baichuan-M1-14B" in server.generator.label
    local = Assistant(data_dir=assistant.settings.data_dir, generator="local").info()
    assert local.demo_model and "demo model" in local.generator.label and not local.generator.loaded


def test_one_passage_has_one_id_in_search_prompt_answer_and_digest(assistant):
    """Evidence is numbered once (the retrieve stage): search, the prompt, the answer and the
    digest all call the same passage by the same [En]."""
    question = "metformin HbA1c target type 2 diabetes"
    searched = {e.chunk_id: e.evidence_id for e in assistant.search(question)}
    assert len(searched) >= 2
    gen = with_generator(assistant, ScriptedGenerator(lambda r: quote_evidence(r, "E2"), demo=False))
    answer = assistant.ask(question, generator="local")
    assert {e.chunk_id: e.evidence_id for e in answer.evidence} == searched
    prompt = gen.requests[0].messages[-1]["content"]
    for chunk_id, eid in searched.items():
        first_words = assistant._store.chunk_map[chunk_id].text.split(".")[0]
        assert prompt.index(f"<<<EVIDENCE {eid}>>>") < prompt.index(first_words) < prompt.index(f"<<<END {eid}>>>")
    assert [c.evidence_id for c in answer.citations] == ["E2"] and answer.citations[0].supported
    digest = assistant.ask(question, generator="extractive")
    assert {e.chunk_id: e.evidence_id for e in digest.evidence} == searched
    for line in digest.text.splitlines():
        for eid in re.findall(r"\[(E\d+)\]", line):
            chunk_id = next(c for c, i in searched.items() if i == eid)
            quoted = line[2: line.index("[")].strip()
            assert quoted in assistant._store.chunk_map[chunk_id].text


def test_the_digest_streams_like_any_generator(assistant):
    items = list(assistant.stream(QUESTION, generator="extractive"))
    assert len(items) > 3 and all(isinstance(i, str) for i in items[:-1])
    assert "".join(items[:-1]).strip() == items[-1].text and "[E1]" in items[-1].text


def indexed_pdf(assistant: Assistant, tmp_path):  # type: ignore[no-untyped-def]
    """A two-page PDF on disk, recorded in the in-memory index under its bytes' sha256 (as the
    reader ids it), and a citation of its page 2."""
    import hashlib

    from evidence.schema import Evidence
    from tests.app.fakes import Record
    from tests.indexing.pdf_factory import lines_pdf

    pdf = lines_pdf(tmp_path / "guideline.pdf", [["Cover page."], ["Give fluids early in septic shock."]])
    document_id = hashlib.sha256(pdf.read_bytes()).hexdigest()
    record = Record(document_id, "Sepsis guideline", str(pdf), None, 2024, 1)
    record.format = "pdf"
    assistant._store.records[document_id] = record
    cite = Evidence(chunk_id="p:0", evidence_id="E1", document_id=document_id, text="Give fluids early in septic shock.",
                    page_start=2, page_end=2, title="Sepsis guideline", path=str(pdf))
    return pdf, cite


def test_the_cited_pdf_is_given_only_while_it_is_the_indexed_content(assistant, tmp_path):
    """Assistant.source_pdf, behind the card's "Open the PDF at page N": the file's bytes while
    they are the indexed content; a changed, removed, never-indexed or non-PDF source is refused
    with its reason (the link then offers nothing rather than another document)."""
    pdf, cite = indexed_pdf(assistant, tmp_path)
    original = pdf.read_bytes()
    assert assistant.source_pdf(cite) == original and original.startswith(b"%PDF-")

    from tests.indexing.pdf_factory import lines_pdf

    other = lines_pdf(tmp_path / "other.pdf", [["Cover page."], ["Withhold fluids in septic shock."]])
    with pytest.raises(AssistantError, match="has changed since it was indexed"):
        assistant.source_pdf(cite.model_copy(update={"path": str(other)}))  # another file under the cited id
    with pytest.raises(AssistantError, match="no longer in the index"):
        assistant.source_pdf(cite.model_copy(update={"document_id": "f" * 64}))
    with pytest.raises(AssistantError, match="not a PDF"):
        assistant.source_pdf(cite.model_copy(update={"document_id": "a" * 64}))  # the markdown guideline
    with pytest.raises(AssistantError, match="no source file"):
        assistant.source_pdf(cite.model_copy(update={"path": ""}))

    pdf.write_bytes(original + b"\n% appended")
    with pytest.raises(AssistantError, match=r"guideline\.pdf: the file has changed since it was indexed"):
        assistant.source_pdf(cite)
    pdf.unlink()
    with pytest.raises(AssistantError, match=r"guideline\.pdf: file not found"):
        assistant.source_pdf(cite)
