"""Document-grading quality on REAL PubMed abstracts, side by side with a keyword baseline.

Run:
    python bench/grading_quality.py            # the tuning half (what the grader may be tuned on)
    python bench/grading_quality.py --held     # adds the held-back set: score it once, at the end
    python bench/grading_quality.py --synthetic  # adds the old synthetic regression sets
    python bench/grading_quality.py --stated-grades  # adds stated grades found in the demo corpus

The real set is `bench/data/grading/pubmed_dev.jsonl` (see the README beside it: sources,
licences, how each label was assigned after reading the abstract, and the split). The tuning
half holds session 3's two halves (its held-back half, scored once then, carries
`was_heldback_session3`) and the held sets of sessions 4-7 (`was_heldback_session4`,
`was_held_session5`, `was_held_session6`, `was_held_session7`); the held-back set (`split: held`,
`added: session8`) is a new batch of records never in the set before, labelled and committed before
any grader change was measured on it. Besides the grader and the
keyword baseline, the grader's rules alone (`grade_document(..., model=False)`) are scored, so the
learned design reading's share shows; on the tuning half the learned reading has seen every
abstract in training, so its honest tuning estimate is the cross-validation in
bench/results/design_model_cv.json. Each record is
scored twice: on its text alone (title + abstract, as `grade_document` takes a document) and with
its PubMed metadata (publication types, MeSH) where the record carries some. The keyword
baseline below is deliberately simple (~30 lines): a grader that cannot beat it is not earning
its complexity.

Prints one table per split and mode and writes bench/results/grading_quality.json (or `--out`).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evidence.grading import grade_document  # noqa: E402
from indexing.labels import SourceType  # noqa: E402
from indexing.schema import SourceMeta  # noqa: E402

REAL = ROOT / "bench" / "data" / "grading" / "pubmed_dev.jsonl"
SYNTHETIC = ROOT / "tests" / "evidence" / "data"
# Study designs: what the independent evaluation scores macro-F1 over.
DESIGN_CLASSES = ("systematic_review", "rct", "cohort", "case_control", "cross_sectional", "case_series")
Classifier = Callable[[dict, bool], str]


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# ---- the two classifiers -------------------------------------------------------------------


def grader(row: dict, with_meta: bool) -> str:
    meta = SourceMeta(publication_types=row["publication_types"], mesh_terms=row["mesh_terms"]) if with_meta else None
    return grade_document(row["title"], row["abstract"], meta).source_type.value


def rules_only(row: dict, with_meta: bool) -> str:
    meta = SourceMeta(publication_types=row["publication_types"], mesh_terms=row["mesh_terms"]) if with_meta else None
    return grade_document(row["title"], row["abstract"], meta, model=False).source_type.value


_KEYWORDS = [  # first match wins; order encodes the obvious precedence
    ("other", r"\bprotocol\b|\bwill be (?:randomi[sz]ed|recruited|enrolled)"),
    ("systematic_review", r"systematic(?:al)? review|meta-?analy"),
    ("guideline", r"^[^.]*\bguidelines?\b"),
    ("consensus_statement", r"^[^.]*\bconsensus\b"),
    ("other", r"\b(?:mice|mouse|rats?|murine|in vitro|cell lines?|zebrafish|dogs|pigs|sheep)\b"),
    ("rct", r"\brandomi[sz]ed\b|\brandomly (?:assigned|allocated|divided)"),
    ("case_control", r"case[- ]control"),
    ("cross_sectional", r"cross[- ]sectional|\bsurvey\b|\bprevalence\b"),
    ("cohort", r"\bcohort\b|\bretrospective|\bprospective|follow[- ]up"),
    ("case_series", r"case reports?|case series|we (?:report|present|describe) (?:a|an|the|two|three)\b|year-old"),
    ("narrative_review", r"\breview\b"),
    ("expert_opinion", r"editorial|commentary|perspective|viewpoint|we argue"),
]


def keyword_baseline(row: dict, with_meta: bool) -> str:
    """The peer the grader must beat: the first keyword rule that matches title + abstract."""
    text = f"{row['title']}. {row['abstract']}".lower()
    for label, pattern in _KEYWORDS:
        if re.search(pattern, text, re.MULTILINE):
            return label
    return "other"


# ---- scoring ---------------------------------------------------------------------------------


def score(rows: list[dict], classify: Classifier, with_meta: bool) -> dict:
    confusion: Counter[tuple[str, str]] = Counter()
    started = time.perf_counter()
    for row in rows:
        confusion[(row["label"], classify(row, with_meta))] += 1
    seconds = time.perf_counter() - started
    per_class = {}
    for c in (t.value for t in SourceType):
        tp = confusion[(c, c)]
        predicted = sum(v for (_, g), v in confusion.items() if g == c)
        actual = sum(v for (w, _), v in confusion.items() if w == c)
        if not predicted and not actual:
            continue
        p = tp / predicted if predicted else 0.0
        r = tp / actual if actual else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        per_class[c] = {"precision": round(p, 3), "recall": round(r, 3), "f1": round(f1, 3),
                        "support": actual, "predicted": predicted}
    present = [c for c, v in per_class.items() if v["support"]]
    designs = [c for c in DESIGN_CLASSES if c in present]  # a small subset may lack some designs
    return {
        "rows": len(rows),
        "accuracy": round(sum(confusion[(c, c)] for c in per_class) / len(rows), 3),
        "macro_f1_design": round(sum(per_class[c]["f1"] for c in designs) / max(1, len(designs)), 3),
        "macro_f1_all": round(sum(per_class[c]["f1"] for c in present) / len(present), 3),
        "per_class": per_class,
        "confusion": {f"{w} -> {g}": v for (w, g), v in confusion.most_common() if w != g},
        "ms_per_document": round(1000 * seconds / max(1, len(rows)), 2),
    }


def misses(rows: list[dict], with_meta: bool) -> list[dict]:
    out = []
    for row in rows:
        meta = SourceMeta(publication_types=row["publication_types"], mesh_terms=row["mesh_terms"]) if with_meta else None
        g = grade_document(row["title"], row["abstract"], meta)
        if g.source_type.value != row["label"]:
            out.append({"id": row["id"], "want": row["label"], "got": g.source_type.value,
                        "confidence": g.confidence, "title": row["title"][:90], "reasons": g.reasons[:3]})
    return out


def print_side_by_side(name: str, ours: dict, base: dict) -> None:
    print(f"\n== {name}: {ours['rows']} abstracts ==")
    print(f"{'class':<20}{'grader P':>9}{'R':>6}{'F1':>6}   {'keyword P':>9}{'R':>6}{'F1':>6}{'n':>5}")
    for c in sorted(set(ours["per_class"]) | set(base["per_class"])):
        o = ours["per_class"].get(c, {"precision": 0, "recall": 0, "f1": 0, "support": 0})
        b = base["per_class"].get(c, {"precision": 0, "recall": 0, "f1": 0, "support": 0})
        print(f"{c:<20}{o['precision']:>9.2f}{o['recall']:>6.2f}{o['f1']:>6.2f}   "
              f"{b['precision']:>9.2f}{b['recall']:>6.2f}{b['f1']:>6.2f}{max(o['support'], b['support']):>5}")
    for key in ("macro_f1_design", "macro_f1_all", "accuracy"):
        print(f"{key:<20}{ours[key]:>21.3f}   {base[key]:>21.3f}")
    print("grader's commonest confusions:", dict(list(ours["confusion"].items())[:8]))


TARGETS = {"macro_f1_design": 0.85, "rct": 0.92, "systematic_review": 0.90, "lowest_class": 0.70}  # issue 9


def print_against_targets(split: str, scored: dict) -> None:
    """Grader, its rules alone and the keyword baseline beside the issue's targets (text only)."""
    def row(s: dict) -> list[float]:
        lowest = min(v["f1"] for v in s["per_class"].values() if v["support"])
        return [s["macro_f1_design"], s["per_class"].get("rct", {}).get("f1", 0.0),
                s["per_class"].get("systematic_review", {}).get("f1", 0.0), lowest]
    print(f"\n{split}, text only, against the targets: {'design macro-F1':>16}{'RCT F1':>8}{'SR/MA F1':>10}{'lowest class':>14}")
    for name in ("grader", "rules_only", "keyword_baseline"):
        print(f"  {name:<38}" + "".join(f"{v:>{w}.3f}" for v, w in zip(row(scored[name]), (16, 8, 10, 14))))
    print(f"  {'target':<38}" + "".join(f"{v:>{w}.2f}" for v, w in zip(TARGETS.values(), (16, 8, 10, 14))))


