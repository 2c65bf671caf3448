"""Does the UI find a cited sentence in its source? Recall and false matches of
`app.ui.highlight` on the demo corpus (documents written by others and the sample PDFs).

    python bench/highlight_match.py

Every sentence of every stored passage (the chunker's own sentences, at the index's chunk size)
is looked up where the UI would show it: `mark_span` in the raw section markdown file of an
open-medicine guideline, `span_boxes` on the PDF page the passage starts or ends on. The
control looks up sentences of other documents in the same sources; a control "hit" whose
letters and digits are in the source after all (a sentence two guidelines share) is not
counted as false. Prints a table and writes bench/results/highlight_match.json.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.ui.highlight import mark_span, matching_key, span_boxes  # noqa: E402
from indexing.chunking import chunk_document, split_sentences  # noqa: E402
from indexing.cleaning import clean_document  # noqa: E402
from indexing.readers import read_document  # noqa: E402
from indexing.readers.demo import demo_paths, open_medicine_dir, open_medicine_documents  # noqa: E402
from tests.indexing import minilm_counter  # noqa: E402  (the embedder's tokenizer, as indexing counts)

CONTROLS_PER_SOURCE = 20


def _sentences(doc, min_chars: int):
    """(chunk, sentence) for the stored passages of `doc` (200 tokens, 40 overlap: the index's)."""
    for chunk in chunk_document(clean_document(doc), minilm_counter(), max_tokens=200, overlap=40):
        for sentence in split_sentences(chunk.text):
            if len(sentence) >= min_chars and sentence not in chunk.heading_path:
                yield chunk, sentence


def _tally(found: int, total: int, false: int, controls: int, seconds: float, calls: int) -> dict:
    return {"sentences": total, "found": found, "recall": found / max(total, 1), "controls": controls,
            "false_matches": false, "ms_per_call": 1000 * seconds / max(calls, 1)}


def markdown_run(rng: random.Random) -> tuple[dict, list[str]]:
    registry = {e["id"]: e for e in json.loads((open_medicine_dir() / "registry.json").read_text(encoding="utf-8"))}
    sources: list[str] = []
    lookups: list[tuple[list[str], str]] = []
    for doc in open_medicine_documents():
        files = [Path(doc.path) / f"{s}.md" for s in registry[Path(doc.path).name]["sections"]]
        texts = [f.read_text(encoding="utf-8") for f in files]
        sources.extend(texts)
        for chunk, sentence in _sentences(doc, 25):
            lookups.append(([texts[chunk.page_start - 1], texts[chunk.page_end - 1]], sentence))
    start, misses = time.perf_counter(), []
    found = 0
    for texts, sentence in lookups:
        ok = any(flag for text in texts for _, flag in mark_span(text, sentence))
        found += ok
        if not ok:
            misses.append(sentence[:160])
    seconds = time.perf_counter() - start
    false = controls = 0
    everything = [s for _, s in lookups]
    for text in rng.sample(sources, min(40, len(sources))):
        key = matching_key(text)[0]
        for sentence in rng.sample(everything, CONTROLS_PER_SOURCE):
            if matching_key(sentence)[0] in key:
                continue
            controls += 1
            false += any(flag for _, flag in mark_span(text, sentence))
    return _tally(found, len(lookups), false, controls, seconds, len(lookups)), misses


def pdf_run(rng: random.Random) -> tuple[dict, list[str]]:
    lookups = [(path, chunk, s) for path in demo_paths() for chunk, s in _sentences(read_document(path), 15)]
    start, misses, found, calls = time.perf_counter(), [], 0, 0
    for path, chunk, sentence in lookups:
        ok = False
        for page in sorted({chunk.page_start, chunk.page_end}):
            calls += 1
            ok = ok or bool(span_boxes(path, page, sentence))
        found += ok
        if not ok:
            misses.append(f"{path.name} p.{chunk.page_start}: {sentence[:140]}")
    seconds = time.perf_counter() - start
    false = controls = 0
    for path in demo_paths():
        for other, _, sentence in rng.sample(lookups, CONTROLS_PER_SOURCE):
            if other != path:
                controls += 1
                false += bool(span_boxes(path, 1, sentence))
    return _tally(found, len(lookups), false, controls, seconds, calls), misses


def main() -> None:
    rng = random.Random(0)
    results = {}
    for name, run in (("markdown sections (open-medicine)", markdown_run), ("PDF pages (data/samples)", pdf_run)):
        tally, misses = run(rng)
        results[name] = {**tally, "misses": misses[:20]}
    print(f"{'source':36} {'sentences':>9} {'found':>7} {'recall':>7} {'controls':>8} {'false':>6} {'ms/call':>8}")
    for name, r in results.items():
        print(f"{name:36} {r['sentences']:9d} {r['found']:7d} {r['recall']:7.1%} {r['controls']:8d} "
              f"{r['false_matches']:6d} {r['ms_per_call']:8.1f}")
        for miss in r["misses"][:5]:
            print("   missed:", miss)
    out = ROOT / "bench" / "results" / "highlight_match.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
