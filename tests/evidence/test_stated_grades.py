"""Stated grades: every scheme quoted exactly, normalised, tied to its sentence; no false positives."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from evidence.stated_grades import extract_stated_grades, scheme_hint_for


def one(text: str, **kw):
    grades = extract_stated_grades(text, **kw)
    assert len(grades) == 1, [g.quote for g in grades]
    return grades[0]


def fields(g):
    return (g.scheme, g.quote, g.strength, g.certainty, g.direction)


# ---- positives: (text, hint, expected (scheme, quote, strength, certainty, direction)) ----------
POSITIVES = [
    # ACC/AHA
    ("Anticoagulation is recommended (Class I, LOE A).", None, ("acc_aha", "Class I, LOE A", "I", "A", "for")),
    ("Ezetimibe is reasonable (Class IIa, Level of Evidence B-R).", None,
     ("acc_aha", "Class IIa, Level of Evidence B-R", "IIa", "B-R", "for")),
    ("PCSK9 inhibitors may be considered (Class IIb, LOE C-LD).", None, ("acc_aha", "Class IIb, LOE C-LD", "IIb", "C-LD", "for")),
    ("Niacin is not recommended (Class III: No Benefit, LOE B-R).", None,
     ("acc_aha", "Class III: No Benefit, LOE B-R", "III: No Benefit", "B-R", "against")),
    ("Hypervolemia should not be induced (Class III: Harm, LOE B-NR).", None,
     ("acc_aha", "Class III: Harm, LOE B-NR", "III: Harm", "B-NR", "against")),
    ("Warming adjuncts are reasonable (COR 2b, LOE B-NR).", None, ("acc_aha", "COR 2b, LOE B-NR", "IIb", "B-NR", "for")),
    ("PPV should start within 60 seconds (COR 1, LOE C-EO).", None, ("acc_aha", "COR 1, LOE C-EO", "I", "C-EO", "for")),
    ("Aspirin is recommended (COR 1 / LOE A).", None, ("acc_aha", "COR 1 / LOE A", "I", "A", "for")),
    ("Ivabradine should be considered (Class IIa, level of evidence B).", None,
     ("acc_aha", "Class IIa, level of evidence B", "IIa", "B", "for")),
    ("Statins are contraindicated in pregnancy (Class III: Harm, Level of Evidence C-EO).", None,
     ("acc_aha", "Class III: Harm, Level of Evidence C-EO", "III: Harm", "C-EO", "against")),
    # ESC
    ("Measure BP in both arms (Class I, Level A).", None, ("esc", "Class I, Level A", "I", "A", "for")),
    ("Home monitoring should be considered (IIa B).", None, ("esc", "IIa B", "IIa", "B", "for")),
    ("Aspirin is recommended (Class I, Level of Evidence A).", "esc", ("esc", "Class I, Level of Evidence A", "I", "A", "for")),
    # GRADE wording
    ("We recommend norepinephrine first line (Strong recommendation, moderate quality of evidence).", None,
     ("grade", "Strong recommendation, moderate quality of evidence", "strong", "moderate", "for")),
    ("We suggest balanced crystalloids (conditional recommendation, low certainty of evidence).", None,
     ("grade", "conditional recommendation, low certainty of evidence", "conditional", "low", "for")),
    ("Allopurinol is preferred (Strong, Moderate).", None, ("grade", "Strong, Moderate", "strong", "moderate", "for")),
    ("We suggest against extended prophylaxis (Weak recommendation, Very Low quality of evidence).", None,
     ("grade", "Weak recommendation, Very Low quality of evidence", "conditional", "very low", "against")),
    ("The panel recommends against routine bridging (strong recommendation against, high certainty).", None,
     ("grade", "strong recommendation against, high certainty", "strong", "high", "against")),
    ("Indefinite therapy is suggested (conditional recommendation, moderate certainty ⨁⨁⨁○).", None,
     ("grade", "conditional recommendation, moderate certainty ⨁⨁⨁○", "conditional", "moderate", "for")),
    ("Use KDIGO criteria to stage AKI (Grade 1B).", None, ("grade", "Grade 1B", "strong", "moderate", "for")),
    ("We suggest not using dopamine (2C).", None, ("grade", "2C", "conditional", "low", "against")),
    ("Monitor urine output (Not Graded).", None, ("grade", "Not Graded", "not graded", None, None)),
    # "do not interrupt X" keeps X going: a recommendation for it
    ("Do not interrupt denosumab (Ungraded Good Practice Statement).", None,
     ("grade", "Ungraded Good Practice Statement", "good practice statement", None, "for")),
    # USPSTF
    ("The USPSTF recommends screening adults aged 50 to 75 (Grade A).", None, ("uspstf", "Grade A", "A", None, "for")),
    ("Offer screening to women aged 40 to 74 years. Grade B recommendation.", None,
     ("uspstf", "Grade B recommendation", "B", None, "for")),
    ("The USPSTF recommends against vitamin E supplements (D recommendation).", None,
     ("uspstf", "D recommendation", "D", None, "against")),
    ("Evidence is insufficient to assess screening for COPD: this is an I statement.", None,
     ("uspstf", "I statement", "I", "insufficient", "neutral")),
    # CDC / HICPAC / ACIP
    ("Perform hand hygiene before patient contact (Category IA).", None, ("cdc", "Category IA", "IA", None, "for")),
    ("Do not routinely replace peripheral catheters more often than every 72 hours (Category IB).", None,
     ("cdc", "Category IB", "IB", None, "against")),
    ("ACIP recommends HPV vaccination at age 11 (Category A, Evidence type 2).", None,
     ("cdc", "Category A, Evidence type 2", "A", "2", "for")),
    # Chinese
    ("推荐静脉溶栓治疗（I级推荐，A级证据）。", None, ("chinese", "I级推荐，A级证据", "I", "A", "for")),
    ("非HDL-C可作为次要干预靶点（IIa类推荐，B级证据）。", None, ("chinese", "IIa类推荐，B级证据", "IIa", "B", "for")),
    ("应使用他汀（推荐类别 I，证据等级 A）。", None, ("chinese", "推荐类别 I，证据等级 A", "I", "A", "for")),
    ("不推荐常规使用抗生素（推荐强度：2，证据质量：低）。", None, ("chinese", "推荐强度：2，证据质量：低", "conditional", "low", "against")),
    ("推荐二甲双胍作为首选（1A）。", None, ("chinese", "1A", "strong", "high", "for")),
    ("有液体潴留的心衰患者均应使用利尿剂（Ⅰ类，C级）。", None, ("chinese", "Ⅰ类，C级", "I", "C", "for")),
    ("推荐对ALT持续异常者抗病毒治疗（A1）。", None, ("chinese", "A1", "strong", "high", "for")),
    ("血压降至<140/90 mmHg（Ⅰ，A）。", None, ("chinese", "Ⅰ，A", "I", "A", "for")),
    # PDF tables that lost their borders, key-value forms, IDSA/DHHS letter-roman grades
    ("2a B-NR 3. In patients with HFrEF, ivabradine can be beneficial.", None, ("acc_aha", "2a B-NR", "IIa", "B-NR", "for")),
    ("3: Harm B-R 4. Dihydropyridine CCBs are not recommended in HFrEF.", None,
     ("acc_aha", "3: Harm B-R", "III: Harm", "B-R", "against")),
    ("Aspirin is recommended in all patients with ACS. I A", None, ("esc", "I A", "I", "A", "for")),
    ("Use chlorhexidine. Strength of recommendation: strong; Quality of evidence: high.", None,
     ("grade", "Strength of recommendation: strong; Quality of evidence: high", "strong", "high", "for")),
    ("Daptomycin is an acceptable alternative (B-II).", None, ("other", "B-II", "B", "II", "for")),
    ("Start ART immediately in pregnancy (AI).", None, ("other", "AI", "A", "I", "for")),
    ("We suggest prophylaxis [2C].", None, ("grade", "2C", "conditional", "low", "for")),
    ("重症患者应尽早启动肠内营养（强推荐，中等质量证据）。", None, ("chinese", "强推荐，中等质量证据", "strong", "moderate", "for")),
    # NICE wording (needs the NICE hint or NICE's numbered recommendations)
    ("1.4.3 Do not offer calcium supplements to reduce blood pressure.", None, ("nice", "Do not offer", "strong", None, "against")),
    ("Consider ambulatory monitoring to confirm the diagnosis.", "nice", ("nice", "Consider", "conditional", None, "for")),
    ("Offer endoscopy within 24 hours of admission.", "nice", ("nice", "Offer", "strong", None, "for")),
]


@pytest.mark.parametrize("text,hint,expected", POSITIVES, ids=[e[1] for _, _, e in POSITIVES])
def test_each_scheme_is_quoted_and_normalised(text, hint, expected):
    g = one(text, scheme_hint=hint)
    assert fields(g) == expected
    assert g.quote in text  # exactly as printed
    assert g.recommendation and g.quote in g.recommendation or g.recommendation in text.replace("**", "")


NEGATIVES = [
    "Class I obesity is associated with higher risk.",
    "Patients with NYHA class III heart failure were enrolled.",
    "In Killip class II patients, mortality was higher.",
    "Class II antiarrhythmic drugs (beta-blockers) slow conduction.",
    "Most patients had type 2 diabetes and grade 3 hypertension.",
    "Stage A heart failure describes patients at risk.",
    "See Figure 1A and Table 2B for details.",
    "Grade I hepatic encephalopathy was present in 12 patients.",
    "Los Angeles grade B oesophagitis was found at endoscopy.",
    "A category II fetal heart tracing needs evaluation.",
    "There was a strong association between smoking and cancer.",
    "The level I trauma centre admitted 400 patients.",
    "2型糖尿病患者合并1级高血压。",
    "Consider the patient's preferences and offer support.",  # plain prose without a NICE context
    "1 A patient was admitted with chest pain.",
    "The history was taken twice. I A",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_no_false_positives(text):
    assert extract_stated_grades(text) == []


def test_grade_is_linked_to_its_own_sentence_and_page():
    text = ("Dual therapy should be brief. Ticagrelor is recommended over clopidogrel (Class I, LOE B-R). "
            "Prasugrel is not recommended after stroke (Class III: Harm, LOE B-R).")
    a, b = extract_stated_grades(text, page=7)
    assert a.recommendation == "Ticagrelor is recommended over clopidogrel (Class I, LOE B-R)."
    assert b.recommendation.startswith("Prasugrel is not recommended") and b.direction == "against"
    assert a.page == b.page == 7


def test_leading_grade_links_to_what_follows_and_trailing_category_to_what_precedes():
    lead = one("Class I, LOE A: aspirin is recommended after myocardial infarction.")
    assert "aspirin is recommended" in lead.recommendation
    trailing = one("Clean the skin with chlorhexidine before insertion.\nCategory IA")
    assert trailing.recommendation.startswith("Clean the skin with chlorhexidine")


def test_table_grade_columns_and_rows():
    table = ("| Criteria | Recommendation | LOE |\n|---|---|---|\n"
             "| LVEF ≤ 35% on GDMT | Class I | A |\n"
             "| Age > 75, new initiation | Consider statin | C |\n")
    grades = extract_stated_grades(table)
    assert [(g.quote, g.strength, g.certainty) for g in grades][:1] == [("Class I | A", "I", "A")]
    assert grades[0].recommendation == "LVEF ≤ 35% on GDMT"
    severity = "| Grade | West Haven Criteria |\n|---|---|\n| Grade II | Lethargy |\n| Grade III | Somnolence |\n"
    assert extract_stated_grades(severity) == []
    cor_loe = "| Condition | SBP Target | COR/LOE |\n|---|---|---|\n| Heart failure | < 130 | I/C-EO |\n"
    g = one(cor_loe)
    assert (g.scheme, g.strength, g.certainty, g.recommendation) == ("acc_aha", "I", "C-EO", "Heart failure — < 130")


def test_scheme_hints_from_publishers():
    assert scheme_hint_for("ESC") == "esc"
    assert scheme_hint_for("ACC/AHA") == "acc_aha"
    assert scheme_hint_for("NICE") == "nice"
    assert scheme_hint_for("ADA") == "ada"
    assert scheme_hint_for("U.S. Preventive Services Task Force") == "uspstf"
    assert scheme_hint_for("中华医学会") == "chinese"
    assert scheme_hint_for(None) is None
    ada = one("Add a PCSK9 inhibitor for secondary prevention (Grade B).", scheme_hint="ada")
    assert (ada.scheme, ada.strength, ada.certainty) == ("other", None, "B")


# ---- the open-medicine demo corpus --------------------------------------------------------------

CONTENT = None


def _corpus():
    from indexing.readers.demo import open_medicine_dir

    root = open_medicine_dir()
    registry = {r["id"]: r for r in json.loads((root / "registry.json").read_text(encoding="utf-8"))}
    for path in sorted((root / "content").glob("*/*.md")):
        entry = registry.get(path.parent.name, {})
        yield path, scheme_hint_for(entry.get("organization"), entry.get("title")), path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def corpus_grades():
    return [(path, text, extract_stated_grades(text, scheme_hint=hint)) for path, hint, text in _corpus()]


def test_every_parenthesised_class_and_grade_in_the_corpus_is_found(corpus_grades):
    printed = re.compile(r"\((?:Class (?:I|IIa|IIb|III)\b[^)]*|COR [123][ab]?[^)]*|Grade [12][A-D][^)]*|"
                         r"(?:Strong|Conditional|Weak)(?: recommendation)?, [^)]*|Not Graded)\)", re.IGNORECASE)
    missed = []
    total = 0
    for path, text, grades in corpus_grades:
        for m in printed.finditer(text):
            total += 1
            if not any(g.quote in m.group(0) for g in grades):
                missed.append(f"{path.parent.name}: {m.group(0)}")
    assert total > 700
    assert not missed, missed[:10]


def test_corpus_grades_are_normalised_and_never_severity_scales(corpus_grades):
    all_grades = [g for _, _, grades in corpus_grades for g in grades]
    assert len(all_grades) > 1000
    schemes = {g.scheme for g in all_grades}
    assert {"acc_aha", "esc", "grade", "nice"} <= schemes
    for g in all_grades:
        assert not re.search(r"NYHA|Killip|West Haven", g.quote)
        if g.scheme == "acc_aha" and g.strength:
            assert g.strength in {"I", "IIa", "IIb", "III", "III: No Benefit", "III: Harm"}, g.quote
        if g.scheme == "grade" and g.strength:
            assert g.strength.split("/")[0] in {"strong", "conditional", "not graded", "good practice statement"}, g.quote
        if g.scheme in ("acc_aha", "esc") and g.strength and g.strength.startswith("III"):
            assert g.direction == "against", g.quote


def test_known_corpus_recommendations(corpus_grades):
    by_file = {(p.parent.name, p.stem): grades for p, _, grades in corpus_grades}
    af = by_file[("acc_aha_af_2023", "anticoagulation")]
    harm = [g for g in af if g.strength == "III: No Benefit"]
    assert harm and all(g.direction == "against" for g in harm)
    assert any("No antithrombotic therapy is recommended" in g.recommendation for g in harm)
    nice = [g for (gid, _), grades in by_file.items() if gid == "nice_ugib_2012" for g in grades]
    assert any(g.quote == "Do NOT offer" and g.direction == "against" for g in nice)
    kdigo = [g for (gid, _), grades in by_file.items() if gid == "kdigo_aki_2012" for g in grades]
    assert any(g.quote == "Grade 1A" and g.strength == "strong" and g.certainty == "high" for g in kdigo)
    assert any(g.strength == "not graded" for g in kdigo)
