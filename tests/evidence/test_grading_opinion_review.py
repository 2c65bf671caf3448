"""Document grading: reviews, audits and opinion pieces that speak of guidelines are not guidelines.

Session 8's rules (tuning half of bench/data/grading): a design sentence counts as the document
naming itself a guideline only where it issues recommendations ("this guideline", "we recommend",
"we provide guidelines"); a title that asks a question about guidelines is about them. The texts
below are short, written for these tests in the style of real abstracts.
"""

from __future__ import annotations

from evidence.grading import grade_document
from indexing.labels import SourceType

S = SourceType


def _rules(title: str, text: str) -> SourceType:
    return grade_document(title, text, model=False).source_type


REVIEW_DESCRIBING_GUIDELINES = (
    "Prostate cancer is the commonest cancer in older men. This article describes the screening "
    "guidelines of the national cancer network, the interpretation of the serum PSA test and an "
    "algorithm for the follow-up of an abnormal result. The harms of overdiagnosis are weighed "
    "against the benefits of early detection, and the role of shared decision making is outlined "
    "for the family physician who meets these questions every week in the office."
)

GUIDELINE_ISSUING = (
    "Prostate cancer is the commonest cancer in older men. This guideline provides recommendations "
    "for the family physician on screening with the serum PSA test and on the follow-up of an "
    "abnormal result. The panel weighed the harms of overdiagnosis against the benefits of early "
    "detection and graded each recommendation by the strength of the evidence behind it, for use "
    "in the office where these questions arise every week."
)


def test_review_that_describes_guidelines_is_not_a_guideline_but_one_that_issues_them_is():
    assert _rules("Screening for prostate cancer in primary care", REVIEW_DESCRIBING_GUIDELINES) != S.GUIDELINE
    assert grade_document("Screening for prostate cancer in primary care",
                          REVIEW_DESCRIBING_GUIDELINES).source_type != S.GUIDELINE
    assert _rules("Screening for prostate cancer in primary care", GUIDELINE_ISSUING) == S.GUIDELINE


def test_review_that_simplifies_guidelines_reads_as_a_review():
    text = ("Heart failure with reduced ejection fraction is treated with several drug classes. The "
            "purpose of this review is to simplify recent guidelines for the drug treatment of chronic "
            "systolic heart failure for the primary care physician. Beta-blockers, inhibitors of the "
            "renin-angiotensin system and mineralocorticoid antagonists are discussed in turn, with "
            "their doses, their adverse effects and the order in which they are usually started.")
    assert _rules("Drug treatment of chronic heart failure", text) == S.NARRATIVE_REVIEW


AUDIT = ("Elderly patients with hypertension are often treated differently from younger ones. We "
         "examined the first drug prescribed to 4,120 patients aged 66 years or more in the "
         "provincial prescription database between 1994 and 2000 and followed the share of "
         "thiazides over time. Thiazides were the first drug in 38% of patients in 1994 and in 41% in "
         "2000, although beta-blockers fell from 21% to 12% over the same years.")


def test_question_title_about_guidelines_is_a_study_about_them():
    assert _rules("Hypertension guidelines in elderly patients: is anybody listening?", AUDIT) != S.GUIDELINE
    # a guideline named after the question is still one
    text = ("Neonatal hyperglycaemia is common in preterm infants. This guideline, prepared by the "
            "national neonatal society, sets thresholds for treatment and recommends how glucose should "
            "be monitored, for use in every neonatal intensive care unit in the country, with the "
            "evidence for each recommendation summarised and graded by the working group.")
    assert _rules("Neonatal hyperglycaemia, which threshold and which treatment?: national society guideline",
                  text) == S.GUIDELINE


def test_practice_compared_with_consensus_guidelines_is_not_a_consensus_statement():
    text = ("Bipolar disorder is treated with mood stabilisers. The purposes of this paper were to "
            "examine the medication prescribing patterns for bipolar disorder in 14 hospitals and to "
            "compare them to recently published expert consensus guidelines for its treatment. Charts "
            "of 812 inpatients discharged in 1999 were read; 61% received lithium or valproate alone "
            "and 23% a combination, and antipsychotics were prescribed to 48%.")
    got = _rules("Medication prescribing patterns for patients with bipolar disorder in hospital settings", text)
    assert got not in (S.CONSENSUS, S.GUIDELINE)


