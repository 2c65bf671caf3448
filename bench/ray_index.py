"""Indexing on Ray against the single-machine path: the same documents, time and equality.

    python bench/ray_index.py                  # 2,000 documents: local, Ray with 1 and 2 workers
    python bench/ray_index.py --docs 200       # quick

The corpus is real text: the 489 PubMed titles and abstracts of bench/data/grading/pubmed_dev.jsonl
written as one .txt file per document, varied to reach --docs (copy k of a record appends the
first sentence of another record, so no two files share bytes and none is skipped as a copy).
Each configuration indexes it from scratch with the product's default embedder (MiniLM) and the
evidence grader: the local runner (reader thread + embedding in this process, torch on every
core), then a Ray instance started here on 127.0.0.1 with as many CPUs as the machine has, with
1 and 2 actors (Ray gives each actor one CPU, so torch uses one thread per actor). Ray times
include the actors' start (each loads torch and the model). Each Ray index is compared with the
local one (indexing/store/compare.py: documents, passages, grades, vectors within 1e-4, lexical
and dense top-10 for the queries below). The machine may be shared: the 1-minute load average,
sampled every 5 s during each run (mean and max), is reported beside its time. Prints a table; writes
bench/results/ray_index.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "ray_index.json"
ABSTRACTS = ROOT / "bench" / "data" / "grading" / "pubmed_dev.jsonl"
QUERIES = [
    "randomised controlled trial of blood pressure lowering",
    "case-control study of genetic polymorphism",
    "systematic review and meta-analysis of mortality",
    "hepatitis C coinfection in HIV patients",
    "guideline recommendation for screening",
    "cohort study risk of diabetes",
]


def make_corpus(directory: Path, n_docs: int) -> int:
    """One text file per document; returns how many distinct source records they draw on."""
    from indexing.text import split_sentences

    records = [json.loads(line) for line in ABSTRACTS.read_text(encoding="utf-8").splitlines() if line.strip()]
    directory.mkdir(parents=True, exist_ok=True)
    for j in range(n_docs):
        record = records[j % len(records)]
        text = f"{record['title']}\n\n{record['abstract']}\n"
        copy = j // len(records)
        if copy:
            other = records[(j * 7 + copy) % len(records)]
            extra = split_sentences(other["abstract"])[:1]
            text += f"\n{extra[0] if extra else other['title']}\n"
        (directory / f"doc-{j:05d}.txt").write_text(text, encoding="utf-8")
    return min(n_docs, len(records))


class LoadSampler:
    """The 1-minute load average every `every_s` seconds while a run lasts (the machine is shared:
    a run's time means little without the load it ran under)."""

    def __init__(self, every_s: float = 5.0) -> None:
        self.every_s, self.samples = every_s, [os.getloadavg()[0]]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(os.getloadavg()[0])


def index_once(corpus: Path, index_dir: Path, embedder, runner) -> dict:
    from evidence.annotator import EvidenceAnnotator
    from indexing.pipeline import IndexPipeline

    load_before = os.getloadavg()[0]
    with LoadSampler() as load:
        started = time.perf_counter()
        report = IndexPipeline(index_dir, embedder=embedder, annotator=EvidenceAnnotator(), runner=runner).run([corpus])
        wall = time.perf_counter() - started
    return {
        "wall_s": round(wall, 2),
        "docs_per_s": round(report.totals.indexed / wall, 2),
        "indexed": report.totals.indexed,
        "failed": report.totals.failed,
        "chunks": report.totals.chunks,
        "stage_s": {k: round(v, 2) for k, v in report.stage_seconds.model_dump().items()},
        "load_1min_before": round(load_before, 2),
        "load_1min_after": round(os.getloadavg()[0], 2),
        "load_1min_mean": round(sum(load.samples) / len(load.samples), 2),
        "load_1min_max": round(max(load.samples), 2),
    }


def compare(local_dir: Path, other_dir: Path, embedder) -> list[str]:
    from indexing.store import IndexStore
    from indexing.store.compare import index_differences

    a, b = IndexStore.open(local_dir), IndexStore.open(other_dir)
    try:
        return index_differences(a, b, QUERIES, embedder.embed_queries(QUERIES))
    finally:
        a.close()
        b.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--ray-workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    import ray
    import torch

    from indexing.embedding import load_embedder
    from indexing.ray_runner import RayRunner
    from indexing.runners import LocalRunner

    embedder = load_embedder()
    embedder.embed_passages(["warm-up sentence"] * 8)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        records = make_corpus(corpus, args.docs)
        print(f"{args.docs} documents from {records} PubMed abstracts; load average {os.getloadavg()}", flush=True)
        local_dir = Path(tmp) / "local"
        row = {"runner": "local", "workers": 1, "torch_threads": torch.get_num_threads()}
        row.update(index_once(corpus, local_dir, embedder, LocalRunner(1)))
        row["equal_to_local"] = True
        rows.append(row)
        print(row, flush=True)
        cpus = os.cpu_count() or 1
        started = time.perf_counter()
        ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=False,
                 _node_ip_address="127.0.0.1", _temp_dir=str(Path(tmp) / "ray"))
        ray_start_s = time.perf_counter() - started
        try:
            for workers in args.ray_workers:
                ray_dir = Path(tmp) / f"ray-{workers}"
                row = {"runner": "ray", "workers": workers, "torch_threads": 1}
                row.update(index_once(corpus, ray_dir, embedder, RayRunner("local", workers=workers)))
                differences = compare(local_dir, ray_dir, embedder)
                row["equal_to_local"], row["differences"] = not differences, differences
                rows.append(row)
                print(row, flush=True)
        finally:
            ray.shutdown()
    result = {
        "docs": args.docs,
        "source_records": records,
        "machine": {"cpus": cpus, "platform": platform.platform(), "ray": ray.__version__},
        "ray_instance_start_s": round(ray_start_s, 2),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print_table(result)


def print_table(result: dict) -> None:
    print(f"\n{result['docs']} documents, {result['machine']['cpus']} CPUs, Ray {result['machine']['ray']} "
          f"(instance start {result['ray_instance_start_s']} s, not in the times)")
    print(f"{'runner':8} {'workers':>7} {'threads':>7} {'wall s':>8} {'docs/s':>7} {'chunks':>7} "
          f"{'embed s':>8} {'load mean/max':>14} {'equal':>6}")
    for r in result["rows"]:
        print(f"{r['runner']:8} {r['workers']:>7} {r['torch_threads']:>7} {r['wall_s']:>8.1f} {r['docs_per_s']:>7.1f} "
              f"{r['chunks']:>7} {r['stage_s']['embed']:>8.1f} {r['load_1min_mean']:>8.2f}/{r['load_1min_max']:<5.2f} "
              f"{'yes' if r['equal_to_local'] else 'NO':>6}")


if __name__ == "__main__":
    main()
