"""Search latency and recall: the dense index at 1M vectors, and hybrid queries on a real-text store.

    python bench/search.py                      # 1M vectors, 100k-chunk store
    python bench/search.py --n 200000 --chunks 20000   # quick

Dense: clustered synthetic 384-d vectors (n/200 Gaussian clusters, normalised; queries drawn
from the same mixture, not from the index), the store's compressed path (IVF codes trained on a
sample, shortlist re-ranked exactly), single-query latency p50/p99 and recall@10 against exact
search, for several nprobe values. Hybrid: an IndexStore of real-looking chunks (sentences from the demo corpus
shuffled into passages), with random clustered vectors on the dense side (so dense scores are
meaningless, latency is not); a query is dense top-50 + BM25 top-50, fused by reciprocal rank,
then the top 8 chunk rows fetched from SQLite. MiniLM query embedding is timed separately.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evidence.retrieval import rrf  # noqa: E402  (the fusion the product uses)
RESULTS = ROOT / "bench" / "results" / "search.json"
DIM = 384


def clustered(n: int, rng: np.random.Generator, centroids: np.ndarray, spread: float = 0.35) -> np.ndarray:
    out = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        which = rng.integers(0, len(centroids), m)
        block = centroids[which] + spread * rng.standard_normal((m, DIM), dtype=np.float32) / np.sqrt(DIM) * 4
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start : start + m] = block
    return out


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile_ms(samples: list[float], q: float) -> float:
    return float(np.percentile(np.array(samples) * 1000, q))


def dense_bench(n: int, n_queries: int, nprobes: list[int]) -> dict:
    """The store's compressed dense path on one segment of n vectors: IVF codes (trained on a
    sample, as the store trains them), shortlist re-ranked exactly from the float vectors."""
    import faiss

    from indexing.store import dense
    from indexing.store.dense import DenseOptions

    rng = np.random.default_rng(0)
    # about 200 vectors per topic cluster: neighbours are near, not duplicates
    centroids = rng.standard_normal((max(100, n // 200), DIM), dtype=np.float32)
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    vectors = clustered(n, rng, centroids)
    queries = clustered(n_queries, rng, centroids)
    before = rss_mb()

    exact = faiss.IndexFlatIP(DIM)
    exact.add(vectors)
    _, truth = exact.search(queries, 10)
    del exact

    options = DenseOptions()
    t0 = time.perf_counter()
    sample = vectors[rng.choice(n, size=min(n, options.nlist * dense.TRAIN_PER_CELL), replace=False)]
    codec = dense.train_codec(sample, options)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    rows = np.arange(n, dtype=np.int64)
    index = dense.encode(codec, vectors, rows)
    encode_s = time.perf_counter() - t0
    faiss.omp_set_num_threads(1)  # one query at a time, as the app asks them
    out = []
    for nprobe in nprobes:
        opts = DenseOptions(nprobe=nprobe)
        times, hits = [], 0
        for i in range(n_queries):
            t = time.perf_counter()
            found, _ = dense.ivf_top(index, vectors, rows, queries[i], 10, None, None, opts)
            times.append(time.perf_counter() - t)
            hits += len(set(found.tolist()) & set(truth[i].tolist()))
        out.append({"nprobe": nprobe, "p50_ms": percentile_ms(times, 50), "p99_ms": percentile_ms(times, 99),
                    "recall_at_10": hits / (10 * n_queries)})
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    return {
        "n": n,
        "queries": n_queries,
        "codec": dense.codec_label(index),
        "nlist": index.nlist,
        "shortlist": options.shortlist,
        "store_default_nprobe": options.nprobe,
        "train_s": train_s,
        "encode_s": encode_s,
        "codes_mb": n * index.code_size / 2**20,
        "peak_rss_mb": rss_mb(),
        "rss_before_index_mb": before,
        "by_nprobe": out,
    }


def make_passages(n: int, seed: int = 0) -> list[str]:
    """Passages of 3-7 demo-corpus sentences each, shuffled and recombined."""
    import re

    from indexing.readers.demo import open_medicine_dir

    sentences = []
    for path in sorted(open_medicine_dir().rglob("*.md")):
        for line in path.read_text(encoding="utf-8").splitlines():
            line = re.sub(r"[*_`|>#]", "", line).strip(" -\t")
            if len(line.split()) >= 5:
                sentences.append(line)
    rng = random.Random(seed)
    return [" ".join(rng.choice(sentences) for _ in range(rng.randint(3, 7))) for _ in range(n)]


def hybrid_bench(n_chunks: int, n_queries: int) -> dict:
    from indexing.schema import Chunk, Document, Page
    from indexing.store import IndexStore

    rng = np.random.default_rng(1)
    centroids = rng.standard_normal((200, DIM), dtype=np.float32)
    texts = make_passages(n_chunks)
    vectors = clustered(n_chunks, rng, centroids)
    per_doc = 100
    with tempfile.TemporaryDirectory() as tmp:
        store = IndexStore.open(Path(tmp) / "index", create=True, embedder_name="bench-random", dim=DIM)
        t0 = time.perf_counter()
        with store.writer() as w:
            for d in range(0, n_chunks, per_doc):
                doc_id = f"{d:016x}" + "0" * 48
                part = texts[d : d + per_doc]
                doc = Document(document_id=doc_id, path=f"/bench/{d}.pdf", format="pdf", title=f"Synthetic {d}",
                               pages=[Page(number=1, text=" ".join(part[:3]))])
                chunks = [Chunk(chunk_id=f"{doc_id[:16]}:{i}", document_id=doc_id, ordinal=i, text=t, page_start=1, page_end=1)
                          for i, t in enumerate(part)]
                w.add_document(doc, chunks, vectors[d : d + len(part)])
            w.commit()
        build_s = time.perf_counter() - t0
        stats = store.stats()
        reader = IndexStore.open(Path(tmp) / "index")
        qrng = random.Random(5)
        questions = [" ".join(qrng.choice(t.split()) for _ in range(6)) for t in qrng.sample(texts, n_queries)]
        qvecs = clustered(n_queries, rng, centroids)
        times, dense_t, lex_t = [], [], []
        for q, v in zip(questions, qvecs):
            t = time.perf_counter()
            dense = reader.search_dense(v, 50)
            t1 = time.perf_counter()
            lexical = reader.search_lexical(q, 50)
            t2 = time.perf_counter()
            fused = rrf([[cid for cid, _ in dense], [cid for cid, _ in lexical]])  # the product's fusion
            top = sorted(fused, key=fused.get, reverse=True)[:8]
            reader.chunks(top)
            times.append(time.perf_counter() - t)
            dense_t.append(t1 - t)
            lex_t.append(t2 - t1)
        reader.close()
        store.close()
    embed_ms = None
    try:
        from indexing.embedding import load_embedder

        embedder = load_embedder()
        embedder.embed_queries(["warm up"])
        et = []
        for q in questions[:50]:
            t = time.perf_counter()
            embedder.embed_queries([q])
            et.append(time.perf_counter() - t)
        embed_ms = {"p50_ms": percentile_ms(et, 50), "p99_ms": percentile_ms(et, 99)}
    except Exception as exc:  # noqa: BLE001 - the bench still reports the store side
        embed_ms = {"error": str(exc)}
    return {
        "chunks": n_chunks,
        "queries": n_queries,
        "dense_kind": stats.dense_kind,
        "store_build_s": build_s,
        "index_size_mb": stats.size_bytes / 2**20,
        "hybrid_p50_ms": percentile_ms(times, 50),
        "hybrid_p99_ms": percentile_ms(times, 99),
        "dense_p50_ms": percentile_ms(dense_t, 50),
        "lexical_p50_ms": percentile_ms(lex_t, 50),
        "minilm_query_embedding": embed_ms,
        "dense_side": "random clustered vectors (latency only; not a relevance measure)",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="dense vectors")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--nprobe", type=int, nargs="+", default=[8, 16, 32, 48, 64])
    parser.add_argument("--chunks", type=int, default=100_000, help="chunks in the hybrid store")
    parser.add_argument("--skip-dense", action="store_true")
    parser.add_argument("--skip-hybrid", action="store_true")
    args = parser.parse_args()

    result = {"bench": "search", "cpu_count": os.cpu_count()}
    if not args.skip_dense:
        d = dense_bench(args.n, args.queries, args.nprobe)
        result["dense"] = d
        print(f"dense {d['codec']}: {d['n']:,} x {DIM}  nlist={d['nlist']} shortlist={d['shortlist']}  train "
              f"{d['train_s']:.1f} s  encode {d['encode_s']:.1f} s  codes {d['codes_mb']:.0f} MB  peak RSS {d['peak_rss_mb']:.0f} MB")
        print(f"{'nprobe':>8} {'p50 ms':>7} {'p99 ms':>7} {'recall@10':>9}")
        for r in d["by_nprobe"]:
            print(f"{r['nprobe']:>8} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} {r['recall_at_10']:>9.3f}")
    if not args.skip_hybrid:
        h = hybrid_bench(args.chunks, min(args.queries, 200))
        result["hybrid"] = h
        print(f"hybrid store: {h['chunks']:,} chunks ({h['dense_kind']}), built in {h['store_build_s']:.1f} s, "
              f"{h['index_size_mb']:.0f} MB on disk")
        print(f"  hybrid p50 {h['hybrid_p50_ms']:.1f} ms  p99 {h['hybrid_p99_ms']:.1f} ms  "
              f"(dense p50 {h['dense_p50_ms']:.2f} ms, lexical p50 {h['lexical_p50_ms']:.2f} ms)")
        print(f"  MiniLM query embedding: {h['minilm_query_embedding']}")
    result["loadavg_at_end"] = os.getloadavg()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"wrote {RESULTS}", file=sys.stderr)


if __name__ == "__main__":
    main()
