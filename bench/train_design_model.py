"""Train the learned design reading (`evidence/design_model.json`) on the tuning half, reproducibly.

Run:
    python bench/train_design_model.py            # cross-validate the settings, train, write the weights
    python bench/train_design_model.py --cv-only  # cross-validation table only, weights untouched

Data: `bench/data/grading/pubmed_dev.jsonl`, records with `split: tune` only (the held-back set is
never read here). Each record's title + abstract gives word n-gram features and the rules' cues
(`evidence.grading.rule_reading`: its type, whether the text states it explicitly, and the cue
features); the rules' reading and the model's probabilities are combined by the one shared policy
`evidence.design_model.combine`, the same function the grader calls.

Model: multinomial logistic regression (scikit-learn's lbfgs, already installed with
sentence-transformers; used here only, inference is numpy in `evidence/design_model.py`).
Settings are chosen by stratified 5-fold cross-validation (seed 0) on the tuning half, over the
regularisation C, the weight of the cue block (`cue_scale`; 0 = n-grams only, session 5's model),
the head start given to the rules' reading where the text states no design
(`rule_bonus`), and the probability under which the model's guess is reported as low confidence
instead of adopted (`min_probability`). An explicit statement always keeps the rules' answer.
Tried and dropped in session 5 (same CV): the rules' reading as input features (the model learned
to copy the rules: score 0.760 vs 0.773), letting the model overrule explicit statements (0.73
macro-F1 over all classes vs 0.75), C of 5 (a little worse than 20 and 80), unweighted classes.
Tried in session 6 (1,316 tuning abstracts, same CV): the rules' cues as a second feature block
(`cue_scale` 0.3 / 0.5 / 1.0): RCT F1 up (0.863 vs 0.848) but the choosing score down (0.755 / 0.744 /
0.751 vs 0.767 without), so the grid keeps them and the CV picks n-grams only; the code path stays
for a later, larger tuning set. Session 7 (1,733 tuning abstracts, session 6's held set added; same
CV and grid): before the session's rule changes the CV chose n-grams only again (0.7652 vs 0.7577 /
0.7495 with cues); after them (acronym masking, guidelines named as a subject, "perspective" over a
review) 0.7766 (design macro-F1 0.803, all-class 0.750) vs 0.7696 / 0.7593, n-grams only again.
Session 8 (2,108 tuning abstracts, session 7's held set added; same CV and grid): before the session's
rule changes 0.7686 (design 0.798, all-class 0.739; `bench/results/design_model_cv_session8_before.json`)
vs 0.7652 / 0.7548 with cues; after them (guidelines issued vs discussed, question titles, random
allocation in the methods, argued titles, systematic reviews that also say "this review", reviews of
trials, "consecutive patients", research with a point of view, records read once) 0.7897 (design
macro-F1 0.813, all-class 0.767) vs 0.7826 / 0.7739 with cues, n-grams only again, rule bonus 0.3
(0.4: 0.775).
C = 200 scored the same as 80 (0.7783 vs 0.7781). The score that chooses: the mean of design macro-F1 (six
study designs) and all-class macro-F1, both as `grade_document` would give them. The chosen
settings and their cross-validated numbers are written into the weights file (`settings`) and to
bench/results/design_model_cv.json. Same data, same code -> same weights.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evidence.design_model import WEIGHTS, DesignModel, combine, text_features  # noqa: E402
from evidence.grading import rule_reading  # noqa: E402
from indexing.labels import SourceType  # noqa: E402

REAL = ROOT / "bench" / "data" / "grading" / "pubmed_dev.jsonl"
DESIGNS = ("systematic_review", "rct", "cohort", "case_control", "cross_sectional", "case_series")
CLASSES = tuple(t.value for t in SourceType if t != SourceType.TEXTBOOK)  # no textbook in the real set
MIN_DF = 3
SEED = 0
FOLDS = 5
CLASS_WEIGHT = "balanced"  # rare classes (consensus, expert opinion) count as much as common ones
GRID = {"C": (80.0,), "cue_scale": (0.0, 0.3, 1.0)}  # C 20 lost to 80 in session 5 and in session 6's first grid (0.755 vs 0.757)
POLICIES = [(bonus, floor) for bonus in (0.0, 0.1, 0.2, 0.3) for floor in (0.0, 0.3, 0.4)]


def load_tune() -> list[dict]:
    rows = [json.loads(x) for x in REAL.read_text(encoding="utf-8").splitlines() if x.strip()]
    return [r for r in rows if r["split"] == "tune"]


def with_rules(rows: list[dict]) -> list[dict]:
    """Each record's rule reading and n-gram counts, computed once for every fold and setting."""
    for r in rows:
        kind, explicit, cues = rule_reading(r["title"], r["abstract"])
        r["rule"], r["explicit"], r["cues"] = kind.value, explicit, cues
        r["grams"] = text_features(r["title"], r["abstract"])
    return rows