def real_set(splits: list[str], show_misses: bool) -> dict:
    rows = load(REAL)
    report: dict = {"source": str(REAL.relative_to(ROOT)), "design_classes": list(DESIGN_CLASSES)}
    for split in splits:
        part = [r for r in rows if r["split"] == split]
        with_meta = [r for r in part if r["publication_types"] or r["mesh_terms"]]
        entry = {}
        for mode, subset, use_meta in (("text_only", part, False), ("with_metadata", part, True),
                                       ("metadata_subset_text_only", with_meta, False),
                                       ("metadata_subset_with_metadata", with_meta, True)):
            if not subset:
                continue  # e.g. no held record carries PubMed metadata
            entry[mode] = {"grader": score(subset, grader, use_meta),
                           "keyword_baseline": score(subset, keyword_baseline, use_meta)}
            if mode == "text_only":
                entry[mode]["rules_only"] = score(subset, rules_only, use_meta)
        if split == "held":  # by how the records were chosen and where they come from, text only
            groups = {f"selection_{k}": [r for r in part if r["selection"].split(":")[0] == k]
                      for k in sorted({r["selection"].split(":")[0] for r in part})}
            groups.update({f"source_{k.split('/')[0]}": [r for r in part if r["source"]["repo"] == k]
                           for k in sorted({r["source"]["repo"] for r in part})})
            for name, sub_rows in groups.items():
                g, k = score(sub_rows, grader, False), score(sub_rows, keyword_baseline, False)
                entry[f"text_only_{name}"] = {"grader": g, "keyword_baseline": k}
                print(f"held {name} ({len(sub_rows)}): grader design macro-F1 {g['macro_f1_design']:.3f}, "
                      f"accuracy {g['accuracy']:.3f}; keyword {k['macro_f1_design']:.3f}, {k['accuracy']:.3f}")
        if split == "tune":  # the two origins of the tuning half, text only
            for name, keep in (("session3_tune", False), ("session3_heldback", True)):
                sub_rows = [r for r in part if bool(r.get("was_heldback_session3")) == keep]
                entry[f"text_only_{name}"] = {"grader": score(sub_rows, grader, False),
                                              "keyword_baseline": score(sub_rows, keyword_baseline, False)}
        for mode in ("text_only", "with_metadata"):
            print_side_by_side(f"{split} half, {mode.replace('_', ' ')}", entry[mode]["grader"],
                               entry[mode]["keyword_baseline"])
        print_against_targets(split, entry["text_only"])
        if with_meta:
            meta_only = entry["metadata_subset_with_metadata"]["grader"]
            print(f"records carrying PubMed metadata: {len(with_meta)}; grader accuracy on them "
                  f"{entry['metadata_subset_text_only']['grader']['accuracy']:.3f} text only, "
                  f"{meta_only['accuracy']:.3f} with metadata")
        if show_misses:
            entry["misses_text_only"] = misses(part, False)
            for m in entry["misses_text_only"]:
                print(f"  miss {m['id']} want {m['want']} got {m['got']} ({m['confidence']}) {m['title']} :: "
                      f"{' | '.join(m['reasons'])}")
        report[split] = entry
    return report


