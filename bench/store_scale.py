"""The store alone as the library grows: commit cost, memory, disk, hybrid search latency, dense recall.

    python bench/store_scale.py                          # 10k, 30k, 100k passages
    python bench/store_scale.py --sizes 10000 300000 1000000 --label segments
    python bench/store_scale.py --sizes 10000 30000 --label baseline   # on the old store

The embedder is left out: vectors are precomputed, so only the store's own cost is measured.
Text is real: sentences of the open-medicine guideline summaries (the demo corpus, MIT),
shuffled and recombined into passages of 3-7 sentences, tokenised once per sentence with the
store's own `lexical_tokens` (a passage's tokens are its sentences' tokens, which is what the
tokenizer gives for English text joined by spaces). Vectors are precomputed, two kinds:
`--vectors minilm` (default): each demo sentence embedded once with the real all-MiniLM-L6-v2,
a passage's vector the normalised sum of its sentences' vectors, queries real MiniLM query
embeddings of the query text: the neighbourhood structure real passages have, at no embedding
cost per passage. `--vectors random`: random 384-d unit vectors around 5,000 centres
(`bench/search.py` `clustered`), where the noise outweighs the centre (same-centre cosine about
0.3): almost no structure, the hardest case for a coarse quantiser. The store grows in commits of 32
documents of about 10 passages each, exactly as `m1e index` commits. At each size it records
the time per commit over the latest commits, time spent merging (outside the commits, where
the store has merges), peak RSS of this (the writer's) process and its RSS before the store
opened (`rss_baseline_mb`: corpus text and cached vectors; the MiniLM vectors of sentences and
queries are cached beside the results, so a second run never loads the model), size on disk,
then opens a reader in a fresh process (as the app would) that times hybrid queries (dense
top-50 + BM25 top-50, fused by reciprocal rank, top 8 chunk rows fetched), measures dense
recall@10 against exact search over every vector and reports its own peak RSS. Beside every wall
time sits the process's CPU time (`*_cpu_*`: time.process_time), since the machine is shared and
a loaded machine stretches wall time, not CPU time. The bench keeps
no passage vectors or texts: a commit's vectors are drawn again from its sentence picks when the
exact top 10 is computed. Writes a table and bench/results/store_scale.json (one entry per
--label, so before and after sit side by side).

    python bench/store_scale.py --search-only /tmp/idx --label mine-1M            # search an existing index
    python bench/store_scale.py --search-only /tmp/idx --optimize --label mine-1M-opt
    python bench/store_scale.py --search-only /tmp/idx --code /tmp/main-worktree --label main-1M
    python bench/store_scale.py --search-only /tmp/idx --grid 256:256 384:512 --label mine-1M-grid

`--search-only PATH` measures search on an index built earlier (by this bench, same --vectors)
without rebuilding it: the exact top 10 comes from the index's own live vectors; `--optimize`
first merges it into one segment (timed; `--codec` picks the codes it is written with);
`--code DIR` runs the reader on another checkout's `indexing`/`evidence` packages (e.g. main's
worktree), so two versions of the search are timed on the same files at the same time;
`--grid NPROBE:SHORTLIST ...` searches once per setting of the IVF search (cells visited,
candidates re-ranked a segment), one row each, to choose the store's defaults (`indexing/store/dense.py`).
With `--optimize` a grown index is merged into one segment at the largest size and searched
again: an `optimized` row in the table (optimize time, the writer's peak RSS so far) and
`after_optimize` in the JSON row.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results" / "store_scale.json"
DIM = 384
DOCS_PER_COMMIT = 32


def _status_mb(field: str) -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for entry in fh:
            if entry.startswith(field + ":"):
                return int(entry.split()[1]) / 1024
    raise KeyError(field)


def rss_mb() -> float:
    """Peak RSS of this process so far: VmHWM, not getrusage's ru_maxrss, which a child started
    with fork and exec inherits from its parent (the reader would report the writer's peak)."""
    return _status_mb("VmHWM")


def current_rss_mb() -> float:
    return _status_mb("VmRSS")


def disk_mb(root: Path) -> float:
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            try:
                total += (Path(dirpath) / name).stat().st_size
            except OSError:
                pass
    return total / 2**20


class Corpus:
    """Deterministic commits of documents: text from real sentences, clustered random vectors."""

    def __init__(self, seed: int = 0, vectors: str = "minilm"):
        from bench.indexing import _sentences
        from indexing.lexical import lexical_tokens

        sentences, _ = _sentences()
        self.sentences = sentences
        self.tokens = [lexical_tokens(s) for s in sentences]
        self.seed = seed
        self.kind = vectors
        rng = np.random.default_rng(seed)
        self.centroids = rng.standard_normal((5000, DIM), dtype=np.float32)
        self.centroids /= np.linalg.norm(self.centroids, axis=1, keepdims=True)
        self.counts: dict[int, int] = {}  # commit -> passages, so vectors can be drawn again alone
        self.picks: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # commit -> (sentences, passage starts)
        self.embedder = None  # loaded only when a cache below is missing
        if vectors == "minilm":
            self.sentence_vectors = self._cached("sentences", self.sentences, passages=True)

    def _cached(self, name: str, texts: list[str], passages: bool) -> np.ndarray:
        """MiniLM vectors of `texts`, cached beside the results (keyed by the texts), so a run with
        the caches never loads the model: the process then measures the store, not torch."""
        key = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
        cache = RESULTS.parent / f"store_scale_{name}_{key}.npy"
        if cache.is_file():
            return np.load(cache, allow_pickle=False)
        if self.embedder is None:
            from indexing.embedding import load_embedder

            self.embedder = load_embedder()
        t0 = time.perf_counter()
        embed = self.embedder.embed_passages if passages else self.embedder.embed_queries
        vectors = embed(texts).astype(np.float32)
        print(f"embedded {len(texts)} {name} in {time.perf_counter() - t0:.0f} s", flush=True)
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, vectors, allow_pickle=False)
        return vectors

    def _vectors(self, commit: int, n: int) -> np.ndarray:
        if self.kind == "minilm":
            flat, starts = self.picks[commit]
            summed = np.add.reduceat(self.sentence_vectors[flat], starts, axis=0)
            return (summed / np.linalg.norm(summed, axis=1, keepdims=True)).astype(np.float32)
        from bench.search import clustered

        return clustered(n, np.random.default_rng([self.seed, commit]), self.centroids)

    def queries(self, texts: list[str]) -> np.ndarray:
        if self.kind == "minilm":
            return self._cached("queries", texts, passages=False)
        from bench.search import clustered

        return clustered(len(texts), np.random.default_rng(99), self.centroids)

    def commit(self, commit: int):
        """[(document, chunks, tokens)], vectors for the passages of commit number `commit`."""
        from indexing.schema import Chunk, Document, Page

        rng = random.Random(self.seed * 1_000_003 + commit)
        docs, n, all_picks = [], 0, []
        for d in range(DOCS_PER_COMMIT):
            key = f"{commit}:{d}"
            doc_id = hashlib.sha256(key.encode()).hexdigest()
            chunks, tokens = [], []
            for i in range(rng.randint(8, 12)):
                picks = [rng.randrange(len(self.sentences)) for _ in range(rng.randint(3, 7))]
                all_picks.append(picks)
                text = " ".join(self.sentences[p] for p in picks)
                chunks.append(Chunk(chunk_id=f"{doc_id[:16]}:{i}", document_id=doc_id, ordinal=i, text=text,
                                    page_start=1, page_end=1))
                tokens.append([t for p in picks for t in self.tokens[p]])
            document = Document(document_id=doc_id, path=f"/bench/{key}.txt", format="text", title=f"Bench {key}",
                                pages=[Page(number=1, text=chunks[0].text)])
            docs.append((document, chunks, tokens))
            n += len(chunks)
        self.counts[commit] = n
        self.picks[commit] = (np.array([i for p in all_picks for i in p], dtype=np.int32),
                              np.cumsum([0] + [len(p) for p in all_picks[:-1]]))
        return docs, self._vectors(commit, n)

    def exact_top10(self, commits: int, queries: np.ndarray) -> np.ndarray:
        """Chunk-order indices of the exact top 10 per query, over the vectors of `commits` commits."""
        best_s = np.full((len(queries), 10), -np.inf, dtype=np.float32)
        best_i = np.full((len(queries), 10), -1, dtype=np.int64)
        offset = 0
        for c in range(commits):
            vectors = self._vectors(c, self.counts[c])
            s = queries @ vectors.T
            idx = np.broadcast_to(np.arange(offset, offset + len(vectors)), s.shape)
            all_s, all_i = np.concatenate([best_s, s], axis=1), np.concatenate([best_i, idx], axis=1)
            top = np.argsort(-all_s, axis=1, kind="stable")[:, :10]
            best_s, best_i = np.take_along_axis(all_s, top, 1), np.take_along_axis(all_i, top, 1)
            offset += len(vectors)
        return best_i


