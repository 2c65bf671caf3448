"""Grading rules added while tuning on the real PubMed abstracts (bench/data/grading, tuning half).

Each case (tests/evidence/data/rule_cases.json, one table instead of one near-identical test per
rule) is one rule a user relies on, written as a short abstract in the wording real abstracts
use (the wording, not the text, comes from the tuning misses listed by
`python bench/grading_quality.py --misses`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evidence.grading import grade_document
from indexing.labels import SourceType

S = SourceType


CASES = json.loads((Path(__file__).parent / "data" / "rule_cases.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", CASES["decides"], ids=lambda c: c["rule"])
def test_rule_decides_the_source_type(case: dict):
    g = grade_document(case["title"], case["text"])
    assert g.source_type == SourceType(case["expected"]), g.reasons
    if case["reason_quotes"] is not None:
        assert any(case["reason_quotes"] in r for r in g.reasons), g.reasons


@pytest.mark.parametrize("case", CASES["does_not_name"], ids=lambda c: c["rule"])
def test_rule_keeps_a_mention_from_naming_the_type(case: dict):
    assert grade_document(case["title"], case["text"]).source_type != SourceType(case["not"])


def test_a_registry_named_after_guidelines_is_not_a_guideline():
    text = ("We used data from a national cardiology guidelines registry to "
            "compare persistence of medication use after discharge; 4,000 patients were followed for 12 months.")
    g = grade_document("Persistence of evidence-based medication use after discharge", text)
    assert g.source_type == S.COHORT and not any("guideline" in r for r in g.reasons[:1])


def test_laboratory_results_without_clinical_words_stay_other_not_a_review():
    text = ("Iron enhances the strength of the composite but reduces ductility. Manganese improves ductility: the "
            "fracture strain increases from 15.9 to 17.9 % with 2 at.% Mn. Cobalt improves strength and ductility "
            "together, with compression strength rising from 1829 to 1906 MPa. The large bulk TiB2 phase at the grain "
            "boundaries explains the loss of ductility with iron, and the refined lamellar colonies explain the gain "
            "with manganese and cobalt.")
    title = "Effect of Mn, Fe and Co on the strength of TiB2/TiAl composites"
    rules = grade_document(title, text, model=False)
    assert rules.source_type == S.OTHER and rules.confidence <= 0.4  # the rules alone: no design stated
    # The learned reading knows such wording as non-clinical work: still other, now said with confidence.
    assert grade_document(title, text).source_type == S.OTHER


def test_a_self_named_commentary_is_expert_opinion_even_when_it_gives_an_overview():
    text = ("This commentary provides an overview of how the pandemic changed the fishing industry. We argue that "
            "support schemes reached too few crews and that port health services must be planned with them.")
    g = grade_document("", text)
    assert g.source_type == SourceType.EXPERT_OPINION, g.reasons
    assert grade_document("Pharmacological management of chronic pain: a clinician's perspective",
                          "Several opioids are relatively contraindicated in chronic pain. " * 8).source_type == SourceType.EXPERT_OPINION


def test_a_title_naming_guidelines_and_a_study_design_is_the_study():
    text = ("General practices were randomly assigned to receive the guideline with educational outreach or the "
            "guideline by post. Adherence was measured in 1,200 patients; outreach raised it (p<0.01).")
    g = grade_document("Guideline dissemination for depression in general practice: a randomised controlled trial", text)
    assert g.source_type == SourceType.RCT and any("study about guidelines" in r for r in g.reasons), g.reasons
    own = grade_document("Clinical practice guideline for the management of atrial fibrillation",
                         "The panel recommends rate control as first-line therapy (strong recommendation).")
    assert own.source_type == SourceType.GUIDELINE
