"""The answer answers the question asked (issue 9 item 3), on the demo corpus through `Assistant`.

Numbers on tests/evidence/data/answering.jsonl (48 answerable questions with the guideline and
sentence that answer them, 24 related-but-unanswerable ones; `python -m
tests.evidence.answering_eval INDEX_DIR`), before -> after this work: answered 1.00 -> 1.00;
unanswerable declined ("does not address") 0.04 -> 0.62, declined or warned "only partly
addresses" 0.04 -> 0.83; answer-sentence recall 0.75 -> 0.83; quoted-sentence precision 0.82 ->
0.90; a gold guideline as E1 0.75 -> 0.94. The slow test below holds those as floors.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.assistant import Assistant


@pytest.fixture(scope="module")
def assistant(demo_index_dir, tmp_path_factory):
    return Assistant(data_dir=tmp_path_factory.mktemp("answering"), index_dir=demo_index_dir, generator="extractive")


def bullets(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("- ")]


def key(evidence) -> str:
    return Path(evidence.path).name


def test_af_question_quotes_the_af_guideline_doac_recommendation_first(assistant):
    answer = assistant.ask("Which anticoagulant is preferred for stroke prevention in atrial fibrillation?")
    assert key(answer.evidence[0]) == "acc_aha_af_2023"
    first = bullets(answer.text)[0]
    assert "recommended over warfarin in DOAC-eligible patients with AF" in first
    assert answer.evidence[0].scores.subject > 0.8
    off = [e for e in answer.evidence if not e.scores.on_subject]
    assert all(answer.evidence.index(e) > 0 for e in off)


def test_outpatient_pneumonia_question_quotes_the_regimen_list_whole(assistant):
    answer = assistant.ask("first-line treatment for community-acquired pneumonia in outpatients")
    lines = bullets(answer.text)
    at = next(i for i, line in enumerate(lines) if line.startswith("- Amoxicillin 1 g orally three times daily; OR"))
    assert lines[at + 1].startswith("- Doxycycline 100 mg orally twice daily; OR")
    assert lines[at + 2].startswith("- Azithromycin 500 mg on day 1")
    for i, line in enumerate(lines):  # a regimen list never ends at an inner "OR"
        if re.search(r"\bOR \[E\d+\]", line):
            assert i + 1 < len(lines) and re.findall(r"\[E\d+\]", lines[i + 1]) == re.findall(r"\[E\d+\]", line)


@pytest.mark.parametrize("question", ["aspirin for primary prevention over 60", "when to start statins after ischaemic stroke"])
def test_related_evidence_that_does_not_answer_is_not_quoted(assistant, question):
    answer = assistant.ask(question)
    assert answer.insufficient_evidence and answer.text.startswith("The indexed evidence does not address")
    assert bullets(answer.text) == [] and answer.evidence  # the related passages are listed, not quoted
    assert [w.code for w in answer.warnings] == ["not_addressed"]


def test_chinese_hba1c_question_ranks_the_target_first_with_its_full_width_grade(assistant):
    answer = assistant.ask("2型糖尿病患者的HbA1c控制目标是多少？")
    top = answer.evidence[0]
    assert key(top) == "zh-t2dm-2020.pdf" and "<7%（A）" in top.text
    assert any(g.certainty == "A" and "<7%" in (g.recommendation or "") for g in top.stated_grades)
    assert "<7%（A）" in bullets(answer.text)[0]


def test_level_one_evidence_is_in_order_of_relevance(assistant):
    evidence = assistant.search("When should the apixaban dose be reduced?")
    for level in {int(e.grade.level) for e in evidence}:
        same = [e for e in evidence if int(e.grade.level) == level and e.scores.on_subject]
        assert [e.scores.relevance for e in same] == sorted((e.scores.relevance for e in same), reverse=True)


@pytest.mark.slow
def test_question_lists_hold_their_measured_floors(assistant):
    from tests.evidence.answering_eval import evaluate, load

    report = evaluate(assistant, load())
    assert report.answerable >= 40 and report.unanswerable >= 20
    assert report.answered >= 0.95 and report.gold_first >= 0.9
    assert report.sentence_recall >= 0.78 and report.sentence_precision >= 0.85
    assert report.declined >= 0.55 and report.warned >= 0.75, report.failures