def questions(corpus: Corpus, n_queries: int) -> list[str]:
    qrng = random.Random(11)
    return [" ".join(qrng.choice(corpus.sentences).split()[:8]) for _ in range(n_queries)]


def measure_search(index_dir: Path, corpus: Corpus, commits: int, chunk_ids: list[np.ndarray],
                   texts: list[str], qvecs: np.ndarray, nprobe: int | None, shortlist: int | None = None) -> dict:
    """Hybrid latency, dense recall@10 and the reader's own peak RSS, from a reader opened in a
    fresh process (as the app opens it): the writer's process then holds only the writer's
    memory, and the reader's figure is the store's read side alone (no embedder: the query
    vectors come precomputed)."""
    ids = np.concatenate(chunk_ids)
    truth = ids[corpus.exact_top10(commits, qvecs)]
    return run_search_child(index_dir, texts, qvecs, [[t.decode() for t in row] for row in truth], nprobe,
                            shortlist=shortlist)


def run_search_child(index_dir: Path, texts: list[str], qvecs: np.ndarray, truth: list[list[str]],
                     nprobe: int | None, code: Path | None = None, shortlist: int | None = None) -> dict:
    """`search_child` in a fresh process, on this checkout's packages or on those of `code`."""
    with tempfile.TemporaryDirectory(prefix="m1e-store-scale-job-") as tmp:
        job = Path(tmp)
        np.save(job / "queries.npy", qvecs, allow_pickle=False)
        (job / "job.json").write_text(json.dumps({
            "index": str(index_dir), "nprobe": nprobe, "shortlist": shortlist, "questions": texts, "truth": truth,
            "code": str(code) if code else None}), encoding="utf-8")
        out = subprocess.run([sys.executable, __file__, "--search-child", str(job)], check=True,
                             capture_output=True, text=True, cwd=code or ROOT).stdout
    return json.loads(out.strip().splitlines()[-1])


