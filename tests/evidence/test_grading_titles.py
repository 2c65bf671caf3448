"""Session 7 grading rules for titles that mislead (issue 9 item 2): trial acronyms that spell a
document word, guidelines named in a title as the subject of a study or review, and "perspective"
titles over reviews. The wording follows real PubMed titles and abstracts of the tuning half
(bench/data/grading/pubmed_dev.jsonl, `split: tune`); session 6's held set had all 8 RCT -> consensus
errors from the CONSENSUS trial and 14 guideline-titled studies or reviews read as guidelines.
Each case is checked with the rules alone and with the shipped learned reading.
"""

from __future__ import annotations

import pytest

from evidence.grading import grade_document
from indexing.labels import SourceType

S = SourceType
BOTH = pytest.mark.parametrize("model", [False, True], ids=["rules", "model"])

CONSENSUS_TRIAL = (
    "Effects of enalapril on mortality in severe congestive heart failure. Results of the Cooperative North "
    "Scandinavian Enalapril Survival Study (CONSENSUS).",
    "Patients with severe congestive heart failure (NYHA class IV) were randomly assigned to double-blind "
    "treatment with enalapril (n = 127) or placebo (n = 126) in addition to conventional therapy. The crude "
    "mortality at the end of six months was 26 per cent in the enalapril group and 44 per cent in the placebo "
    "group, a reduction of 40 per cent (P = 0.002).")


@BOTH
def test_the_consensus_trial_is_a_trial_not_a_consensus_statement(model: bool):
    g = grade_document(*CONSENSUS_TRIAL, model=model)
    assert g.source_type == S.RCT, g.reasons
    assert not any("consensus" in r.lower() for r in g.reasons[:2]), g.reasons


@BOTH
@pytest.mark.parametrize("title", [
    "Neuroendocrine activation after acute myocardial infarction: a report from the CONSENSUS II trial",
    "Plasma atrial natriuretic factor and mortality in the CONSENSUS II study",
    "Intensive glucose lowering and cardiovascular events in type 2 diabetes: the ACCORD trial",
    "Long-term outcome in the DELPHI study of early statin therapy",
])
def test_an_all_caps_trial_name_never_reads_as_a_consensus_statement(title: str, model: bool):
    text = ("Patients with acute myocardial infarction were randomized within 24 hours to the study drug or "
            "placebo; plasma concentrations were measured at baseline and after six weeks, and 1-year mortality "
            "was compared between the groups.")
    assert grade_document(title, text, model=model).source_type != S.CONSENSUS


@BOTH
@pytest.mark.parametrize("title,text", [
    ("Consensus statement on the management of infantile haemangioma",
     "An expert panel of 12 dermatologists and surgeons met at a consensus conference; recommendations were "
     "agreed by a modified Delphi process in two rounds and are presented here."),
    ("CONSENSUS STATEMENT ON THE USE OF OPIOIDS IN CHRONIC NON-MALIGNANT PAIN",
     "THE PANEL REVIEWED THE EVIDENCE AND REACHED CONSENSUS ON TEN RECOMMENDATIONS FOR PRACTICE."),
])
def test_a_real_consensus_statement_still_reads_as_one(title: str, text: str, model: bool):
    assert grade_document(title, text, model=model).source_type == S.CONSENSUS


@BOTH
@pytest.mark.parametrize("title,text,expected", [
    ("Guideline-directed medical therapy and the risk of death in primary prevention defibrillator recipients",
     "We studied a retrospective cohort of 1,200 patients who received a primary prevention defibrillator. "
     "Patients on guideline-directed medical therapy had lower 3-year mortality (hazard ratio 0.62, 95% CI "
     "0.48-0.80, p < 0.001).", S.COHORT),
    ("The outcome of STOP-Hypertension-2 in relation to the 1999 WHO/ISH hypertension guidelines.",
     "The STOP-Hypertension-2 trial compared conventional and newer antihypertensive drugs in elderly patients. "
     "This article discusses how its results bear on the recommendations of the 1999 WHO/ISH guidelines, which "
     "give preference to no single class.", S.NARRATIVE_REVIEW),
    ("Current guidelines on stress ulcer prophylaxis.",
     "Stress ulcer prophylaxis is widely given in intensive care. We review the evidence behind current "
     "practice and the recommendations of the main societies, and discuss which patients benefit.",
     S.NARRATIVE_REVIEW),
])
def test_a_guideline_named_as_the_subject_of_a_title_does_not_make_a_guideline(title, text, expected, model):
    g = grade_document(title, text, model=model)
    assert g.source_type != S.GUIDELINE, g.reasons
    if not model:
        assert g.source_type == expected, g.reasons


@BOTH
@pytest.mark.parametrize("title,text", [
    ("Management of hypertension in patients with type 2 diabetes mellitus: guidelines based on current evidence",
     "These guidelines were prepared by a working group of the society. Blood pressure should be lowered below "
     "130/80 mm Hg. ACE inhibitors are recommended as first-line therapy."),
    ("Recommendations for using opioids in chronic non-cancer pain.",
     "1. The management of chronic pain should be directed by the underlying cause. 2. Opioid treatment should "
     "be considered if other therapies fail. 3. The use of sustained-release opioids at regular intervals is "
     "recommended."),
])
def test_a_title_that_presents_guidelines_is_still_a_guideline(title: str, text: str, model: bool):
    assert grade_document(title, text, model=model).source_type == S.GUIDELINE


def test_a_perspective_title_over_a_review_is_a_narrative_review():
    g = grade_document("Decolonization of Staphylococcus aureus in healthcare: a dermatology perspective.",
                       "Staphylococcus aureus colonizes susceptible patients and causes significant morbidity. "
                       "This article reviews current decolonization strategies, including topical mupirocin, "
                       "chlorhexidine washes and emerging agents, and summarizes the evidence for each.", model=False)
    assert g.source_type == S.NARRATIVE_REVIEW, g.reasons
    assert any("point of view" in r for r in g.reasons), g.reasons


@pytest.mark.parametrize("title,text", [
    ("Precision oncology: a critical perspective",
     "In this commentary we argue that the benefits of matched targeted therapy have been overstated and call "
     "for randomised evidence before wider use."),
    ("Why not prescribe the best drugs for hypertension now? A clinician's perspective",
     "I believe that high-risk patients should receive ACE inhibitors first line, and that the caution of "
     "guideline committees now costs lives."),
])
def test_an_argued_perspective_stays_an_opinion_piece(title: str, text: str):
    assert grade_document(title, text, model=False).source_type == S.EXPERT_OPINION
