"""The demo index every retrieval/app test shares, built once per test session.

It is built by the real pipeline (readers, cleaning, chunking, the evidence annotator when it
exists, the store). Only the vectors are memoised across sessions, keyed by model and exact
chunk text, because embedding the whole demo corpus costs minutes on a small CPU and a vector
is a pure function of (model, text). Set M1E_TEST_EMBED_CACHE=0 to embed everything afresh.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from pathlib import Path

import numpy as np

from indexing.embedding import Embedder, load_embedder
from indexing.pipeline import IndexPipeline, IndexReport


def _cache_path(model_name: str) -> Path:
    root = Path(os.environ.get("M1E_TEST_CACHE_DIR") or Path.home() / ".cache" / "m1e-tests")
    root.mkdir(parents=True, exist_ok=True)
    return root / f"embeddings-{model_name}.sqlite"


class CachedEmbedder:
    """An Embedder whose passage vectors are looked up by (model, text) before computing."""

    def __init__(self, inner: Embedder):
        self.inner = inner
        self.name, self.dim = inner.name, inner.dim
        self._path = _cache_path(f"{inner.name}-{inner.dim}")
        self._lock = threading.Lock()
        with sqlite3.connect(self._path) as db:
            db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")

    def count(self, text: str) -> int:
        return self.inner.count(text)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self.inner.embed_queries(texts)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        keys = [hashlib.sha256(f"{self.name}\0{t}".encode()).hexdigest() for t in texts]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        with self._lock, sqlite3.connect(self._path) as db:
            found = {}
            for start in range(0, len(keys), 500):
                part = keys[start : start + 500]
                marks = ",".join("?" * len(part))
                found.update(db.execute(f"SELECT key, vector FROM vectors WHERE key IN ({marks})", part).fetchall())
            missing = [i for i, k in enumerate(keys) if k not in found]
            if missing:
                fresh = self.inner.embed_passages([texts[i] for i in missing])
                db.executemany(
                    "INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                    [(keys[i], fresh[j].tobytes()) for j, i in enumerate(missing)],
                )
                for j, i in enumerate(missing):
                    out[i] = fresh[j]
            for i, k in enumerate(keys):
                if k in found:
                    out[i] = np.frombuffer(found[k], dtype=np.float32)
        return out


def evidence_annotator():
    """The evidence engineer's annotator, or None while that module does not exist yet."""
    try:
        from evidence.annotator import EvidenceAnnotator
    except ModuleNotFoundError as exc:
        if exc.name not in ("evidence.annotator", "evidence"):
            raise
        return None
    return EvidenceAnnotator()


def demo_embedder():
    embedder = load_embedder()
    if os.environ.get("M1E_TEST_EMBED_CACHE", "1") == "0":
        return embedder
    return CachedEmbedder(embedder)


def build_demo_index(index_dir: Path) -> IndexReport:
    """Index the demo corpus into `index_dir` with the evidence annotator (when available)."""
    pipeline = IndexPipeline(index_dir, embedder=demo_embedder(), annotator=evidence_annotator())
    report = pipeline.run_demo()
    if report.failed:
        reasons = "; ".join(f"{f.path}: {f.reason}" for f in report.failed)
        raise RuntimeError(f"demo corpus did not index cleanly: {reasons}")
    return report