def dense_options(nprobe: int | None, shortlist: int | None, **extra):
    """The store's DenseOptions with the given search settings (None: the store's default)."""
    from indexing.store import DenseOptions

    given = {k: v for k, v in {"nprobe": nprobe, "shortlist": shortlist, **extra}.items() if v}
    return DenseOptions(**given) if given else None


def search_child(job: Path) -> dict:
    """Runs in the fresh reader process: open the index, time hybrid queries (wall and CPU time),
    count dense hits. With a `code` directory its packages are imported instead of this checkout's."""
    spec = json.loads((job / "job.json").read_text(encoding="utf-8"))
    if spec.get("code"):
        sys.path.insert(0, spec["code"])
    from bench.search import percentile_ms
    from evidence.retrieval import rrf  # the fusion the product uses
    from indexing.store import IndexStore

    qvecs = np.load(job / "queries.npy", allow_pickle=False)
    options = dense_options(spec["nprobe"], spec.get("shortlist"))
    t0 = time.perf_counter()
    reader = IndexStore.open(spec["index"], dense_options=options)
    open_s = time.perf_counter() - t0
    rss_open = rss_mb()
    times, cpu, dense_t, lex_t, hits = [], [], [], [], 0
    for q, v, truth in zip(spec["questions"], qvecs, spec["truth"]):
        t, c = time.perf_counter(), time.process_time()
        dense = reader.search_dense(v, 50)
        t1 = time.perf_counter()
        lexical = reader.search_lexical(q, 50)
        t2 = time.perf_counter()
        fused = rrf([[cid for cid, _ in dense], [cid for cid, _ in lexical]])  # the product's fusion
        reader.chunks(sorted(fused, key=fused.get, reverse=True)[:8])
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        dense_t.append(t1 - t)
        lex_t.append(t2 - t1)
        hits += len({cid for cid, _ in dense[:10]} & set(truth))
    stats = reader.stats()
    reader.close()
    options = reader.dense_options
    return {
        "nprobe_used": options.nprobe,
        "shortlist_used": options.shortlist,
        "reader_open_s": open_s,
        "dense_kind": stats.dense_kind,
        "segments": stats.segments,
        "code": str(Path(sys.modules[IndexStore.__module__].__file__).resolve().parents[2]),  # what was imported
        "hybrid_p50_ms": percentile_ms(times, 50),
        "hybrid_cpu_p50_ms": percentile_ms(cpu, 50),
        "hybrid_p99_ms": percentile_ms(times, 99),
        "dense_p50_ms": percentile_ms(dense_t, 50),
        "lexical_p50_ms": percentile_ms(lex_t, 50),
        "dense_recall_at_10": hits / (10 * len(qvecs)),
        "reader_rss_after_open_mb": rss_open,
        "reader_peak_rss_mb": rss_mb(),
    }


