"""Latency of retrieval and of a whole extractive answer on the demo corpus (warm process).

    python bench/ask.py [--index DIR] [--rounds 2] [--k 8]

Without --index the demo corpus is indexed into a temporary directory first (a few minutes).
A warm-up pass loads the model, the tokenisers and the index; before each measured pass the
question-vector cache is cleared so every question is embedded for real. "repeat" is the same
question asked again right after (vector cached, as when the UI re-asks).
Prints a table and writes bench/results/ask.json. Target: extractive answer p50 < 300 ms warm.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.assistant import Assistant  # noqa: E402
from evidence.retrieval import clear_query_cache  # noqa: E402


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def pct(p: float) -> float:
        i = min(len(ordered) - 1, max(0, round(p * (len(ordered) - 1))))
        return round(ordered[i] * 1000, 1)

    return {"p50_ms": pct(0.5), "p95_ms": pct(0.95), "mean_ms": round(statistics.fmean(ordered) * 1000, 1), "n": len(ordered)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, help="an index directory holding the demo corpus")
    parser.add_argument("--rounds", type=int, default=2, help="measured passes over the question set")
    parser.add_argument("--k", type=int, default=8)
    args = parser.parse_args(argv)

    import torch

    from indexing.embedding import load_embedder
    from indexing.store import IndexStore

    import importlib.util

    spec = importlib.util.spec_from_file_location("retrieval_quality", ROOT / "bench" / "retrieval_quality.py")
    quality = importlib.util.module_from_spec(spec)
    sys.modules["retrieval_quality"] = quality
    spec.loader.exec_module(quality)
    load_questions = quality.load_questions

    embedder = load_embedder()
    questions = [q.question for q in load_questions()]
    with tempfile.TemporaryDirectory(prefix="m1e-ask-") as tmp:
        index_dir = args.index
        if index_dir is None:
            from indexing.pipeline import IndexPipeline

            index_dir = Path(tmp) / "index"
            IndexPipeline(index_dir, embedder=embedder).run_demo()
        store = IndexStore.open(index_dir)  # for the counts below

        def fresh_assistant() -> Assistant:  # a new retriever: nothing cached but the vectors' LRU
            return Assistant(data_dir=tmp, index_dir=index_dir, generator="extractive")

        def seconds(call, question: str) -> float:
            t0 = time.perf_counter()
            call(question, k=args.k)
            return time.perf_counter() - t0

        warm = fresh_assistant()
        for q in questions:  # warm-up: model, jieba, stemmer, FAISS, SQLite pages
            warm.ask(q, k=args.k)

        retrieval, whole, repeat = [], [], []
        for _ in range(args.rounds):
            fresh = fresh_assistant()
            for q in questions:  # every question embedded for real, once for search and once for ask
                clear_query_cache()
                retrieval.append(seconds(fresh.search, q))
                clear_query_cache()
                whole.append(seconds(fresh.ask, q))  # retrieve, plan, digest, checks
            for q in questions:
                repeat.append(seconds(fresh.ask, q))

    result = {
        "index": str(index_dir) if args.index else "demo corpus (temporary)",
        "documents": store.stats().documents,
        "chunks": store.stats().chunks,
        "questions": len(questions),
        "rounds": args.rounds,
        "k": args.k,
        "conflicts_checked": True,
        "torch_threads": torch.get_num_threads(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "retrieval": _percentiles(retrieval),
        "extractive_answer": _percentiles(whole),
        "extractive_answer_repeat_question": _percentiles(repeat),
        "target_extractive_p50_ms": 300,
    }
    print(f"demo index: {result['documents']} documents, {result['chunks']} chunks; {len(questions)} questions x {args.rounds} rounds, k={args.k}")
    print(f"{'stage':<36} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}")
    for name in ("retrieval", "extractive_answer", "extractive_answer_repeat_question"):
        row = result[name]
        print(f"{name:<36} {row['p50_ms']:>8} {row['p95_ms']:>8} {row['mean_ms']:>8}")
    out = ROOT / "bench" / "results" / "ask.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
