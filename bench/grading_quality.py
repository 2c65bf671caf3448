"""Document-grading quality on the labelled set: per-class precision/recall, level accuracy.

Run: python bench/grading_quality.py [path.jsonl ...]   (default: every tests/evidence/data/grading_*.jsonl)
Prints one summary line per file, then the per-class table over all of them, and writes
bench/results/grading_quality.json.

The sets were written by the grading engineer; grading_holdout*.jsonl were each written after the
rules of the time were frozen and measured once before any fix (first-run numbers are in the
final report of issue 4); after that they were folded into the regression set. Real papers the
rules have not seen will score lower than the combined number printed here.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evidence.grading import grade_document  # noqa: E402
from indexing.labels import SourceType  # noqa: E402
from indexing.schema import SourceMeta  # noqa: E402

DATA = ROOT / "tests" / "evidence" / "data"


def load(paths: list[Path]) -> list[dict]:
    return [json.loads(line) for p in paths for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]


def evaluate(rows: list[dict]) -> dict:
    confusion: Counter[tuple[str, str]] = Counter()
    level_hits = 0
    misses = []
    started = time.perf_counter()
    for row in rows:
        grade = grade_document(row["title"], row["text"], SourceMeta(**row.get("meta", {})))
        got, want = grade.source_type.value, row["source_type"]
        confusion[(want, got)] += 1
        level_hits += int(grade.level) == row["level"]
        if got != want or int(grade.level) != row["level"]:
            misses.append({"id": row["id"], "want": [want, row["level"]], "got": [got, int(grade.level)],
                           "reasons": grade.reasons})
    seconds = time.perf_counter() - started
    per_class = {}
    for st in SourceType:
        c = st.value
        tp = confusion[(c, c)]
        predicted = sum(v for (w, g), v in confusion.items() if g == c)
        actual = sum(v for (w, g), v in confusion.items() if w == c)
        p = tp / predicted if predicted else (1.0 if not actual else 0.0)
        r = tp / actual if actual else 1.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        per_class[c] = {"precision": round(p, 3), "recall": round(r, 3), "f1": round(f1, 3), "support": actual}
    present = [v for v in per_class.values() if v["support"]]
    return {
        "rows": len(rows),
        "type_accuracy": round(sum(confusion[(c, c)] for c in per_class) / len(rows), 3),
        "macro_f1": round(sum(v["f1"] for v in present) / len(present), 3),
        "level_accuracy": round(level_hits / len(rows), 3),
        "per_class": per_class,
        "confusion": {f"{w} -> {g}": v for (w, g), v in sorted(confusion.items()) if w != g},
        "misses": misses,
        "ms_per_document": round(1000 * seconds / len(rows), 2),
    }


def stated_grades_on_demo_corpus() -> dict:
    """Stated grades found in the open-medicine guideline summaries: counts, recall, speed."""
    import re

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
    return {"files": len(files), "grades": sum(schemes.values()), "by_scheme": dict(schemes),
            "parenthesised_grades_recall": round(found / total, 4) if total else None, "parenthesised_grades": total,
            "ms_per_file": round(1000 * seconds / len(files), 2)}


def main() -> None:
    paths = [Path(a) for a in sys.argv[1:]] or sorted(DATA.glob("grading_*.jsonl"))
    per_file = {}
    for path in paths:
        r = evaluate(load([path]))
        per_file[path.name] = {k: r[k] for k in ("rows", "type_accuracy", "macro_f1", "level_accuracy")}
        print(f"{path.name:<28} rows {r['rows']:>3}  type accuracy {r['type_accuracy']:.3f}  "
              f"macro-F1 {r['macro_f1']:.3f}  level accuracy {r['level_accuracy']:.3f}")
    report = evaluate(load(paths))
    report["per_file"] = per_file
    print(f"{'class':<22}{'precision':>10}{'recall':>8}{'f1':>7}{'n':>5}")
    for c, v in report["per_class"].items():
        print(f"{c:<22}{v['precision']:>10.2f}{v['recall']:>8.2f}{v['f1']:>7.2f}{v['support']:>5}")
    print(f"rows {report['rows']}  type accuracy {report['type_accuracy']:.3f}  macro-F1 {report['macro_f1']:.3f}  "
          f"level accuracy {report['level_accuracy']:.3f}  {report['ms_per_document']} ms/document")
    for k, v in report["confusion"].items():
        print(f"  confused {k}: {v}")
    for m in report["misses"]:
        print(f"  miss {m['id']}: want {m['want']} got {m['got']} :: {'; '.join(m['reasons'][:4])}")
    demo = stated_grades_on_demo_corpus()
    report["demo_corpus_stated_grades"] = demo
    print(f"demo corpus: {demo['grades']} stated grades in {demo['files']} files {demo['by_scheme']}; "
          f"recall on {demo['parenthesised_grades']} parenthesised grades {demo['parenthesised_grades_recall']:.3f}; "
          f"{demo['ms_per_file']} ms/file")
    out = ROOT / "bench" / "results" / "grading_quality.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