def grow(index_dir: Path, corpus: Corpus, sizes: list[int], n_queries: int, optimize: bool, sink,
         nprobe: int | None = None, shortlist: int | None = None) -> list[dict]:
    from indexing.store import IndexStore

    texts = questions(corpus, n_queries)
    qvecs = corpus.queries(texts)  # before the store opens, so the baseline includes them
    baseline = current_rss_mb()
    options = dense_options(nprobe, shortlist)
    kw = {"dense_options": options} if options else {}
    store = IndexStore.open(index_dir, create=True, embedder_name=f"bench-{corpus.kind}-384", dim=DIM, **kw)
    rows: list[dict] = []
    commit_s: list[float] = []
    commit_cpu: list[float] = []
    merge_s, merge_cpu, passages, chunk_ids = 0.0, 0.0, 0, []
    targets = sorted(sizes)
    with store.writer() as w:
        merge = getattr(w, "maybe_merge", None)
        c = 0
        while targets:
            docs, vectors = corpus.commit(c)
            t0, c0 = time.perf_counter(), time.process_time()
            offset = 0
            for document, chunks, tokens in docs:
                w.add_document(document, chunks, vectors[offset : offset + len(chunks)], lexical=tokens)
                offset += len(chunks)
            w.commit()
            commit_s.append(time.perf_counter() - t0)
            commit_cpu.append(time.process_time() - c0)
            chunk_ids.append(np.array([ch.chunk_id for _, chunks, _ in docs for ch in chunks], dtype="S"))
            if merge is not None:
                t0, c0 = time.perf_counter(), time.process_time()
                merge()
                merge_s += time.perf_counter() - t0
                merge_cpu += time.process_time() - c0
            passages += offset
            c += 1
            if passages >= targets[0]:
                targets.pop(0)
                window = np.array(commit_s[-min(len(commit_s), 30):]) * 1000
                cpu_window = np.array(commit_cpu[-min(len(commit_cpu), 30):]) * 1000
                row = {
                    "passages": passages,
                    "commits": c,
                    "commit_ms_mean": float(window.mean()),
                    "commit_ms_p50": float(np.percentile(window, 50)),
                    "commit_ms_max": float(window.max()),
                    "commit_cpu_ms_mean": float(cpu_window.mean()),
                    "store_s_total": float(sum(commit_s) + merge_s),
                    "store_cpu_s_total": float(sum(commit_cpu) + merge_cpu),
                    "merge_s_total": merge_s,
                    "merge_cpu_s_total": merge_cpu,
                    "rss_baseline_mb": baseline,
                    "peak_rss_mb": rss_mb(),
                    "rss_now_mb": current_rss_mb(),
                    "disk_mb": disk_mb(index_dir),
                    "loadavg": os.getloadavg()[0],
                }
                row.update(measure_search(index_dir, corpus, c, chunk_ids, texts, qvecs, nprobe, shortlist))
                rows.append(row)
                print(line(row), flush=True)
                sink(rows)
                if optimize and not targets and hasattr(w, "optimize"):
                    t0, c0 = time.perf_counter(), time.process_time()
                    w.optimize()
                    row["optimize_s"] = time.perf_counter() - t0
                    row["optimize_cpu_s"] = time.process_time() - c0
                    row["peak_rss_after_optimize_mb"] = rss_mb()
                    row["loadavg_after_optimize"] = os.getloadavg()[0]
                    row["after_optimize"] = measure_search(index_dir, corpus, c, chunk_ids, texts, qvecs, nprobe,
                                                           shortlist)
                    row["after_optimize"]["disk_mb"] = disk_mb(index_dir)
                    print(optimized_line(row), flush=True)
                    sink(rows)
    store.close()
    return rows


HEADER = (f"{'passages':>9} {'commit ms':>9} {'(cpu)':>6} {'(max)':>7} {'store s':>8} {'(cpu)':>7} {'merge s':>7} "
          f"{'RSS MB':>7} {'(base)':>6} {'reader':>6} {'disk MB':>8} {'p50 ms':>7} {'(cpu)':>6} {'p99 ms':>7} "
          f"{'dense':>6} {'recall':>6}")


