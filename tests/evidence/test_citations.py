"""Citation checking: unknown ids, support by the cited passage, numbers, uncited claims, EN and ZH."""

from __future__ import annotations

import pytest

from evidence.citations import check_citations, is_claim
from evidence.schema import Evidence

AF = (
    "Direct oral anticoagulants (apixaban, dabigatran, edoxaban, rivaroxaban) are recommended over warfarin "
    "in DOAC-eligible patients with atrial fibrillation (Class I). Apixaban standard dose is 5 mg twice daily; "
    "reduce to 2.5 mg twice daily if at least two of: age 80 years or older, body weight 60 kg or less, serum "
    "creatinine 1.5 mg/dL or more."
)
GOUT = "Allopurinol is the preferred first-line urate-lowering therapy, started at 100 mg daily or less and titrated to a serum urate below 6 mg/dL."
ZH = "对于非瓣膜性房颤患者，推荐使用新型口服抗凝药预防卒中（I级推荐，A级证据）。不推荐单独使用阿司匹林预防卒中。"


def evidence() -> list[Evidence]:
    def one(eid: str, text: str, title: str) -> Evidence:
        return Evidence(evidence_id=eid, chunk_id=f"{eid}:0", document_id=eid, text=text, page_start=2, page_end=2, title=title, year=2023)

    return [one("E1", AF, "AF guideline"), one("E2", GOUT, "Gout guideline"), one("E3", ZH, "房颤指南")]


def test_supported_paraphrase_and_verbatim_claims_pass():
    answer = (
        "DOACs such as apixaban are recommended over warfarin for patients with atrial fibrillation [E1]. "
        "Allopurinol is the preferred first-line urate-lowering therapy. [E2]"
    )
    report = check_citations(answer, evidence())
    assert [(c.evidence_id, c.known, c.supported) for c in report.citations] == [("E1", True, True), ("E2", True, True)]
    assert report.unsupported_sentences == [] and report.uncited_claims == [] and report.unknown_ids == []
    assert report.support_ratio == 1.0
    assert report.citations[0].sentence.startswith("DOACs such as apixaban") and "[E1]" not in report.citations[0].sentence


def test_a_number_absent_from_the_passage_makes_the_claim_unsupported():
    report = check_citations("The apixaban dose is 10 mg twice daily in atrial fibrillation [E1].", evidence())
    assert report.citations[0].known and not report.citations[0].supported
    assert report.unsupported_sentences == ["The apixaban dose is 10 mg twice daily in atrial fibrillation."]
    ok = check_citations("Reduce apixaban to 2.5 mg twice daily in patients aged 80 years or older with body weight 60 kg or less [E1].", evidence())
    assert ok.citations[0].supported


def test_claim_cited_to_the_wrong_passage_is_unsupported():
    report = check_citations("Allopurinol is the preferred first-line urate-lowering therapy [E1].", evidence())
    assert not report.citations[0].supported and report.support_ratio == 0.0


def test_unknown_ids_are_flagged_and_never_supported():
    report = check_citations("Warfarin is recommended in atrial fibrillation [E7]. Apixaban is a DOAC [E1, E9].", evidence())
    assert report.unknown_ids == ["E7", "E9"]
    unknown = [c for c in report.citations if not c.known]
    assert {c.evidence_id for c in unknown} == {"E7", "E9"} and not any(c.supported for c in unknown)
    assert "Warfarin is recommended in atrial fibrillation." in report.unsupported_sentences


def test_uncited_claims_are_flagged_but_headings_and_disclaimers_are_not():
    answer = (
        "## Anticoagulation\n"
        "**Summary:**\n"
        "Aspirin should be given to every patient with atrial fibrillation.\n"
        "Insufficient evidence: the documents do not address pregnancy.\n"
        "This is not medical advice; use clinical judgement.\n"
        "Which drug is best?\n"
        "DOACs are recommended over warfarin [E1]."
    )
    report = check_citations(answer, evidence())
    assert report.uncited_claims == ["Aspirin should be given to every patient with atrial fibrillation."]
    assert report.support_ratio == 0.5
    for line in ("## Anticoagulation", "**Summary:**", "Insufficient evidence: nothing.", "证据不足。", "Which drug?"):
        assert not is_claim(line)


