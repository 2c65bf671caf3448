"""The digest's quotable units (issue 9, item 3): a list row, a bullet with its further sentences,
a nested bullet with the item it sits under, and a table row are each quoted whole; a passage
whose answer is its third line still gets it quoted."""

from __future__ import annotations

from evidence.citations import check_citations
from evidence.digest import _candidates, _pick, _Sentence, compose_digest, extractive_answer
from evidence.schema import Evidence, RetrievalScores
from indexing.labels import DocumentGrade, EvidenceLevel, SourceType


def passage(text: str, heading: str, eid: str = "E1", title: str = "Guideline") -> Evidence:
    return Evidence(chunk_id=f"g:{eid}", document_id="g", evidence_id=eid, text=text, page_start=1, page_end=1,
                    title=title, heading_path=[heading], scores=RetrievalScores(fused=0.03),
                    grade=DocumentGrade(source_type=SourceType.GUIDELINE, level=EvidenceLevel(1), confidence=0.9))


NIMODIPINE = """Prevention of DCI
- Nimodipine 60 mg orally every 4 hours for 21 days is the cornerstone of DCI prevention (Class I, LOE A). See the Medical Management section for full dosing details.
- Euvolemia maintenance with isotonic crystalloids (Class IIa, LOE B-R)."""

CCB = """First-Line Agents
- Beta-blockers (metoprolol, bisoprolol):
- Indication: Preferred in patients with prior myocardial infarction.
- Non-dihydropyridine calcium channel blockers (diltiazem, verapamil):
- Indication: Preferred in patients with COPD/asthma where beta-blockers may be problematic.
- Contraindication: Strictly contraindicated in patients with HFrEF (LVEF < 40%) due to negative inotropic effects."""

TABLE = """Outpatient Antibiotic Duration
| Regimen | Duration | Evidence |
|---|---|---|
| Amoxicillin high dose | 5 days | Strong |
| Fluoroquinolone (levofloxacin, ciprofloxacin) | 5-7 days | Moderate |"""


def test_a_bullets_further_sentence_is_quoted_with_it_each_cited():
    (first, second) = _candidates(passage(NIMODIPINE, "Prevention of DCI"))
    assert first.follow == ["See the Medical Management section for full dosing details."]
    assert first.text.startswith("Nimodipine 60 mg") and "See the Medical" not in first.text  # scored on its bullet
    assert second.text.startswith("Euvolemia")
    sah = "2023 AHA/ASA Guidelines for the Management of Patients With Aneurysmal Subarachnoid Hemorrhage"  # names the SAH asked about
    digest = compose_digest("Nimodipine regimen after aneurysmal SAH?", [passage(NIMODIPINE, "Prevention of DCI", title=sah)])
    line = next(x for x in digest.text.splitlines() if "Nimodipine 60 mg" in x)
    assert line.startswith("- Nimodipine 60 mg orally every 4 hours for 21 days is the cornerstone of DCI prevention (Class I, LOE A). [E1] See")
    assert line.count("[E1]") == 2  # each sentence of the item carries its citation


def test_a_nested_bullet_is_quoted_under_the_item_it_belongs_to():
    by_text = {c.text: c for c in _candidates(passage(CCB, "First-Line Agents"))}
    contra = next(c for t, c in by_text.items() if t.startswith("Contraindication"))
    assert contra.label == "Non-dihydropyridine calcium channel blockers (diltiazem, verapamil):"
    indication = next(c for t, c in by_text.items() if "myocardial" in t)
    assert indication.label.startswith("Beta-blockers")
    assert not any(t.endswith(":") for t in by_text)  # the parent line is the label, not a quote
    digest = compose_digest("Is diltiazem contraindicated in patients with HFrEF?", [passage(CCB, "First-Line Agents")])
    assert "- Contraindication: Strictly contraindicated in patients with HFrEF (LVEF < 40%) due to negative inotropic effects. [E1]" in digest.text
    assert "under “Non-dihydropyridine calcium channel blockers [diltiazem, verapamil]”" in digest.text


def test_a_table_row_is_quoted_whole_with_its_header_and_escaped_bars():
    rows = _candidates(passage(TABLE, "Outpatient Antibiotic Duration"))
    assert [r.text for r in rows] == ["Amoxicillin high dose | 5 days | Strong",
                                      "Fluoroquinolone (levofloxacin, ciprofloxacin) | 5-7 days | Moderate"]
    assert all(r.label == "Regimen | Duration | Evidence" and r.row for r in rows)
    # the section names the disease: a passage that never names "pneumonia" does not answer about it (next test)
    digest = compose_digest("How long should levofloxacin be given for outpatient pneumonia?", [passage(TABLE, "Pneumonia: Outpatient Antibiotic Duration")])
    assert "- Fluoroquinolone (levofloxacin, ciprofloxacin) \\| 5-7 days \\| Moderate [E1]" in digest.text
    assert "Regimen \\| Duration \\| Evidence" in digest.text  # the columns the row is read under