def line(r: dict) -> str:
    return (f"{r['passages']:>9,} {r['commit_ms_mean']:>9.1f} {r['commit_cpu_ms_mean']:>6.1f} {r['commit_ms_max']:>7.0f} "
            f"{r['store_s_total']:>8.1f} {r['store_cpu_s_total']:>7.1f} {r['merge_s_total']:>7.1f} "
            f"{r['peak_rss_mb']:>7.0f} {r['rss_baseline_mb']:>6.0f} {r['reader_peak_rss_mb']:>6.0f} "
            f"{r['disk_mb']:>8.0f} {search_columns(r)}")


def optimized_line(r: dict) -> str:
    """The row of a size after `optimize` (one segment): its time, the writer's peak RSS so far
    (VmHWM: the optimize's peak or the growth's, whichever was higher) and the search again."""
    after = r["after_optimize"]
    return (f"{'optimized':>9} {'':>9} {'':>6} {'':>7} {r['optimize_s']:>8.1f} {r['optimize_cpu_s']:>7.1f} {'':>7} "
            f"{r['peak_rss_after_optimize_mb']:>7.0f} {'':>6} {after['reader_peak_rss_mb']:>6.0f} "
            f"{disk_mb_of(after):>8} {search_columns(after)}  ({after['segments']} segment(s))")


def disk_mb_of(r: dict) -> str:
    return f"{r['disk_mb']:.0f}" if "disk_mb" in r else ""


def search_columns(r: dict) -> str:
    return (f"{r['hybrid_p50_ms']:>7.1f} {r['hybrid_cpu_p50_ms']:>6.1f} {r['hybrid_p99_ms']:>7.1f} "
            f"{r['dense_kind']:>6} {r['dense_recall_at_10']:>6.3f}")


def exact_truth(index_dir: Path, qvecs: np.ndarray) -> tuple[list[list[str]], int]:
    """Chunk ids of the exact top 10 per query over the index's own live vectors (best first,
    ties in row order), read a segment at a time from the files; and the number of live rows."""
    from indexing.store import IndexStore

    store = IndexStore.open(index_dir)
    best_s = np.full((len(qvecs), 10), -np.inf, dtype=np.float32)
    best_i = np.full((len(qvecs), 10), -1, dtype=np.int64)
    ids: list[str] = []
    for view in store._snapshot.views:
        segment = view.segment
        keep = np.ones(len(segment), dtype=bool) if view.alive is None else np.asarray(view.alive)
        for start in range(0, len(segment), 65_536):
            k = keep[start : start + 65_536]
            block = np.asarray(segment.vectors[start : start + 65_536], dtype=np.float32)[k]
            s = qvecs @ block.T
            index = np.broadcast_to(np.arange(len(ids), len(ids) + len(block)), s.shape)
            ids += [c for c, live in zip(segment.chunk_ids[start : start + 65_536], k) if live]
            all_s, all_i = np.concatenate([best_s, s], axis=1), np.concatenate([best_i, index], axis=1)
            top = np.argsort(-all_s, axis=1, kind="stable")[:, :10]
            best_s, best_i = np.take_along_axis(all_s, top, 1), np.take_along_axis(all_i, top, 1)
    store.close()
    return [[ids[i] for i in row if i >= 0] for row in best_i], len(ids)


