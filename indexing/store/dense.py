"""The FAISS side: exact inner product for small indexes, HNSW for large ones.

Vectors are L2-normalised, so inner product is cosine similarity. Positions in the FAISS index
are positions in the generation's row list; the store maps them back to chunk ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

DenseKind = Literal["flat", "hnsw"]

HNSW_THRESHOLD = 100_000  # below this many vectors exact search is already fast enough
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128  # recall@10 0.99 at 1M clustered vectors (bench/search.py), p50 < 1 ms
EXACT_FILTER_LIMIT = 20_000  # a filter this small is searched exactly, whatever the index


@dataclass(frozen=True)
class DenseOptions:
    kind: Literal["auto", "flat", "hnsw"] = "auto"
    hnsw_threshold: int = HNSW_THRESHOLD
    hnsw_m: int = HNSW_M
    ef_construction: int = HNSW_EF_CONSTRUCTION
    ef_search: int = HNSW_EF_SEARCH

    def choose(self, n_vectors: int) -> DenseKind:
        if self.kind != "auto":
            return self.kind
        return "hnsw" if n_vectors >= self.hnsw_threshold else "flat"


def _faiss():
    import faiss

    return faiss


def new_index(dim: int, kind: DenseKind, options: DenseOptions):
    faiss = _faiss()
    if kind == "flat":
        return faiss.IndexFlatIP(dim)
    index = faiss.IndexHNSWFlat(dim, options.hnsw_m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = options.ef_construction
    index.hnsw.efSearch = options.ef_search
    return index


def index_kind(index) -> DenseKind:
    return "hnsw" if hasattr(index, "hnsw") else "flat"


def build_index(vectors: np.ndarray, options: DenseOptions = DenseOptions()):
    """A FAISS index over `vectors` (float32 [n, dim], normalised) of the kind `options` picks."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    index = new_index(vectors.shape[1], options.choose(len(vectors)), options)
    if len(vectors):
        index.add(vectors)
    return index


def write_index(index, path) -> None:
    _faiss().write_index(index, str(path))


def read_index(path, ef_search: int = HNSW_EF_SEARCH):
    faiss = _faiss()
    # read_index already returns the concrete class; wrapping it again with downcast_index
    # would leave two owners of one C++ object.
    index = faiss.read_index(str(path))
    if hasattr(index, "hnsw"):
        index.hnsw.efSearch = ef_search
    return index


def search(index, query: np.ndarray, k: int, positions: np.ndarray | None = None, ef_search: int = HNSW_EF_SEARCH):
    """(positions, scores) of the k best rows, optionally only among `positions`."""
    faiss = _faiss()
    query = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
    if index.ntotal == 0 or k <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    if positions is None:
        scores, found = index.search(query, min(k, index.ntotal))
    elif len(positions) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    elif len(positions) <= EXACT_FILTER_LIMIT:
        # Small candidate set: exact cosine over just those rows, whatever the index kind.
        positions = np.asarray(positions, dtype=np.int64)
        vectors = index.reconstruct_batch(positions)
        sims = vectors @ query[0]
        top = np.argsort(-sims, kind="stable")[:k]
        return positions[top], sims[top].astype(np.float32)
    else:
        selector = faiss.IDSelectorBatch(np.asarray(positions, dtype=np.int64))
        if hasattr(index, "hnsw"):
            params = faiss.SearchParametersHNSW(sel=selector, efSearch=max(ef_search, 2 * k))
        else:
            params = faiss.SearchParameters(sel=selector)
        scores, found = index.search(query, min(k, len(positions)), params=params)
    keep = found[0] >= 0
    return found[0][keep].astype(np.int64), scores[0][keep].astype(np.float32)
