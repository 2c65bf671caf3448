"""The digest does not answer a related-but-different question with its neighbours (evidence.subject):
a rare word of the question must be in the sentence quoted or its context, and a sentence scoped
to another sex or age group is no answer. Passages are the demo corpus's own text."""

from __future__ import annotations

import pytest

from evidence.digest import compose_digest
from evidence.focus import question_focus
from evidence.schema import Evidence
from evidence.sentences import content_terms
from evidence.subject import Scope, SubjectCheck, out_of_scope, question_scope

AF_RATE = """Rate Control
- Rate control is recommended as the initial strategy for most patients with AF, particularly those who are asymptomatic or minimally symptomatic.
- Beta-blockers or non-dihydropyridine calcium channel blockers are first-line for rate control."""

TBI_SEIZURES = """Seizure Prophylaxis
- Prophylactic treatment with phenytoin is recommended to decrease the incidence of early post-traumatic seizures (within 7 days of injury) (Level IIA).
- Prophylactic use of phenytoin or valproate is not recommended for preventing late post-traumatic seizures (Level IIA)."""

TERIPARATIDE = """Anabolic Therapy
- In postmenopausal women with osteoporosis at very high risk of fracture, such as those with severe or multiple vertebral fractures, the guideline recommends teriparatide or abaloparatide treatment for up to 2 years for the reduction of vertebral and nonvertebral fractures."""

EGFR = """GFR Estimation
- Use the CKD-EPI 2021 creatinine equation (race-free) for initial eGFR estimation in adults (Grade 1B)."""

DENOSUMAB = """Denosumab
- A drug holiday or treatment interruption is NOT recommended with denosumab (Ungraded Good Practice Statement)."""



CKD_TITLE = "KDIGO 2024 Clinical Practice Guideline for the Evaluation and Management of Chronic Kidney Disease"


def passage(text: str, title: str, eid: str = "E1") -> Evidence:
    heading = text.splitlines()[0]
    return Evidence(evidence_id=eid, chunk_id=f"{eid}:0", document_id=eid, text=text, page_start=1, page_end=1,
                    title=title, heading_path=[heading])


@pytest.mark.parametrize(("question", "text", "title", "word"), [
    ("Is intravenous magnesium useful for rate control in atrial fibrillation?", AF_RATE,
     "2023 ACC/AHA/ACCP/HRS Guideline for Diagnosis and Management of Atrial Fibrillation", "magnesium"),
    ("Is tranexamic acid recommended after traumatic brain injury?", TBI_SEIZURES,
     "Guidelines for the Management of Severe Traumatic Brain Injury", "tranexamic"),
])
def test_a_question_whose_rare_word_no_sentence_names_is_not_addressed(question, text, title, word):
    digest = compose_digest(question, [passage(text, title)])
    assert digest.insufficient and digest.text.startswith("The indexed evidence does not address")
    assert word in digest.text.split("”:")[1] and "[E1]" not in digest.text  # says what is missing, quotes nothing


def test_a_phrasing_word_is_not_a_subject_and_the_answer_is_quoted():
    """"paused" is the asker's wording (a common verb form), not what the question is about."""
    digest = compose_digest("Can denosumab be paused for a drug holiday?", [passage(DENOSUMAB, "Osteoporosis")])
    assert not digest.insufficient and "NOT recommended with denosumab" in digest.text


def test_the_embedder_lets_a_sentence_say_a_rare_word_in_other_words():
    """"weighs" is "Body weight" in the guideline: no shared term or root, only the embedding sees
    it (cosine 0.89 >= 0.60); "magnesium" is not "calcium" (0.55)."""
    from indexing.embedding import load_embedder

    sentence = ("Dose Reduction: Reduce to 2.5 mg BID if the patient has at least two of the following characteristics: "
                "Age ≥ 80 years, Body weight ≤ 60 kg, or Serum creatinine ≥ 1.5 mg/dL. DOAC Dosing and Adjustments apixaban")
    focus = question_focus("My AF patient weighs 58 kg: what apixaban dose?", content_terms)
    assert [c.word for c in SubjectCheck(focus).missing(sentence, content_terms(sentence))] == ["weighs"]
    embedder = load_embedder()
    assert SubjectCheck(focus, embedder).missing(sentence, content_terms(sentence)) == []
    rate = "Beta-blockers or non-dihydropyridine calcium channel blockers are first-line for rate control."
    focus = question_focus("Is magnesium useful for rate control?", content_terms)
    assert [c.word for c in SubjectCheck(focus, embedder).missing(rate, content_terms(rate))] == ["magnesium"]


