"""The learned design reading (evidence/design_model.py) and how grade_document uses it."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from evidence import design_model
from evidence.design_model import DesignModel, combine, text_features, tokens
from evidence.grading import LOW_CONFIDENCE, grade_document, rule_reading
from indexing.labels import SourceType

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / "bench" / "data" / "grading" / "pubmed_dev.jsonl"
TUNE = {r["id"]: r for r in map(json.loads, REAL.read_text(encoding="utf-8").splitlines()) if r["split"] == "tune"}
# Tuning abstracts (labels given by reading) that state no design the rules can read; the model,
# trained on the tuning half, must read them as labelled.
SILENT = [("pmid:30702226", "rct"), ("pmid:26702175", "cohort"), ("pmid:30687573", "case_series"),
          ("pmid:23419741", "narrative_review")]
UNSTATED = ("Pain after knee surgery limits early mobilisation. Patients received the drug in one of two doses for "
            "twelve weeks after surgery. Pain, mobility and adverse events were recorded at each visit and compared "
            "between the two doses; mobility improved more with the higher dose, and adverse events were few.")


def test_shipped_weights_are_plain_json_and_consistent():
    assert design_model.WEIGHTS.read_bytes().lstrip().startswith(b"{")  # JSON, never a pickle
    model = design_model.load()
    assert model is not None
    assert set(model.classes) == {t.value for t in SourceType} - {"textbook"}
    assert model.coef.shape == (len(model.classes), len(model.vocabulary)) == (len(model.classes), len(model.idf))
    settings = model.settings
    assert 0.0 <= settings["min_probability"] < 1.0 and 0.0 <= settings["rule_bonus"] < 1.0
    assert settings["cv"]["design_macro_f1"] > settings["cv_rules_only"]["design_macro_f1"]


@pytest.mark.parametrize(("record_id", "label"), SILENT)
def test_real_abstracts_that_name_no_design_are_read_by_the_model(record_id: str, label: str):
    row = TUNE[record_id]
    rule_type, explicit, _ = rule_reading(row["title"], row["abstract"])
    assert not explicit and rule_type.value != label  # the rules alone miss it
    probs = design_model.load().probabilities(row["title"], row["abstract"])
    assert max(probs, key=probs.get) == label
    g = grade_document(row["title"], row["abstract"])
    assert g.source_type.value == label
    assert any("learned reading" in r for r in g.reasons), g.reasons


def test_an_explicit_design_statement_keeps_the_rules_answer():
    text = ("Narrative reviews of this question disagree. We randomly assigned 120 adults to drug or placebo; the "
            "primary outcome was pain at six weeks.")
    g = grade_document("Drug X for back pain: a randomized controlled trial", text)
    assert g.source_type == SourceType.RCT
    assert not any("learned reading" in r for r in g.reasons)


def test_a_low_probability_is_reported_as_low_confidence_not_adopted():
    flat = DesignModel(("rct", "cohort", "other"), {"drug": 0}, np.ones(1), np.zeros((3, 1)), np.zeros(3),
                       {"min_probability": 0.5, "rule_bonus": 0.0})
    g = grade_document("Drug X in patients", UNSTATED, model=flat)
    assert g.confidence <= LOW_CONFIDENCE
    assert any("under 0.50" in r and "kept at low confidence" in r for r in g.reasons), g.reasons


def test_rules_only_short_snippets_and_chinese_text_skip_the_model():
    assert len(UNSTATED) >= design_model.MIN_CHARS and DesignModel.applies_to("", UNSTATED)
    assert not any("learned reading" in r for r in grade_document("Drug X in patients", UNSTATED, model=False).reasons)
    assert not DesignModel.applies_to("", "Patients received the drug for twelve weeks.")
    assert not DesignModel.applies_to("", "本研究纳入120例患者，随访12个月。" * 30)


def test_numbers_collapse_to_one_token_and_title_words_are_marked():
    assert tokens("12.5 mg in 1,200 patients (p<0.05)") == ["#", "mg", "in", "#", "patients", "p", "<", "#"]
    grams = text_features("Placebo trial", "Patients got placebo.")
    assert grams["t:placebo"] == 1 and grams["placebo"] == 2 and grams["patients got"] == 1
    assert text_features("", "Patients got placebo.")["no_title"] == 1


def test_training_is_reproducible_and_matches_inference_features():
    pytest.importorskip("sklearn")
    spec = importlib.util.spec_from_file_location("train_design_model", ROOT / "bench" / "train_design_model.py")
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    rows = [dict(r, grams=text_features(r["title"], r["abstract"]))
            for label in ("rct", "cohort", "other") for r in [r for r in TUNE.values() if r["label"] == label][:15]]
    first, second = train.fit(rows, 20.0), train.fit(rows, 20.0)  # matrix() asserts train == inference features
    assert np.array_equal(first.coef, second.coef) and first.vocabulary == second.vocabulary


def test_one_combine_policy_for_grader_and_training():
    """`combine` is what grade_document applies and what the training script cross-validates."""
    probs = {"rct": 0.5, "cohort": 0.35, "other": 0.15}
    settings = {"rule_bonus": 0.2, "min_probability": 0.3}
    assert combine("cohort", True, probs, settings).kind == "cohort"  # explicit: the rules' answer stays
    assert not combine("cohort", True, probs, settings).adopted
    assert combine("cohort", False, probs, settings).kind == "cohort"  # 0.35 + 0.2 beats 0.5
    assert combine("other", False, probs, settings).kind == "rct" and combine("other", False, probs, settings).adopted
    low = combine("other", False, {"rct": 0.25, "cohort": 0.25, "other": 0.2, "case_series": 0.3}, settings)
    assert low.kind == "other" and low.low_confidence and low.guess_probability == 0.2  # boosted, yet p 0.2 < 0.3
    spec = importlib.util.spec_from_file_location("train_design_model", ROOT / "bench" / "train_design_model.py")
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    assert train.decide({"rule": "other", "explicit": False}, probs, 0.2, 0.3) == "rct"


def test_cue_block_features_match_between_training_and_inference_and_round_trip_json():
    pytest.importorskip("sklearn")
    spec = importlib.util.spec_from_file_location("train_design_model", ROOT / "bench" / "train_design_model.py")
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    rows = []
    for label in ("rct", "cohort", "other"):
        for r in [r for r in TUNE.values() if r["label"] == label][:10]:
            _, _, cues = rule_reading(r["title"], r["abstract"])
            rows.append(dict(r, grams=text_features(r["title"], r["abstract"]), cues=cues))
    model = train.fit(rows, 20.0, cue_scale=0.5)  # matrix() asserts the cue block equals DesignModel.vector's
    assert model.cue_names and model.coef.shape[1] == len(model.vocabulary) + len(model.cue_names)
    again = DesignModel.from_json(json.loads(json.dumps(model.to_json())))
    r = rows[0]
    assert again.probabilities(r["title"], r["abstract"], r["cues"]) == pytest.approx(
        model.probabilities(r["title"], r["abstract"], r["cues"]), abs=1e-3)
    broken = dict(model.to_json(), cue_features=list(model.cue_names)[:-1])
    with pytest.raises(ValueError, match="cue features"):
        DesignModel.from_json(broken)