def test_compliance_with_a_long_named_agency_guideline_is_the_subject():
    text = ("Meperidine is a poor choice for acute pain. We reviewed the charts of 230 patients who "
            "received meperidine in 1996 at a teaching hospital; 44% received it for more than 48 hours "
            "and 12% had renal failure, both against the advice of the agency's acute pain guidelines.")
    title = "Meperidine utilization and compliance with Agency for Health Care Policy and Research guidelines"
    assert _rules(title, text) != S.GUIDELINE


def test_participants_randomized_in_the_methods_make_a_trial_even_beside_prospective_study():
    text = ("Seven-day triple therapy is the first-line regimen for Helicobacter pylori, but some "
            "patients are not cured. The aim of this prospective study was to learn whether an extension "
            "to two weeks helps patients with certain pretreatment characteristics. A total of 142 "
            "infected patients were randomized to receive lansoprazole, amoxicillin and clarithromycin for "
            "one or for two weeks. Cure was assessed by breath test 8 weeks later; it was 78% after one "
            "week and 86% after two weeks (p = 0.2).")
    assert _rules("Extension of triple therapy for Helicobacter pylori to two weeks", text) == S.RCT
    # a random split of records into training and validation sets is no trial
    split = ("Lymph node metastasis decides the treatment of submucosal cancer. The records of 478 "
             "consecutive patients treated between 2005 and 2015 were collected retrospectively. All "
             "patients were randomly assigned to the training and validation cohorts, and a nomogram was "
             "built from the training cohort by logistic regression (AUC 0.81).")
    assert _rules("A nomogram predicting lymph node metastasis", split) != S.RCT


def test_a_title_that_argues_over_a_text_without_results_is_an_opinion_piece():
    text = ("The harms of beta blockers in older people have been overstated. This emphasis has led some "
            "to advise that these drugs not be used for hypertension in this age group. There are many "
            "reasons why that advice should not be followed. Older hypertensive patients often have silent "
            "coronary disease, in which beta blockers prevent infarction and sudden death, and the drugs "
            "are cheap and well tolerated by most.")
    assert _rules("Should beta blockers be used for hypertension in the elderly?", text) == S.EXPERT_OPINION
    # the same title form over a study that reports data of its own stays a study
    study = ("Maternal deaths are hard to count where few women give birth in facilities. In this paper we "
             "report maternal mortality and its causes from a demographic surveillance cohort followed "
             "since 2008 in a rural district, with verbal autopsies of every death of a woman aged 15 to 49.")
    assert _rules("Why mothers die: verbal autopsy data from a surveillance site", study) != S.EXPERT_OPINION


def test_a_point_of_view_in_the_title_of_a_named_cohort_study_is_the_cohort():
    text = ("Topical anaesthesia for cataract surgery spread quickly in the 1990s. We conducted a "
            "population-based cohort study of all 18,000 cataract operations done in the province in 1998, "
            "linking surgical records to hospital discharge data, and followed each patient for 90 days "
            "for serious complications. Complications were as rare after topical as after injected "
            "anaesthesia (0.4% vs 0.5%).")
    assert _rules("Topical anaesthesia for cataract surgery: a population-based perspective", text) == S.COHORT


def test_an_update_meta_analysis_and_a_meta_analytic_review_are_systematic_reviews():
    text = ("Results on the receptor polymorphism and lung cancer risk disagree. We searched PubMed, Web of "
            "Science and Embase up to March 2018 and pooled odds ratios from 14 case-control studies with a "
            "random-effects model. The polymorphism was not associated with lung cancer overall (OR 1.04, "
            "95% CI 0.91 to 1.19).")
    assert _rules("Receptor gene polymorphism and lung cancer risk: an update meta-analysis", text) == S.SYSTEMATIC_REVIEW
    text2 = ("Whether stimulant treatment in childhood leads to later substance use is debated. Six "
             "prospective studies following 674 treated and 360 untreated children were combined; the "
             "pooled estimate favoured treatment (OR 1.9). Stimulant therapy did not increase the risk.")
    assert _rules("Does stimulant therapy beget later substance abuse? A meta-analytic review",
                  text2) == S.SYSTEMATIC_REVIEW


def test_this_review_beside_a_self_named_systematic_review_is_the_systematic_review():
    text = ("Handover between the intensive care unit and the ward is a moment of risk. This review sums up "
            "what is known about improving it and the current review weighs the tools in use. We did a "
            "systematic review of four databases and found 11 eligible studies, 8 of them before-after "
            "designs. Structured handover tools improved the information passed on in most studies.")
    assert _rules("Improving clinical handover between intensive care and the general ward", text) == S.SYSTEMATIC_REVIEW