def test_a_passage_on_postmenopausal_women_does_not_answer_for_men():
    title = "Pharmacological Management of Osteoporosis in Postmenopausal Women: An Endocrine Society Guideline"
    men = compose_digest("Is teriparatide effective for osteoporosis in men?", [passage(TERIPARATIDE, title)])
    assert men.insufficient and "another population" in men.text and "[E1]" not in men.text
    women = compose_digest("Is teriparatide recommended for a woman with severe osteoporosis and vertebral fractures?", [passage(TERIPARATIDE, title)])
    assert not women.insufficient and "teriparatide or abaloparatide" in women.text


def test_an_adult_recommendation_does_not_answer_for_a_child():
    question = "Which equation should be used to estimate GFR in a 10-year-old with kidney disease?"
    digest = compose_digest(question, [passage(EGFR, CKD_TITLE)])
    assert digest.insufficient and "[E1]" not in digest.text
    adult = compose_digest("Which equation should be used to estimate GFR in an adult with kidney disease?",
                           [passage(EGFR, CKD_TITLE)])
    assert not adult.insufficient and "CKD-EPI 2021" in adult.text


def test_question_scope_reads_sex_age_and_pregnancy_and_ignores_child_pugh():
    assert question_scope("Is teriparatide effective in men?") == Scope(sex="male")
    assert question_scope("How much alcohol can a woman with hypertension drink?") == Scope(sex="female")
    assert question_scope("GFR equation for a 10-year-old?") == Scope(age="child")
    assert question_scope("My AF patient is 82: what apixaban dose?") == Scope()  # an age without "years old"
    assert question_scope("Fluids for an 80-year-old in DKA?") == Scope(age="older")
    assert question_scope("What Child-Pugh class contraindicates TIPS?") == Scope()
    assert question_scope("妊娠期糖尿病的糖化血红蛋白控制目标是多少？").pregnant
    assert out_of_scope(Scope(sex="male"), "postmenopausal women with osteoporosis") == "it speaks of women"
    assert out_of_scope(Scope(sex="male"), "Men: ... Women: ...") is None  # both named: the label decides (evidence.focus)
    assert out_of_scope(Scope(age="child"), "Child-Pugh class C in adults") == "it speaks of adults"
    assert out_of_scope(Scope(age="child"), "The Child-Pugh score assesses the severity of chronic liver disease") is not None
    assert out_of_scope(Scope(pregnant=True), "对大多数非妊娠成年2型糖尿病患者，合理的HbA1c控制目标为<7%（A）。") is not None
    assert out_of_scope(Scope(pregnant=True), "LMWH is the preferred anticoagulant in pregnancy") is None


DKA_TRANSITION = """Transition to Subcutaneous Insulin
- Must overlap IV insulin infusion by 1-2 hours after administering the first dose of subcutaneous basal insulin before discontinuing the IV infusion."""

IDARUCIZUMAB = """Dabigatran Reversal
- Idarucizumab dosing: 5 g IV administered as two consecutive infusions of 2.5 g each (each infused over 5-10 minutes, or as bolus injection)."""


@pytest.mark.parametrize(("question", "text", "quoted"), [
    ("How long should basal insulin overlap the insulin drip before stopping it?", DKA_TRANSITION, "Must overlap IV insulin infusion"),
    ("How is Praxbind given to reverse dabigatran?", IDARUCIZUMAB, "Idarucizumab dosing"),
])
def test_a_lay_or_brand_word_is_named_by_its_clinical_name(question, text, quoted):
    """"drip" and "Praxbind" are rare words no guideline prints; the guideline's "infusion" and
    "idarucizumab" name them (evidence.synonyms.LAY_TERMS, BRAND_NAMES)."""
    digest = compose_digest(question, [passage(text, "Guideline")])
    assert not digest.insufficient and quoted in digest.text


def test_a_brand_of_another_drug_is_still_not_named():
    """Andexxa is andexanet alfa, not idarucizumab: the idarucizumab sentence does not answer it."""
    digest = compose_digest("How is Andexxa given to reverse dabigatran?", [passage(IDARUCIZUMAB, "Guideline")])
    assert digest.insufficient and "[E1]" not in digest.text


def test_a_baby_is_a_child_for_the_scope_check():
    assert question_scope("Target temperature for cooling a baby?").age == "child"
