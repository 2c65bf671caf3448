"""Grading rules added while tuning on the real PubMed abstracts (bench/data/grading, tuning half).

Each test is one rule a user relies on, written as a short abstract in the wording real abstracts
use (the wording, not the text, comes from the tuning misses listed by
`python bench/grading_quality.py --misses`).
"""

from __future__ import annotations

from evidence.grading import grade_document
from indexing.labels import SourceType

S = SourceType


def _type(title: str, text: str) -> SourceType:
    return grade_document(title, text).source_type


# ---- a retrospective evaluation of treated patients is a cohort, never "other" -----------------


def test_retrospective_evaluation_in_the_infinitive_is_a_record_review_cohort():
    text = ("The study objective was to retrospectively evaluate the efficacy and safety of endometrial ablation in "
            "women with chronic renal failure. Fifty-eight patients treated between 2013 and 2017 were included. "
            "Outcome measures included amenorrhea and treatment failure.")
    g = grade_document("Endometrial ablation for heavy menstrual bleeding in renal failure", text)
    assert g.source_type == S.COHORT
    assert any("retrospectively evaluate" in r for r in g.reasons)


def test_measurements_before_and_during_a_named_treatment_are_a_cohort():
    text = ("We studied kidney injury markers in the blood of patients with myeloma before and during chemotherapeutic "
            "treatment. Markers were measured by ELISA in 23 patients.")
    assert _type("Kidney injury markers during chemotherapy", text) == S.COHORT


def test_a_treated_group_followed_from_baseline_is_a_cohort():
    text = ("Photodynamic therapy has shown promise in oral leukoplakia. All patients received photodynamic therapy "
            "with aminolevulinic acid; lesion response was graded six months later.")
    assert _type("Photodynamic therapy for oral leukoplakia", text) == S.COHORT


# ---- case reports and series named by their cases ----------------------------------------------


def test_a_title_counting_its_cases_is_a_case_series():
    text = "Solitary fibrous tumours of the pleura were examined for size, histology and recurrence."
    assert _type("Solitary fibrous tumor of the pleura - analysis of 18 cases", text) == S.CASE_SERIES


def test_a_unique_case_in_the_title_is_a_case_report():
    text = "Allergy to absorbable sutures is rarely described. Skin testing confirmed the diagnosis."
    assert _type("A unique case of diagnosed suture allergy following hip arthroscopy", text) == S.CASE_SERIES


def test_in_this_case_as_discourse_is_no_case_report():
    text = ("Neurogenic tumours of the sacrum are rare. In this case, the treatment approach depends on the tumour "
            "size. Patients with malignant tumours should undergo sacrectomy; in this case, the choice of strategy "
            "should be individual.")
    assert _type("Management of neurogenic tumors of the sacrum", text) != S.CASE_SERIES


# ---- reviews that mention designs or test accuracy ---------------------------------------------


def test_a_current_and_future_therapies_title_is_a_review_not_a_diagnostic_study():
    text = ("Diabetic retinopathy is a leading cause of blindness. Optical coherence tomography has allowed high "
            "sensitivity and specificity for detecting macular edema. Anti-VEGF agents changed care, and drugs that "
            "target new pathways hold promise.")
    assert _type("Current and future pharmacologic therapies for diabetic retinopathy", text) == S.NARRATIVE_REVIEW


def test_the_current_evidence_from_trials_is_background_not_this_documents_design():
    text = ("Vitamin K has roles in bone metabolism. Although observational data link intake with fewer fractures, "
            "the current evidence from randomized controlled trials is not strongly supportive of supplementation.")
    assert _type("Vitamin K and bone health in older adults", text) != S.RCT


def test_ethical_considerations_read_as_an_argued_opinion():
    text = ("This paper sets out the jurisprudential and ethical considerations of performing religious procedures "
            "on the newly deceased, and what a physician owes the family.")
    assert _type("Ethical considerations of procedures on the newly deceased", text) == S.EXPERT_OPINION


# ---- guidelines as the subject of a study are not this document's kind ---------------------------


