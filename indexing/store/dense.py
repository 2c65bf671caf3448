"""The dense side: exact search over small segments, IVF codes with an exact re-rank over big ones.

Vectors are L2-normalised, so inner product is cosine similarity. Every segment keeps its float
vectors in a .npy file that readers memory-map: small segments are searched exactly from it;
segments of `ivf_segment_min` rows or more, once the index holds `compress_threshold` live
vectors, also carry an IVF index of compressed codes whose shortlist is re-ranked exactly from
the mapped floats. The codes are 4-bit fast-scan PQ by default (faiss IndexIVFPQFastScan: one
4-bit code per 4 dimensions, 48 bytes a 384-d vector, 46 MB at 1M; scanned with SIMD lookup
tables in registers, several times faster than SQ8's 384 bytes a vector); `codec="sq8"` keeps
the older SQ8 (or 8-bit PQ when SQ8 would not fit the memory setting). PQ4 alone ranks coarsely,
so its shortlist is long (SHORTLIST) and the returned scores are exact cosines either way. The coarse quantiser and the codes are trained once on a
sample when the threshold is first passed (`train_codec`) and retrained by `m1e index --optimize`.
IVF ids are global row ids, so segments encoded with one codec merge by moving their inverted
lists (`merge_from`), without encoding again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

DenseKind = Literal["flat", "ivf"]
Codec = Literal["pq4fs", "sq8"]

COMPRESS_THRESHOLD = 100_000  # below this many live vectors exact search is fast enough (~10 ms)
IVF_SEGMENT_MIN = 20_000  # smaller segments stay exact: 20k x 384 is ~2 ms of matrix-vector work
NLIST = 1024  # coarse cells; ~1000 vectors a cell at 1M, the usual sqrt-of-N order
# Cells visited per query (NPROBE) and candidates a segment re-ranks exactly (SHORTLIST, at least
# 4 k). Passages whose vectors are sums of real MiniLM sentence vectors spread evenly, so a coarse
# cell holds few of a query's neighbours, and 4-bit PQ misorders near neighbours, so both are
# large. Chosen at 1M passages (bench/store_scale.py --grid, runs store7-1M-optimize and
# store7-1M-12seg-grid in bench/results/store_scale.json; 100 queries, codes trained on 41k),
# dense recall@10 against exact search, nprobe:shortlist:
#   one segment (after optimize): 128:1024 0.908, 256:512 0.959, 256:1024 0.964, 384:512 0.977,
#                                 384:1024 0.982, 384:2048 0.982, 512:1024 0.990
#   12 segments (as grown):       256:256 0.953, 256:512 0.955, 384:256 0.969, 384:512 0.971,
#                                 512:512 0.978
# 256 cells leave recall within a query or two of the 0.95 target (the standard error of 100
# queries is ~0.01); 384 gives a margin, and a longer shortlist or more cells buy under 0.015 for
# more work. Cost (faiss search of the one 1M segment, CPU ms a query, one process, back to back):
# 2.2 at 128 cells, 3.9 at 256, 5.5 at 384 (k=512; k=64..1024 within 2 ms), plus 1.3 ms for the
# exact re-rank of 512 mapped rows: a fifth to a quarter of a hybrid query's ~30 ms (the BM25 side
# and the chunk fetch are the rest), so the margin is cheap. Wall-clock p50s of the grid rows are
# not comparable to each other: the 2-core machine was at load 5-7 while they ran.
NPROBE = 384
SHORTLIST = 512
TRAIN_PER_CELL = 40  # faiss wants >= 39 training points a cell
MEMORY_MB = 1024  # budget for resident codes per PLANNED_VECTORS (fast-scan PQ4 needs 48 MB)
PLANNED_VECTORS = 1_000_000
EXACT_FILTER_LIMIT = 20_000  # a filter this small is searched exactly, whatever the index


@dataclass(frozen=True)
class DenseOptions:
    kind: Literal["auto", "flat", "ivf"] = "auto"
    compress_threshold: int = COMPRESS_THRESHOLD
    ivf_segment_min: int = IVF_SEGMENT_MIN
    nlist: int = NLIST
    nprobe: int = NPROBE
    shortlist: int = SHORTLIST
    memory_mb: int = MEMORY_MB
    planned_vectors: int = PLANNED_VECTORS
    codec: Codec = "pq4fs"

    def choose(self, n_vectors: int) -> DenseKind:
        """Whether an index of `n_vectors` live vectors should carry compressed codes."""
        if self.kind != "auto":
            return self.kind
        return "ivf" if n_vectors >= self.compress_threshold else "flat"

    def code_bytes(self, dim: int) -> int:
        """Bytes a vector's code takes. pq4fs: half a byte per 4 dimensions (dim / 8), fewer
        sub-quantisers if the budget is smaller; sq8: one a dimension if that fits, else less."""
        budget = self.memory_mb * 2**20 // max(self.planned_vectors, 1)
        if self.codec == "pq4fs":
            return fastscan_m(dim, budget) // 2
        return dim if budget >= dim else max(8, int(budget))

    def label(self, dim: int) -> str:
        """The codec_label a codec trained under these options has."""
        if self.codec == "pq4fs":
            return "ivf-pq4fs"
        return "ivf-sq8" if self.code_bytes(dim) >= dim else "ivf-pq"


def fastscan_m(dim: int, budget_bytes: int) -> int:
    """Sub-quantisers of a 4-bit fast-scan PQ: one per 4 dimensions (96 at 384-d, the usual
    accuracy/speed point), fewer when the byte budget is smaller; even (codes are packed in
    pairs) and a divisor of dim."""
    want = max(2, min(dim // 4, 2 * int(budget_bytes)))
    fits = [m for m in range(2, want + 1, 2) if dim % m == 0]
    if not fits:
        raise ValueError(f"no even number of sub-quantisers up to {want} divides dimension {dim}")
    return fits[-1]


def _faiss():
    import faiss

    return faiss


def train_codec(sample: np.ndarray, options: DenseOptions):
    """An empty, trained IVF index (inner product) over `sample`; codes sized by the memory setting."""
    faiss = _faiss()
    sample = np.ascontiguousarray(sample, dtype=np.float32)
    dim = sample.shape[1]
    nlist = max(1, min(options.nlist, len(sample) // TRAIN_PER_CELL))
    quantizer = faiss.IndexFlatIP(dim)
    code = options.code_bytes(dim)
    if options.codec == "pq4fs":
        index = faiss.IndexIVFPQFastScan(quantizer, dim, nlist, 2 * code, 4, faiss.METRIC_INNER_PRODUCT)
    elif code >= dim:
        index = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit,
                                              faiss.METRIC_INNER_PRODUCT)
    else:
        m = max(d for d in range(1, code + 1) if dim % d == 0)
        index = faiss.IndexIVFPQ(quantizer, dim, nlist, m, 8, faiss.METRIC_INNER_PRODUCT)
    index.train(sample)
    return index


def codec_label(index) -> str:
    if isinstance(index, _faiss().IndexIVFPQFastScan):
        return "ivf-pq4fs"
    return "ivf-pq" if hasattr(index, "pq") else "ivf-sq8"


def clone(codec):
    """An empty copy of the trained `codec` (or a copy of any index), independent of it."""
    return _faiss().clone_index(codec)


def encode(codec, vectors: np.ndarray, rows: np.ndarray):
    """A copy of the trained `codec` holding `vectors` under ids `rows`."""
    index = clone(codec)
    for start in range(0, len(rows), 65_536):
        index.add_with_ids(np.ascontiguousarray(vectors[start : start + 65_536], dtype=np.float32),
                           np.ascontiguousarray(rows[start : start + 65_536], dtype=np.int64))
    return index


def merge_encoded(indexes: list, drop_rows: np.ndarray):
    """One IVF index with the lists of `indexes` (same codec; consumed), minus `drop_rows`."""
    faiss = _faiss()
    target = indexes[0]
    for other in indexes[1:]:
        target.merge_from(other, 0)
    if len(drop_rows):
        target.remove_ids(faiss.IDSelectorBatch(np.ascontiguousarray(drop_rows, dtype=np.int64)))
    return target


def write_index(index, path) -> None:
    _faiss().write_index(index, str(path))


def read_index(path):
    # read_index already returns the concrete class; wrapping it again with downcast_index
    # would leave two owners of one C++ object. Codes are read into memory, not mapped
    # (faiss IO_FLAG_MMAP): mapped codes made a 1M-passage dense query ~25% slower (A/B on one
    # index, same machine: p50 101-114 ms vs 85-90 ms under load), for 392 MB less resident.
    return _faiss().read_index(str(path))


def top_k(positions: np.ndarray, values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best (value desc, position asc): ties at the cut are settled by position, as a single
    index would settle them, never by argpartition's arbitrary choice."""
    if len(values) > k:
        kth = np.partition(-values, k - 1)[k - 1]
        near = np.flatnonzero(-values <= kth)
        order = np.lexsort((positions[near], -values[near]))[:k]
        return positions[near][order], values[near][order]
    return positions, values