def test_trials_named_after_a_review_are_what_it_reads():
    text = ("Almotriptan is one of seven triptans for acute migraine. Its efficacy and tolerability are set "
            "against those of sumatriptan, zolmitriptan and rizatriptan, drug by drug, with attention to "
            "headache recurrence and to chest symptoms, which matter to patients choosing between them.")
    title = "How does almotriptan compare with other triptans? A review of data from placebo-controlled trials"
    assert _rules(title, text) == S.NARRATIVE_REVIEW
    # a nationwide review of records is a record review, not a review of the literature
    records = ("Shoulder instability and cervical stenosis give similar symptoms. We analysed a national "
               "insurance database to identify all patients with both conditions between 2007 and 2014 and "
               "followed them for two years after diagnosis for surgery on the neck or the shoulder.")
    assert _rules("Cervical stenosis in recurrent shoulder instability: a nationwide review of records",
                  records) != S.NARRATIVE_REVIEW


def test_case_control_by_name_measured_before_and_after_a_named_therapy_is_a_cohort():
    text = ("Sleep apnoea raises inflammatory cytokines. In this case-control study, 40 patients with severe "
            "sleep apnoea and 20 healthy controls were enrolled; cytokines and glucose were measured in the "
            "patients before and after three months of CPAP therapy. Interleukin-6 fell from 4.1 to 2.2 "
            "pg/ml (p < 0.01), to the level of the controls.")
    assert _rules("CPAP therapy lowers inflammatory cytokines in sleep apnoea: a case-control study", text) == S.COHORT


def test_consecutive_patients_enrolled_make_a_clinical_cohort_not_a_case_series():
    text = ("Hypotension is common under combined epidural and general anaesthesia. Two hundred consecutive "
            "patients having abdominal surgery under this technique were enrolled, and blood pressure and "
            "heart rate were recorded every five minutes until the end of surgery. Hypotension occurred in "
            "a third of them and was commoner in older patients.")
    assert _rules("Hypotension and bradycardia during combined epidural and general anaesthesia", text) != S.CASE_SERIES


def test_research_with_a_point_of_view_in_its_title_is_not_an_opinion_piece():
    text = ("Mixed emotions are common in negotiation. In two experiments we tested whether a counterpart's "
            "mixed emotions make negotiators more creative; participants were randomly paired and we "
            "measured the number of integrative offers. We found that mixed emotions raised creativity "
            "only when the counterpart was seen as cooperative.")
    assert _rules("Mixed emotions and creativity in negotiation: an interpersonal perspective", text) != S.EXPERT_OPINION
    # a piece that names itself a perspective stays one
    piece = ("Mental health services were stretched by the pandemic. In this perspective we set out why "
             "funding should follow need rather than history, and what health systems could change first.")
    assert _rules("Funding mental health after the pandemic: a perspective", piece) == S.EXPERT_OPINION


def test_consensus_gene_modules_are_no_consensus_statement():
    text = ("Co-expression networks differ between tissues. We built networks from 12 expression data sets "
            "and detected consensus gene modules shared by all of them, and modules not preserved in the "
            "infected tissue, which were enriched in immune pathways.")
    assert _rules("Detection of non-preserved consensus gene modules in an infection", text) != S.CONSENSUS


def test_an_objective_to_provide_guidelines_names_a_guideline_but_guidelines_recommending_do_not():
    text = ("Hypertension complicates one pregnancy in ten. To provide physicians with evidence-based "
            "guidelines for the drug treatment of hypertensive disorders in pregnancy, published trials were "
            "read and graded by a group of obstetricians and internists. Treatment is advised above 160/110 "
            "mm Hg; methyldopa, labetalol and nifedipine are the drugs of first choice.")
    assert _rules("Drug treatment of hypertensive disorders in pregnancy", text) == S.GUIDELINE
    review = ("Beta-blockers after myocardial infarction save lives. The American College of Cardiology and "
              "American Heart Association guidelines recommend that patients without contraindications "
              "receive a beta-blocker within days of the infarction. This article describes the trials behind "
              "that advice and the reasons it is often not followed.")
    assert _rules("Beta-blockers after myocardial infarction", review) != S.GUIDELINE


def test_records_read_once_for_a_prevalence_are_cross_sectional():
    text = ("Epstein-Barr virus infection is common in children. This retrospective study read the "
            "laboratory results of 18,000 children tested at one hospital between 2010 and 2019. "
            "Prevalence of infection rose over the decade, most in children under five.")
    assert _rules("Epstein-Barr virus infection in children at one hospital", text) == S.CROSS_SECTIONAL