def test_a_disease_or_drug_no_passage_names_is_not_addressed():
    """Dementia, preeclampsia, paracetamol, tranexamic acid: names of a disease or drug by their
    form; when no retrieved passage names one, quoting the neighbours would answer another question."""
    for question in ("How long should levofloxacin be given for outpatient pneumonia?",
                     "Should levofloxacin be given with tranexamic acid?"):
        digest = compose_digest(question, [passage(TABLE, "Outpatient Antibiotic Duration")])
        assert digest.insufficient and digest.text.startswith("The indexed evidence does not address"), question


def test_a_sentence_with_stray_bars_outside_a_table_is_still_not_quoted():
    text = "Scores\nCURB-65 | PSI | qSOFA are compared in this section of the guideline."
    assert _candidates(passage(text, "Scores")) == []


def _sentences(e: Evidence, n: int, answering: int) -> list[_Sentence]:
    return [_Sentence(e, f"Line {i} states a threshold for anticoagulation.", {"line", "threshold"}, answers=i < answering)
            for i in range(n)]


def test_a_third_quote_from_one_passage_only_when_it_answers():
    e = passage("x", "Recommendations")
    by_id = {"E1": e}
    assert len(_pick(_sentences(e, 4, answering=4), by_id)["E1"]) == 3
    assert len(_pick(_sentences(e, 4, answering=0), by_id)["E1"]) == 2  # context lines stay at two


# APA 2018 practice guideline for alcohol use disorder, "Naltrexone Contraindications" (the demo
# corpus's passage, bench question a074): the recommendation that answers sits two lines below a
# bullet that repeats one more question word ("drinkers").
NALTREXONE = """Naltrexone Contraindications (Statements 17-18)
Statement 17 (1C): APA recommends that naltrexone not be used by patients who have acute hepatitis or hepatic failure.
- Naltrexone is hepatically metabolized; baseline liver function tests (LFTs) should be obtained before initiation.
- Mild-to-moderate elevations in transaminases (common in heavy drinkers) are NOT a contraindication.
- Monitor LFTs periodically during treatment.
Statement 18 (1C): APA recommends that naltrexone not be used as a treatment for AUD by individuals who use opioids or who have an anticipated need for opioids.
- Naltrexone will block the analgesic effects of opioid medications.
- Can precipitate acute opioid withdrawal in opioid-dependent individuals."""
APA = "The American Psychiatric Association Practice Guideline for the Pharmacological Treatment of Patients With Alcohol Use Disorder"
NALTREXONE_Q = "Can naltrexone be used in a drinker who takes opioids for pain?"


def test_the_answering_passages_own_recommendation_is_quoted_not_only_its_neighbour():
    answer = extractive_answer(NALTREXONE_Q, [passage(NALTREXONE, "Naltrexone Contraindications (Statements 17-18)", title=APA)])
    assert not answer.insufficient_evidence
    assert "- Statement 18 (1C): APA recommends that naltrexone not be used as a treatment for AUD by individuals who use opioids" in answer.text
    report = check_citations(answer.text, answer.evidence)
    assert report.unsupported_sentences == [] and report.uncited_claims == [] and report.support_ratio == 1.0


def test_a_recommendations_lead_in_is_added_with_its_list_or_not_at_all():
    lead = "Statement 18 (1C): APA recommends that naltrexone not be used for AUD by the following individuals who use opioids:"
    items = "Patients on methadone or buprenorphine and patients with an anticipated need for opioid analgesia."
    old = NALTREXONE.splitlines()[5]
    assert old.startswith("Statement 18")
    heading = "Naltrexone Contraindications (Statements 17-18)"
    with_list = extractive_answer(NALTREXONE_Q, [passage(NALTREXONE.replace(old, lead + "\n" + items), heading, title=APA)])
    lines = [x for x in with_list.text.splitlines() if x.startswith("- ")]
    assert f"- {lead} [E1]" in lines and lines[lines.index(f"- {lead} [E1]") + 1] == f"- {items} [E1]"
    # The passage ends at the lead-in (a chunk boundary): its list is elsewhere, so it is not quoted.
    cut = extractive_answer(NALTREXONE_Q, [passage(NALTREXONE.split(old)[0] + lead, heading, title=APA)])
    assert lead not in cut.text and "Mild-to-moderate elevations" in cut.text
    for answer in (with_list, cut):
        report = check_citations(answer.text, answer.evidence)
        assert report.unsupported_sentences == [] and report.uncited_claims == [] and report.support_ratio == 1.0