def search_only(index_dir: Path, corpus: Corpus, args) -> list[dict]:
    """Search an existing index (optionally optimized first, with --codec codes) from a fresh
    reader process on this checkout's code or on --code's: one row per --grid setting (the
    exact top 10 is computed once for all of them), else one row with --nprobe/--shortlist."""
    from indexing.store import DenseOptions, IndexStore

    texts = questions(corpus, args.queries)
    qvecs = corpus.queries(texts)
    base: dict = {"index": str(index_dir), "loadavg_before": os.getloadavg()[0]}
    if args.optimize:
        options = DenseOptions(codec=args.codec) if args.codec else None
        base["rss_before_optimize_mb"] = current_rss_mb()
        store = IndexStore.open(index_dir, dense_options=options)
        t0, c0 = time.perf_counter(), time.process_time()
        store.optimize()
        base.update(optimize_s=time.perf_counter() - t0, optimize_cpu_s=time.process_time() - c0,
                    optimize_codec=args.codec or "default", peak_rss_optimize_mb=rss_mb(),
                    loadavg_after_optimize=os.getloadavg()[0])
        store.close()
        print(f"optimized in {base['optimize_s']:.1f} s ({base['optimize_cpu_s']:.1f} s CPU), "
              f"peak RSS {base['peak_rss_optimize_mb']:.0f} MB", flush=True)
    truth, base["passages"] = exact_truth(index_dir, qvecs)
    base["disk_mb"] = disk_mb(index_dir)
    rows = []
    for nprobe, shortlist in args.grid or [(args.nprobe, args.shortlist)]:
        row = {**base, "nprobe": nprobe, "shortlist": shortlist}
        row.update(run_search_child(index_dir, texts, qvecs, truth, nprobe, Path(args.code) if args.code else None,
                                    shortlist))
        row["loadavg"] = os.getloadavg()[0]
        rows.append(row)
        print(f"{row['passages']:>9,} passages, {row['segments']} segment(s), nprobe {row['nprobe_used']}, "
              f"shortlist {row['shortlist_used']}: p50 / cpu / p99 / kind / recall {search_columns(row)} "
              f"(dense p50 {row['dense_p50_ms']:.1f} ms, load {row['loadavg']:.1f})", flush=True)
    return rows


def grid_setting(text: str) -> tuple[int, int]:
    """'NPROBE:SHORTLIST' of --grid."""
    try:
        nprobe, shortlist = (int(x) for x in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--grid wants NPROBE:SHORTLIST, got {text!r}") from None
    return nprobe, shortlist


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000], help="passages")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--label", default="segments", help="name of this run in the JSON (e.g. baseline)")
    parser.add_argument("--optimize", action="store_true", help="optimize at the largest size and search again")
    parser.add_argument("--dir", help="index directory (default: a temporary one, removed after)")
    parser.add_argument("--vectors", choices=["minilm", "random"], default="minilm", help="see the module docstring")
    parser.add_argument("--nprobe", type=int, help="IVF cells searched (default: the store's)")
    parser.add_argument("--shortlist", type=int, help="IVF candidates re-ranked a segment (default: the store's)")
    parser.add_argument("--grid", type=grid_setting, nargs="+", metavar="NPROBE:SHORTLIST",
                        help="with --search-only: one search row per setting")
    parser.add_argument("--search-only", metavar="PATH", help="only search the existing index at PATH")
    parser.add_argument("--code", metavar="DIR", help="with --search-only: the checkout whose packages search")
    parser.add_argument("--codec", choices=["pq4fs", "sq8"], help="with --search-only --optimize: the codes written")
    parser.add_argument("--note", default="shared 2-core machine under load from other work; timings are indicative")
    parser.add_argument("--search-child", metavar="JOB", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.search_child:
        print(json.dumps(search_child(Path(args.search_child))))
        return

    corpus = Corpus(vectors=args.vectors)
    print(f"{len(corpus.sentences)} demo-corpus sentences; {DOCS_PER_COMMIT} documents per commit", flush=True)
    results = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.is_file() else {"bench": "store_scale"}
    results.setdefault("runs", {})

    def sink(rows: list[dict]) -> None:
        results["runs"][args.label] = {
            "sizes": args.sizes,
            "vectors": args.vectors,
            "nprobe": args.nprobe,
            "shortlist": args.shortlist,
            "cpu_count": os.cpu_count(),
            "commit": _git_commit(Path(args.code) if args.code else ROOT),
            "note": args.note,
            "rows": rows,
        }
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2), encoding="utf-8")

    if args.search_only:
        rows = search_only(Path(args.search_only), corpus, args)
        args.sizes = [rows[0]["passages"]]
        sink(rows)
    elif args.dir:
        print(HEADER, flush=True)
        grow(Path(args.dir), corpus, args.sizes, args.queries, args.optimize, sink, args.nprobe, args.shortlist)
    else:
        print(HEADER, flush=True)
        with tempfile.TemporaryDirectory(prefix="m1e-store-scale-") as tmp:
            grow(Path(tmp) / "index", corpus, args.sizes, args.queries, args.optimize, sink, args.nprobe,
                 args.shortlist)
    print(f"wrote {RESULTS}", file=sys.stderr)


def _git_commit(checkout: Path) -> str | None:
    """The commit the measured code is at (and '+dirty' when it has changes), for the record."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=checkout, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=checkout,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty else "")


if __name__ == "__main__":
    main()