def synthetic_sets() -> dict:
    """The passages written here in earlier issues: kept as a regression check only."""
    rows = [r for p in sorted(SYNTHETIC.glob("grading_*.jsonl")) for r in load(p)]
    converted = [{"title": r["title"], "abstract": r["text"], "label": r["source_type"],
                  "publication_types": r.get("meta", {}).get("publication_types", []),
                  "mesh_terms": r.get("meta", {}).get("mesh_terms", [])} for r in rows]
    result = score(converted, grader, True)
    print(f"\nsynthetic regression passages: {result['rows']} rows, accuracy {result['accuracy']:.3f}, "
          f"macro-F1 (all classes) {result['macro_f1_all']:.3f}")
    return result


def stated_grades_on_demo_corpus() -> dict:
    """Stated grades found in the open-medicine guideline summaries: counts, recall, speed."""
    from evidence.stated_grades import extract_stated_grades, scheme_hint_for
    from indexing.readers.demo import open_medicine_dir

    root = open_medicine_dir()
    registry = {r["id"]: r for r in json.loads((root / "registry.json").read_text(encoding="utf-8"))}
    printed = re.compile(r"\((?:Class (?:I|IIa|IIb|III)\b[^)]*|COR [123][ab]?[^)]*|Grade [12][A-D][^)]*|"
                         r"(?:Strong|Conditional|Weak)(?: recommendation)?, [^)]*|Not Graded)\)", re.IGNORECASE)
    schemes: Counter[str] = Counter()
    found = total = 0
    files = sorted((root / "content").glob("*/*.md"))
    started = time.perf_counter()
    for path in files:
        entry = registry.get(path.parent.name, {})
        text = path.read_text(encoding="utf-8")
        grades = extract_stated_grades(text, scheme_hint=scheme_hint_for(entry.get("organization"), entry.get("title")))
        schemes.update(g.scheme for g in grades)
        for m in printed.finditer(text):
            total += 1
            found += any(g.quote in m.group(0) for g in grades)
    seconds = time.perf_counter() - started
    result = {"files": len(files), "grades": sum(schemes.values()), "by_scheme": dict(schemes),
              "parenthesised_grades_recall": round(found / total, 4) if total else None,
              "parenthesised_grades": total, "ms_per_file": round(1000 * seconds / len(files), 2)}
    print(f"\ndemo corpus: {result['grades']} stated grades in {result['files']} files {result['by_scheme']}; "
          f"recall on {total} parenthesised grades {result['parenthesised_grades_recall']}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--held", action="store_true", help="also score the held-back half (once, at the end)")
    parser.add_argument("--misses", action="store_true", help="list every document the grader gets wrong")
    parser.add_argument("--synthetic", action="store_true", help="also score the old synthetic passages")
    parser.add_argument("--stated-grades", action="store_true", help="also count stated grades in the demo corpus")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "grading_quality.json",
                        help="where to write the results JSON (e.g. a once-only held run's own file)")
    args = parser.parse_args()
    report = real_set(["tune", "held"] if args.held else ["tune"], args.misses)
    if args.synthetic:
        report["synthetic_regression"] = synthetic_sets()
    if args.stated_grades:
        report["demo_corpus_stated_grades"] = stated_grades_on_demo_corpus()
    out = args.out if args.out.is_absolute() else Path.cwd() / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