def build(rows: list[dict], cue_scale: float = 0.0) -> DesignModel:
    """Vocabulary (n-grams in >= MIN_DF training texts), smoothed idf, the cue features any training
    record carries (none when `cue_scale` is 0); zero weights."""
    df: Counter[str] = Counter()
    for r in rows:
        df.update(r["grams"].keys())
    vocab = sorted(g for g, n in df.items() if n >= MIN_DF)
    idf = np.array([math.log((1 + len(rows)) / (1 + df[g])) + 1.0 for g in vocab])
    cue_names = tuple(sorted({c for r in rows for c in r.get("cues", {})})) if cue_scale > 0 else ()
    return DesignModel(CLASSES, {g: i for i, g in enumerate(vocab)}, idf,
                       np.zeros((len(CLASSES), len(vocab) + len(cue_names))), np.zeros(len(CLASSES)), {},
                       cue_names, cue_scale)


def matrix(model: DesignModel, rows: list[dict]):
    """Sparse rows equal to `DesignModel.vector` (checked on the first rows): sublinear tf-idf over
    the n-grams, L2-normalised, then the cue block times `cue_scale`."""
    from scipy.sparse import csr_matrix

    width = len(model.vocabulary)
    cue_column = {n: width + i for i, n in enumerate(model.cue_names)}
    data, cols, starts = [], [], [0]
    for r in rows:
        row = {model.vocabulary[g]: (1.0 + math.log(n)) * model.idf[model.vocabulary[g]]
               for g, n in r["grams"].items() if g in model.vocabulary}
        norm = math.sqrt(sum(v * v for v in row.values())) or 1.0
        row = {c: v / norm for c, v in row.items()}
        row.update({cue_column[n]: model.cue_scale * v for n, v in r.get("cues", {}).items() if n in cue_column and v})
        cols.extend(row)
        data.extend(row.values())
        starts.append(len(cols))
    out = csr_matrix((data, cols, starts), shape=(len(rows), width + len(cue_column)))
    for i, r in enumerate(rows[:3]):
        dense = model.vector(r["title"], r["abstract"], r.get("cues"))
        assert np.allclose(out[i].toarray()[0], dense), "training features differ from inference features"
    return out


def fit(rows: list[dict], C: float, cue_scale: float = 0.0) -> DesignModel:
    from sklearn.linear_model import LogisticRegression

    model = build(rows, cue_scale)
    clf = LogisticRegression(C=C, class_weight=CLASS_WEIGHT, max_iter=2000, tol=1e-4)
    clf.fit(matrix(model, rows), [r["label"] for r in rows])
    if len(clf.classes_) < 3:
        raise ValueError(f"need at least three labels to train a multinomial model, got {list(clf.classes_)}")
    order = [list(clf.classes_).index(c) if c in clf.classes_ else None for c in CLASSES]
    coef = np.vstack([clf.coef_[i] if i is not None else np.full(clf.coef_.shape[1], 0.0) for i in order])
    intercept = np.array([clf.intercept_[i] if i is not None else -30.0 for i in order])
    return DesignModel(CLASSES, model.vocabulary, model.idf, coef, intercept, {}, model.cue_names, model.cue_scale)


def decide(r: dict, probs: dict[str, float], bonus: float, floor: float) -> str:
    """The shipped policy (`design_model.combine`) on a precomputed rule reading."""
    return combine(r["rule"], r["explicit"], probs, {"rule_bonus": bonus, "min_probability": floor}).kind