def test_a_claim_spanning_two_cited_passages_is_supported_by_their_union():
    answer = "Apixaban is recommended over warfarin in atrial fibrillation, and allopurinol is the preferred first-line urate-lowering therapy [E1][E2]."
    report = check_citations(answer, evidence())
    assert report.unsupported_sentences == [] and all(c.supported for c in report.citations)


def test_chinese_claims_are_checked_by_character_bigrams():
    good = "非瓣膜性房颤患者推荐使用新型口服抗凝药预防卒中[E3]。"
    bad = "房颤患者推荐使用华法林联合阿司匹林长期治疗高血压[E3]。"
    report = check_citations(good + bad, evidence())
    assert [c.supported for c in report.citations] == [True, False]
    assert report.unsupported_sentences == ["房颤患者推荐使用华法林联合阿司匹林长期治疗高血压。"]


def test_no_claims_means_nothing_to_flag():
    report = check_citations("Insufficient evidence: no passage answers this question.", evidence())
    assert report.citations == [] and report.support_ratio == 1.0


@pytest.fixture(scope="module")
def embedder():
    from indexing.embedding import load_embedder

    return load_embedder("default")


def test_embedder_accepts_a_close_paraphrase_but_not_a_wrong_number(embedder):
    paraphrase = "In atrial fibrillation pick newer anticoagulant tablets over coumadin [E1]."
    lexical_only = check_citations(paraphrase, evidence())
    with_embedder = check_citations(paraphrase, evidence(), embedder=embedder)
    assert not lexical_only.citations[0].supported  # too few shared words for the word test alone
    assert with_embedder.citations[0].supported and with_embedder.unsupported_sentences == []
    assert with_embedder.citations[0].support_score > lexical_only.citations[0].support_score
    wrong_dose = check_citations("In atrial fibrillation pick newer anticoagulant tablets at 10 mg over coumadin [E1].", evidence(), embedder=embedder)
    assert not wrong_dose.citations[0].supported
    unrelated = check_citations("Allopurinol is the preferred first-line urate-lowering therapy [E1].", evidence(), embedder=embedder)
    assert not unrelated.citations[0].supported


def test_cited_sentences_are_checked_even_when_they_read_like_non_claims():
    answer = "Consult a nephrologist when eGFR falls below 30 [E2]. Consult a nephrologist when eGFR falls below 30."
    report = check_citations(answer, evidence())
    assert report.citations[0].evidence_id == "E2" and not report.citations[0].supported
    assert report.uncited_claims == ["Consult a nephrologist when eGFR falls below 30."]
    limited = check_citations("Evidence is limited for allopurinol in gout below 6 mg/dL serum urate [E2].", evidence())
    assert len(limited.citations) == 1 and limited.citations[0].supported


def test_a_claim_that_flips_the_passage_negation_is_unsupported():
    items = [Evidence(evidence_id="E1", chunk_id="n:0", document_id="n", page_start=1, page_end=1, title="AF",
                      text="Aspirin monotherapy is not recommended for stroke prevention in atrial fibrillation. "
                           "DOACs are recommended for stroke prevention in atrial fibrillation.")]
    flipped = check_citations("Aspirin monotherapy is recommended for stroke prevention in atrial fibrillation [E1].", items)
    assert not flipped.citations[0].supported and flipped.unsupported_sentences
    faithful = check_citations("Aspirin monotherapy is not recommended for stroke prevention in atrial fibrillation [E1].", items)
    assert faithful.citations[0].supported
    positive = check_citations("DOACs are recommended for stroke prevention in atrial fibrillation [E1].", items)
    assert positive.citations[0].supported
    zh = [Evidence(evidence_id="E1", chunk_id="z:0", document_id="z", page_start=1, page_end=1, title="卒中",
                   text="不推荐单独使用阿司匹林预防房颤患者卒中。")]
    assert not check_citations("推荐单独使用阿司匹林预防房颤患者卒中[E1]。", zh).citations[0].supported
    assert check_citations("不推荐单独使用阿司匹林预防房颤患者卒中[E1]。", zh).citations[0].supported
