"""Conflicts: opposite recommendations on the same intervention across documents, and nothing else."""

from __future__ import annotations

from evidence.conflicts import find_conflicts
from evidence.schema import Evidence
from evidence.stated_grades import extract_stated_grades


def ev(eid: str, doc: str, text: str, graded: bool = True) -> Evidence:
    return Evidence(evidence_id=eid, chunk_id=f"{doc}:{eid}", document_id=doc, text=text, page_start=1, page_end=1,
                    title=doc, stated_grades=extract_stated_grades(text) if graded else [])


def test_opposite_graded_recommendations_in_two_documents_conflict():
    conflicts = find_conflicts([
        ev("E1", "d1", "Tranexamic acid is recommended in trauma patients with major bleeding (Class I, LOE A)."),
        ev("E2", "d2", "We recommend against tranexamic acid in patients with gastrointestinal bleeding "
                       "(strong recommendation, high certainty of evidence)."),
        ev("E3", "d3", "Statins are recommended in adults with diabetes (Class I, LOE A)."),
    ])
    assert len(conflicts) == 1
    c = conflicts[0]
    assert c.topic == "tranexamic acid" and c.for_ids == ["E1"] and c.against_ids == ["E2"]
    assert "populations may differ" in c.note and "gastrointestinal bleeding" in c.note


def test_ungraded_explicit_wording_counts_and_same_population_has_plain_note():
    conflicts = find_conflicts([
        ev("E1", "a", "Bridging anticoagulation should be used in patients with mechanical valves.", graded=False),
        ev("E2", "b", "Bridging anticoagulation is not recommended in patients with mechanical valves.", graded=False),
    ])
    assert [(c.for_ids, c.against_ids) for c in conflicts] == [(["E1"], ["E2"])]
    assert "populations" not in conflicts[0].note


def test_no_conflict_within_one_document_same_direction_or_different_interventions():
    same_doc = [ev("E1", "d1", "Aspirin is recommended after MI (Class I, LOE A)."),
                ev("E2", "d1", "Aspirin is not recommended in children (Class III: Harm, LOE C-EO).")]
    same_direction = [ev("E1", "d1", "Aspirin is recommended after MI (Class I, LOE A)."),
                      ev("E2", "d2", "Aspirin is recommended after stenting (Class I, LOE B-R).")]
    different = [ev("E1", "d1", "Heparin is recommended (Class I, LOE A)."),
                 ev("E2", "d2", "Warfarin is not recommended (Class III: No Benefit, LOE B-R).")]
    for case in (same_doc, same_direction, different):
        assert find_conflicts(case) == []


def test_differing_qualifiers_are_not_a_conflict():
    # "routine" corticosteroids refused vs corticosteroids for septic shock: two different recommendations.
    assert find_conflicts([
        ev("E1", "d1", "Routine use of corticosteroids is not recommended (Grade 2C)."),
        ev("E2", "d2", "Corticosteroids are recommended in septic shock (Grade 1B)."),
    ]) == []


def test_mentions_without_a_recommendation_are_ignored():
    assert find_conflicts([
        ev("E1", "d1", "Aspirin reduced events by 20% in the trial.", graded=False),
        ev("E2", "d2", "Aspirin is not recommended for primary prevention in older adults.", graded=False),
    ]) == []


def test_chinese_conflict_and_missing_evidence_ids_fall_back_to_chunk_ids():
    items = [ev("", "d9", "推荐使用阿司匹林进行二级预防（I级推荐，A级证据）。"),
             ev("", "d10", "不推荐使用阿司匹林进行一级预防。", graded=False)]
    (c,) = find_conflicts(items)
    assert c.topic == "阿司匹林"
    assert c.for_ids == ["d9:"] and c.against_ids == ["d10:"]
    assert "二级预防" in c.note and "一级预防" in c.note


def test_empty_input():
    assert find_conflicts([]) == []