def scores(pairs: list[tuple[str, str]]) -> dict:
    def f1(c: str) -> float:
        tp = sum(w == g == c for w, g in pairs)
        n = sum(g == c for _, g in pairs) + sum(w == c for w, _ in pairs)
        return 2 * tp / n if n else 0.0
    present = sorted({w for w, _ in pairs})
    per = {c: round(f1(c), 3) for c in present}
    design = sum(per[c] for c in DESIGNS) / len(DESIGNS)
    every = sum(per.values()) / len(per)
    return {"design_macro_f1": round(design, 3), "all_macro_f1": round(every, 3),
            "accuracy": round(sum(w == g for w, g in pairs) / len(pairs), 3),
            "choose_by": round((design + every) / 2, 4), "per_class": per}


def folds(rows: list[dict]) -> list[list[int]]:
    """Stratified by label, seeded: within each label the records are shuffled and dealt round."""
    rng = np.random.default_rng(SEED)
    out: list[list[int]] = [[] for _ in range(FOLDS)]
    by_label: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        by_label.setdefault(r["label"], []).append(i)
    k = 0
    for label in sorted(by_label):
        for i in rng.permutation(by_label[label]):
            out[k % FOLDS].append(int(i))
            k += 1
    return out


def cross_validate(rows: list[dict]) -> list[dict]:
    parts = folds(rows)
    results = []
    for C, scale in ((c, s) for c in GRID["C"] for s in GRID["cue_scale"]):
        probs: list[dict[str, float] | None] = [None] * len(rows)
        for k in range(FOLDS):
            test = set(parts[k])
            model = fit([r for i, r in enumerate(rows) if i not in test], C, scale)
            held = [rows[i] for i in parts[k]]
            z = matrix(model, held) @ model.coef.T + model.intercept
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            for i, row in zip(parts[k], p, strict=True):
                probs[i] = dict(zip(CLASSES, (float(v) for v in row), strict=True))
        for bonus, floor in POLICIES:
            pairs = [(r["label"], decide(r, probs[i], bonus, floor)) for i, r in enumerate(rows)]
            results.append({"C": C, "cue_scale": scale, "rule_bonus": bonus, "min_probability": floor,
                            **scores(pairs)})
        print(f"C={C}, cue_scale={scale}: best policy "
              f"{max(results[-len(POLICIES):], key=lambda x: x['choose_by'])['choose_by']}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cv-only", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    rows = with_rules(load_tune())
    rules_only = scores([(r["label"], r["rule"]) for r in rows])
    print(f"{len(rows)} tuning abstracts; rules alone: design macro-F1 {rules_only['design_macro_f1']}, "
          f"all-class {rules_only['all_macro_f1']}")
    results = cross_validate(rows)
    best = max(results, key=lambda x: x["choose_by"])
    print("chosen by 5-fold CV:", json.dumps({k: v for k, v in best.items() if k != "per_class"}))
    print("CV per class:", best["per_class"])
    out = ROOT / "bench" / "results" / "design_model_cv.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": len(rows), "folds": FOLDS, "seed": SEED, "min_df": MIN_DF,
                               "class_weight": CLASS_WEIGHT, "rules_only": rules_only, "chosen": best,
                               "grid": results}, indent=1))
    if args.cv_only:
        return
    model = fit(rows, best["C"], best["cue_scale"])
    settings = {"trained_on": f"{len(rows)} tuning abstracts of bench/data/grading/pubmed_dev.jsonl",
                "C": best["C"], "cue_scale": best["cue_scale"], "class_weight": CLASS_WEIGHT,
                "rule_bonus": best["rule_bonus"],
                "min_probability": best["min_probability"],
                "min_df": MIN_DF, "cv": {k: best[k] for k in ("design_macro_f1", "all_macro_f1", "accuracy",
                                                               "per_class")},
                "cv_rules_only": {k: rules_only[k] for k in ("design_macro_f1", "all_macro_f1", "accuracy")}}
    model = DesignModel(model.classes, model.vocabulary, model.idf, model.coef, model.intercept, settings,
                        model.cue_names, model.cue_scale)
    WEIGHTS.write_text(json.dumps(model.to_json(), separators=(",", ":")), encoding="utf-8")
    print(f"wrote {WEIGHTS.relative_to(ROOT)} ({WEIGHTS.stat().st_size // 1024} KiB, "
          f"{len(model.vocabulary)} n-grams) in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