def _dots(vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Row-wise inner products without BLAS: a threaded matrix-vector product on a busy machine
    took 30 ms for 2,300 rows where one thread takes 0.05 ms (OpenBLAS threads waiting on busy
    cores), and the app asks one query at a time anyway."""
    return np.einsum("ij,j->i", vectors, query)


def exact_top(vectors: np.ndarray, query: np.ndarray, k: int, positions: np.ndarray | None,
              alive: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(local positions, cosines) of the k best rows among `positions` (all when None) still alive."""
    if positions is None:
        sims = _dots(vectors, query)
        if alive is not None:
            sims = np.where(alive, sims, -np.inf)
        candidates = np.arange(len(sims))
    else:
        if alive is not None:
            positions = positions[alive[positions]]
        sims = _dots(vectors[positions], query) if len(positions) else np.zeros(0, np.float32)
        candidates = positions
    candidates, sims = top_k(candidates, sims, k)
    keep = np.isfinite(sims)
    return candidates[keep].astype(np.int64), sims[keep].astype(np.float32)


def ivf_top(index, vectors: np.ndarray, rows: np.ndarray, query: np.ndarray, k: int,
            positions: np.ndarray | None, alive: np.ndarray | None, options: DenseOptions):
    """The IVF shortlist of one segment, re-ranked exactly from its float vectors."""
    faiss = _faiss()
    want = max(options.shortlist, 4 * k)
    params = faiss.SearchParametersIVF(nprobe=min(options.nprobe, index.nlist))
    if positions is not None:
        params = faiss.SearchParametersIVF(nprobe=min(options.nprobe, index.nlist),
                                           sel=faiss.IDSelectorBatch(np.ascontiguousarray(rows[positions])))
    _, found = index.search(np.ascontiguousarray(query.reshape(1, -1)), min(want, index.ntotal), params=params)
    found = found[0][found[0] >= 0]
    local = np.searchsorted(rows, found)
    local = np.unique(local[(local < len(rows)) & (rows[np.minimum(local, len(rows) - 1)] == found)])
    return exact_top(vectors, query, k, local, alive)