def test_implementing_or_adhering_to_guidelines_does_not_make_a_guideline():
    for title in ("Implementing a quality management system using good clinical laboratory practice guidelines",
                  "Validation of a knowledge base implementing clinical guidelines for antiretroviral toxicity"):
        assert _type(title, "The system was introduced in the laboratory and audited over two years.") != S.GUIDELINE


def test_a_registry_named_after_guidelines_is_not_a_guideline():
    text = ("We used data from a national cardiology guidelines registry to "
            "compare persistence of medication use after discharge; 4,000 patients were followed for 12 months.")
    g = grade_document("Persistence of evidence-based medication use after discharge", text)
    assert g.source_type == S.COHORT and not any("guideline" in r for r in g.reasons[:1])


def test_image_guidance_is_no_guidance_document():
    text = "Pedicle screws were placed under fluoroscopic guidance or navigation; accuracy was graded on CT."
    assert _type("Accuracy of pedicle screw insertion: fluoroscopic guidance versus navigation", text) != S.GUIDELINE


def test_a_study_about_guidelines_that_reports_its_own_results_is_the_study():
    text = ("This study aims to assess physicians' adherence to guidelines on pharyngitis. A cross-sectional survey "
            "was sent to emergency physicians; we want them to implement local guidelines and follow the guidelines. "
            "A total of 243 physicians answered (n = 243). Only 27.3% (n = 67) were adherent to the guidelines, "
            "and knowledge was significantly lower among residents (p < 0.01).")
    g = grade_document("Improving pediatric emergency physicians' adherence to clinical practice guidelines", text)
    assert g.source_type == S.CROSS_SECTIONAL


def test_a_guideline_that_says_so_in_its_title_stays_a_guideline():
    text = ("This guideline provides recommendations on the management of obstructive sleep apnea. Of patients "
            "studied in trials, 60% (n = 300) improved with CPAP (p < 0.01). We recommend CPAP as initial therapy.")
    assert _type("Management of obstructive sleep apnea: a clinical practice guideline", text) == S.GUIDELINE


# ---- the design wins over the authors' name for it ----------------------------------------------


def test_treatment_groups_called_case_control_are_a_controlled_comparison():
    text = ("The present case-control study was conducted in 200 newly diagnosed diabetic patients divided into two "
            "groups. Group 1 received metformin and Group 2 received berberine for 3 months. Blood samples were "
            "collected at baseline and after 3 months.")
    g = grade_document("Methylglyoxal in berberine-treated diabetic patients", text)
    assert g.source_type == S.COHORT
    assert any("defined by the treatment given" in r for r in g.reasons)


def test_a_true_case_control_study_keeps_its_design():
    text = ("We performed a case-control study of 67 patients with dilated cardiomyopathy and 130 controls; a "
            "history of asthma was compared between cases and controls.")
    assert _type("Asthma, beta-agonists and cardiomyopathy", text) == S.CASE_CONTROL


# ---- non-clinical original work is other, not an overview ---------------------------------------


def test_laboratory_results_without_clinical_words_stay_other_not_a_review():
    text = ("Iron enhances the strength of the composite but reduces ductility. Manganese improves ductility: the "
            "fracture strain increases from 15.9 to 17.9 % with 2 at.% Mn. Cobalt improves strength and ductility "
            "together, with compression strength rising from 1829 to 1906 MPa. The large bulk TiB2 phase at the grain "
            "boundaries explains the loss of ductility with iron, and the refined lamellar colonies explain the gain "
            "with manganese and cobalt.")
    g = grade_document("Effect of Mn, Fe and Co on the strength of TiB2/TiAl composites", text)
    assert g.source_type == S.OTHER and g.confidence <= 0.4


def test_a_new_species_description_is_original_work():
    text = ("The spider genus is surveyed in the country. To date three species were known there. Here two new "
            "species are described, P. kovblyuki sp. n. and P. montana sp. n., and one species is recorded for the "
            "first time in the region, with notes on the distribution of the genus across the Middle East. Two names "
            "are synonymised with a species hitherto known only from Turkmenistan, and a key to the species is given.")
    assert _type("The spider genus Pterotricha in Iran, with the description of a new genus", text) == S.OTHER
