"""Integrity of the gold question set in bench/data/questions/questions.jsonl, and of the helpers
bench/retrieval_quality.py scores it with. No quality threshold here: only that the data says what
it claims (every gold passage and sentence is printed verbatim in its document, ids are unique, the
split is the deterministic one and its halves are disjoint and balanced) and that the metric
helpers compare text the way the README defines.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections import Counter
from pathlib import Path

import pytest

from evidence.schema import Answer, AnswerWarning

ROOT = Path(__file__).resolve().parents[2]


def load_bench():
    if "retrieval_quality" in sys.modules:
        return sys.modules["retrieval_quality"]
    spec = importlib.util.spec_from_file_location("retrieval_quality", ROOT / "bench" / "retrieval_quality.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["retrieval_quality"] = module  # pydantic resolves the records' annotations through it
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return load_bench()


@pytest.fixture(scope="module")
def questions(bench):
    return bench.load_gold()


@pytest.fixture(scope="module")
def corpus():
    """Document key -> the demo corpus document as the indexer reads it (no index, no model)."""
    from indexing.readers.demo import demo_documents

    return {Path(d.path).name: d for d in demo_documents()}


def test_the_set_is_big_enough_and_holds_the_issue_examples(questions):
    answerable = [q for q in questions if q.answerable]
    unanswerable = [q for q in questions if not q.answerable]
    assert len(answerable) >= 80 and len(unanswerable) >= 30
    assert len({q.id for q in questions}) == len(questions)
    assert sum(q.lang == "zh" for q in answerable) >= 10 and sum(q.lang == "zh" for q in unanswerable) >= 5
    by_text = {q.question: q for q in questions}
    af = by_text["Which anticoagulant is preferred for stroke prevention in atrial fibrillation?"]
    assert af.answerable and af.document == "acc_aha_af_2023" and any("recommended over warfarin" in s for s in af.gold_sentences)
    cap = by_text["first-line treatment for community-acquired pneumonia in outpatients"]
    assert cap.answerable and "Doxycycline 100 mg orally twice daily" in cap.gold_passage
    assert not by_text["Should adults over 60 take aspirin for primary prevention of cardiovascular disease?"].answerable
    assert not by_text["When should statins be started after an ischaemic stroke?"].answerable
    hba1c = [q for q in answerable if q.lang == "zh" and "HbA1c" in (q.gold_passage or "") and q.type == "target"]
    assert hba1c and "<7%（A）" in hba1c[0].gold_passage


def test_every_gold_passage_sentence_and_alternative_is_printed_verbatim_in_its_document(bench, questions, corpus):
    """Compared after `normalise` (markdown emphasis, list markers and line breaks dropped), the
    comparison the bench itself uses; an invented or paraphrased gold text fails here."""
    for q in (q for q in questions if q.answerable):
        assert q.document in corpus, (q.id, q.document)
        doc = corpus[q.document]
        assert q.title == doc.title, q.id
        assert q.written_here == (doc.format != "markdown"), q.id
        text = bench.normalise("\n".join(p.text for p in doc.pages))
        assert bench.normalise(q.gold_passage) in text, (q.id, q.gold_passage[:80])
        for sentence in q.gold_sentences:
            assert bench.normalise(sentence) in text, (q.id, sentence[:80])
        for alternative in q.alternatives:
            assert alternative.document in corpus, (q.id, alternative.document)
            elsewhere = bench.normalise("\n".join(p.text for p in corpus[alternative.document].pages))
            assert bench.normalise(alternative.passage) in elsewhere, (q.id, alternative.passage[:80])


def test_open_medicine_gold_passages_lie_in_the_named_section(bench, questions, corpus):
    from indexing.readers.demo import open_medicine_dir

    registry = {e["id"]: e["sections"] for e in json.loads((open_medicine_dir() / "registry.json").read_text(encoding="utf-8"))}
    for q in (q for q in questions if q.answerable and not q.written_here):
        page = registry[q.document].index(q.section) + 1  # a section file is a "page" (indexing/readers/demo.py)
        assert bench.normalise(q.gold_passage) in bench.normalise(corpus[q.document].pages[page - 1].text), q.id


def test_questions_are_reworded_not_copied_from_the_passage(questions):
    """A question that repeats six words of its passage in a row tests copy-matching, not retrieval."""
    def words(text: str) -> list[str]:
        return re.findall(r"[a-z0-9]+", text.lower())

    for q in (q for q in questions if q.answerable and q.lang == "en"):
        asked, passage = words(q.question), " ".join(words(q.gold_passage))
        runs = [" ".join(asked[i : i + 6]) for i in range(len(asked) - 5)]
        assert not any(f" {run} " in f" {passage} " for run in runs), q.id


def test_split_is_disjoint_and_the_heldback_half_is_unseen(bench, questions):
    """The first split (`assign_splits`, stratified) was scored once on its held-back half; those
    questions then moved to tuning, marked `was_heldback_session4`, and each later held-back batch,
    once scored, moved to tuning too (`was_heldback_session5` .. `was_heldback_session8`); the batch
    held back now was written in session 9 (README). So: the halves are disjoint, no question that
    was ever scored is held back, and the held-back half is big enough, covers the question types,
    both languages, every kind of unanswerable question and many guidelines, and quotes no statement
    a tuning question quotes."""
    assert {q.split for q in questions} == {"tuning", "heldback"}
    rule = bench.assign_splits(questions)
    assert set(rule) == {q.id for q in questions} and set(rule.values()) == {"tuning", "heldback"}
    tuning = {q.id for q in questions if q.split == "tuning"}
    heldback = [q for q in questions if q.split == "heldback"]
    assert not tuning & {q.id for q in heldback} and len(tuning) + len(heldback) == len(questions)
    scored = [q for q in questions if q.was_heldback_session4 or q.was_heldback_session5
              or q.was_heldback_session6 or q.was_heldback_session7 or q.was_heldback_session8]
    assert all(q.split == "tuning" for q in scored)
    assert sum(q.was_heldback_session4 for q in questions) >= 70
    assert sum(q.was_heldback_session5 for q in questions) >= 50  # the session-5 batch, scored once, now tuning
    assert sum(q.was_heldback_session6 for q in questions) >= 70  # the session-6 batch, scored once, now tuning
    assert sum(q.was_heldback_session7 for q in questions) >= 50  # the session-7 batch, scored once, now tuning
    assert sum(q.was_heldback_session8 for q in questions) >= 65  # the session-8 batch, scored once, now tuning
    answerable = [q for q in heldback if q.answerable]
    unanswerable = [q for q in heldback if not q.answerable]
    assert len(answerable) >= 48 and len(unanswerable) >= 14  # the session-9 batch: 55 + 15
    assert len({q.type for q in answerable}) >= 7 and {q.lang for q in answerable} == {"en", "zh"}
    assert sum(q.lang == "zh" for q in answerable) >= 3 and any(q.lang == "zh" for q in unanswerable)
    assert not any(q.was_heldback_session4 or q.was_heldback_session5 or q.was_heldback_session6
                   or q.was_heldback_session7 or q.was_heldback_session8 for q in heldback)
    assert {q.unanswerable_kind for q in unanswerable} == {"population", "intervention", "timing", "outcome"}
    # every open-medicine section had a question by session 7, so the batch is drawn from statements no
    # tuning question quotes (gold passage, gold sentence or alternative), spread over many guidelines
    assert len({q.document for q in answerable}) >= 30
    assert max(Counter(q.document for q in answerable).values()) <= 4
    quoted = {bench.normalise(t) for q in questions if q.split == "tuning" and q.answerable
              for t in [q.gold_passage, *q.answer_texts()]}
    for q in answerable:
        for text in [q.gold_passage, *q.answer_texts()]:
            gold = bench.normalise(text)
            assert not any(gold in t or t in gold for t in quoted), q.id


def test_unanswerable_questions_name_real_neighbours_and_how_they_were_checked(questions, corpus):
    for q in (q for q in questions if not q.answerable):
        assert set(q.near_documents) <= set(corpus), (q.id, set(q.near_documents) - set(corpus))
        assert len(q.unanswerable_reason) >= 25, q.id  # a reason, not a label
        for pattern in q.checked_patterns:
            re.compile(pattern)


def test_a_bad_record_is_an_error_naming_the_file_and_line(bench, tmp_path):
    good = (ROOT / "bench" / "data" / "questions" / "questions.jsonl").read_text(encoding="utf-8").splitlines()[0]
    broken = json.loads(good)
    del broken["gold_passage"]
    path = tmp_path / "q.jsonl"
    path.write_text(good + "\n" + json.dumps(broken) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"(?s)q\.jsonl:2: .*gold_passage"):
        bench.load_gold(path)
    path.write_text(good + "\n" + good + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"q\.jsonl:2: .*used twice"):
        bench.load_gold(path)


# ---- the comparison helpers the metrics rest on ---------------------------------------------------


def test_normalise_ignores_markup_width_and_line_breaks(bench):
    assert bench.normalise("- **Target:** SU < 6 mg/dL") == bench.normalise("Target: SU <\n6 mg/dL")
    assert bench.normalise("HbA1c控制目标为<7%（A）。") == bench.normalise("HbA1c控制目标为<7%(A)。")
    assert bench.normalise("| **Sertraline** | SSRI |") == bench.normalise("Sertraline SSRI")
    assert bench.normalise("dose 2.5 mg") != bench.normalise("dose 25 mg")


def test_a_quote_matches_a_gold_sentence_around_it_or_a_sentence_of_it_but_not_a_fragment(bench):
    n = bench.normalise
    gold = n("Apixaban: Standard dose is 5 mg BID. Reduce to 2.5 mg BID if the patient has at least two of the following characteristics.")
    assert bench.quote_matches(n("Reduce to 2.5 mg BID if the patient has at least two of the following characteristics."), gold)
    assert bench.quote_matches(n("Under Apixaban: Standard dose is 5 mg BID. Reduce to 2.5 mg BID if the patient has at least two of the following characteristics. More."), gold)
    assert not bench.quote_matches(n("5 mg BID."), gold)
    assert not bench.quote_matches(n("Warfarin is recommended only when DOACs are contraindicated."), gold)


def test_digest_quotes_reads_each_bullet_and_its_ids(bench):
    answer = Answer(question="q", generator="extractive", text=(
        "Evidence digest (quoted from the sources, strongest evidence first):\n\n"
        "**Choice of Anticoagulant — ACC/AHA 2023 (guideline, level 1; p. 1)**\n"
        "- DOACs are recommended over warfarin in DOAC-eligible patients with AF (Class I). [E2]\n"
        "- CHA2DS2-VASc ≥ 3: OAC is recommended (Class I). [E2] (under “Women”)\n\n"
        "- Supplemental oxygen only if SpO2 < 90% (Class I). [E5] Do NOT routinely give oxygen to normoxic patients. [E5]\n\n"
        "**Conflicting recommendations: aspirin**\n- For: Aspirin may be considered. [E3][E4]"
    ))
    quotes = bench.digest_quotes(answer)
    assert [q.text for q in quotes] == [
        "DOACs are recommended over warfarin in DOAC-eligible patients with AF (Class I).",
        "CHA2DS2-VASc ≥ 3: OAC is recommended (Class I).",
        "Supplemental oxygen only if SpO2 < 90% (Class I).",
        "Do NOT routinely give oxygen to normoxic patients.",  # a bullet's further sentence, cited on its own
        "Aspirin may be considered.",
    ]
    assert quotes[4].evidence_ids == ["E3", "E4"]
    # another layout: the citation check's sentences stand in for the bullets
    from evidence.schema import Citation

    prose = Answer(question="q", generator="extractive", text="DOACs are preferred [E1]. Warfarin if valves [E2].", citations=[
        Citation(evidence_id="E1", sentence="DOACs are preferred [E1].", known=True, supported=True),
        Citation(evidence_id="E2", sentence="Warfarin if valves [E2].", known=True, supported=True)])
    assert [(q.text, q.evidence_ids) for q in bench.digest_quotes(prose)] == [("DOACs are preferred.", ["E1"]), ("Warfarin if valves.", ["E2"])]


def test_not_addressed_is_read_from_the_flag_or_the_warning(bench):
    def answer(**kw) -> Answer:
        return Answer(question="q", generator="extractive", text="- x [E1]", **kw)

    assert bench.says_not_addressed(answer(insufficient_evidence=True))
    assert bench.says_not_addressed(answer(warnings=[AnswerWarning(code="other", message="The indexed evidence does not address pregnancy.")]))
    assert bench.says_not_addressed(answer(warnings=[AnswerWarning(code="insufficient_evidence", message="No relevant evidence.")]))
    assert not bench.says_not_addressed(answer(warnings=[AnswerWarning(code="unsupported_claims", message="1 cited sentence(s) are not supported by the passage they cite.")]))


def test_score_question_ranks_the_gold_passage_and_reads_the_digest(bench):
    """The per-question scoring on a stand-in assistant: the gold passage is found in the third
    passage (cut across lines and markup), the quoted gold sentence counts, an off-topic quote
    does not count as on the question."""
    from evidence.schema import Evidence

    def passage(path: str, text: str, eid: str = "") -> Evidence:
        return Evidence(evidence_id=eid, chunk_id=path + text[:5], document_id=path, text=text, page_start=1, page_end=1, title=path, path=f"/x/{path}")

    q = bench.GoldQuestion(
        id="t1", question="Which anticoagulant in AF?", lang="en", type="comparison", answerable=True, split="tuning",
        document="acc_aha_af_2023", title="AF", guideline=True,
        gold_passage="DOACs are recommended over warfarin in DOAC-eligible patients with AF (Class I).",
        gold_sentences=["DOACs are recommended over warfarin in DOAC-eligible patients with AF (Class I)."],
    )
    ranked = [passage("aha_asa_tia_2009", "Aspirin after TIA."), passage("acc_aha_af_2023", "Rate control first."),
              passage("acc_aha_af_2023", "- **DOACs** are recommended over warfarin in\nDOAC-eligible patients with AF (Class I).")]
    digest = Answer(question=q.question, generator="extractive", evidence=[passage("acc_aha_af_2023", "x", "E1"), passage("esc_acs_2023", "y", "E2")], text=(
        "Evidence digest:\n- DOACs are recommended over warfarin in DOAC-eligible patients with AF (Class I). [E1]\n- Dual therapy after ACS. [E2]"))

    class StandIn:
        def search(self, question, k):
            return ranked

        def ask(self, question, generator, k):
            assert generator == "extractive"
            return digest

    result = bench.score_question(StandIn(), q, k=8)
    assert (result.passage_rank, result.document_rank) == (3, 2)
    assert result.gold_quoted and result.on_question == 1 and result.answers == 1 and len(result.quotes) == 2 and not result.not_addressed
    score = bench.group_score("tuning", "all", [result], k=8)
    assert score.recall_at == {1: 0.0, 3: 1.0, 8: 1.0} and score.mrr == round(1 / 3, 4)
    assert score.guideline_first == 0.0 and score.digest_precision == score.digest_precision_strict == 0.5 and score.answered == 1.0
