"""The lexical side: BM25 postings per segment, scored with statistics of the whole index.

Why our own postings rather than an engine (tantivy, or bm25s rebuilt per generation): a
segment's postings are three numpy arrays (term offsets, document positions, term counts) plus
its document lengths, written once and never changed, so a commit costs what it adds; merging
segments streams remapped arrays from their files, with no re-tokenising. Above all, scoring can be made
*exact*: the idf of a term and the average document length come from totals over every live
segment (deleted rows subtracted), and each row's score is summed over the query's terms in one
fixed order in float64, so a search over many segments gives bit for bit the scores of one
index holding the same rows. An external engine keeps per-segment statistics and would differ.
Files are plain .npy (loaded with allow_pickle=False) and a JSON term list.

The formula is the Lucene BM25 that bm25s uses by default (k1 1.5, b 0.75, idf
log(1 + (N - df + 0.5) / (df + 0.5)), term part tf / (tf + k1 (1 - b + b dl / avgdl))), so
scores match what the index gave before segments.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

K1 = 1.5
B = 0.75


@dataclass
class Postings:
    """Term -> (positions, counts) for the rows of one segment; positions are local, ascending."""

    terms: list[str]
    offsets: np.ndarray  # int64 [V + 1]: postings of term i are [offsets[i], offsets[i+1])
    docs: np.ndarray  # int32 local positions
    tfs: np.ndarray  # int32 counts of the term in the row
    doclen: np.ndarray  # int32 [n]: tokens per row
    maxtf: np.ndarray | None = None  # int32 [V]: largest count of each term in one row
    minratio: np.ndarray | None = None  # float64 [V]: smallest row length / count of each term
    _vocab: dict[str, int] | None = None
    _bounds: dict[int, tuple[int, float]] | None = None  # per-term bounds of segments written without them

    @property
    def vocab(self) -> dict[str, int]:
        if self._vocab is None:
            self._vocab = {t: i for i, t in enumerate(self.terms)}
        return self._vocab

    @classmethod
    def build(cls, token_lists: list[list[str]]) -> "Postings":
        n = len(token_lists)
        doclen = np.fromiter((len(t) for t in token_lists), dtype=np.int32, count=n)
        flat = [t for tokens in token_lists for t in tokens]
        terms, ids = np.unique(np.array(flat, dtype=str), return_inverse=True) if flat else ([], np.zeros(0, np.int64))
        terms = [str(t) for t in terms]  # sorted: the same rows give the same files
        doc_of = np.repeat(np.arange(n, dtype=np.int64), doclen)
        key = np.asarray(ids, dtype=np.int64).reshape(-1) * max(n, 1) + doc_of
        unique, counts = np.unique(key, return_counts=True)
        term, doc = np.divmod(unique, max(n, 1))
        offsets = np.zeros(len(terms) + 1, dtype=np.int64)
        np.cumsum(np.bincount(term, minlength=len(terms)), out=offsets[1:])
        docs, tfs = doc.astype(np.int32), counts.astype(np.int32)
        return cls(terms, offsets, docs, tfs, doclen, *term_bounds(offsets, docs, tfs, doclen))

    def term_bound(self, i: int) -> tuple[int, float]:
        """(largest count, smallest row length / count) of term `i` over its rows: what bounds its
        BM25 part for any average length (`impact_bound`). Read from maxtf/minratio, or for a
        segment written before they existed, computed from its postings once and kept."""
        if self.maxtf is not None and self.minratio is not None:
            return int(self.maxtf[i]), float(self.minratio[i])
        if self._bounds is None:
            self._bounds = {}
        if i not in self._bounds:
            lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
            found = term_bounds(np.array([0, hi - lo]), np.asarray(self.docs[lo:hi]), np.asarray(self.tfs[lo:hi]),
                                self.doclen)
            self._bounds[i] = int(found[0][0]), float(found[1][0])
        return self._bounds[i]

    def postings(self, term: str) -> tuple[np.ndarray, np.ndarray] | None:
        i = self.vocab.get(term)
        if i is None:
            return None
        lo, hi = self.offsets[i], self.offsets[i + 1]
        return self.docs[lo:hi], self.tfs[lo:hi]

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "terms.json").write_text(json.dumps(self.terms, ensure_ascii=False), encoding="utf-8")
        for name in ("offsets", "docs", "tfs", "doclen"):
            np.save(directory / f"{name}.npy", getattr(self, name), allow_pickle=False)
        maxtf, minratio = (self.maxtf, self.minratio) if self.maxtf is not None and self.minratio is not None else \
            term_bounds(self.offsets, self.docs, self.tfs, self.doclen)
        np.save(directory / "maxtf.npy", np.asarray(maxtf, dtype=np.int32), allow_pickle=False)
        np.save(directory / "minratio.npy", np.asarray(minratio, dtype=np.float64), allow_pickle=False)

    @classmethod
    def load(cls, directory: Path) -> "Postings":
        """Postings memory-mapped from `directory`; a segment written before the per-term bounds
        (maxtf.npy, minratio.npy) existed loads without them and computes them term by term."""
        terms = json.loads((directory / "terms.json").read_text(encoding="utf-8"))
        arrays = {n: np.load(directory / f"{n}.npy", allow_pickle=False, mmap_mode="r")
                  for n in ("offsets", "docs", "tfs", "doclen")}
        for name in ("maxtf", "minratio"):
            if (directory / f"{name}.npy").is_file():
                arrays[name] = np.load(directory / f"{name}.npy", allow_pickle=False)
        postings = cls(terms, **arrays)
        if len(postings.offsets) != len(terms) + 1 or postings.offsets[-1] != len(postings.docs):
            raise ValueError(f"lexical postings in {directory} are inconsistent")
        for name in ("maxtf", "minratio"):
            if getattr(postings, name) is not None and len(getattr(postings, name)) != len(terms):
                raise ValueError(f"lexical postings in {directory}: {name}.npy has {len(getattr(postings, name))} "
                                 f"entries for {len(terms)} terms")
        return postings

    @staticmethod
    def merge_into(directory: Path, parts: list[tuple["Postings", np.ndarray | None]],
                   block: int | None = None) -> int:
        """Write one segment's postings from consecutive parts into `directory` (the files `save`
        writes); `alive` masks drop deleted rows. Returns the rows written.

        Memory is bounded by `block` postings (MERGE_BLOCK), not the merged size: a 1M-passage
        optimize merges ~100M postings, which held in memory at once with their sort order took
        ~2 GB at the peak. The merged vocabulary is sorted (as `build` sorts it), so the output is
        written in runs of terms: for each run every part's postings of those terms are read from
        its files (plain reads, not the memory map, whose touched pages would all count in RSS),
        deleted rows dropped, positions shifted, and stably ordered by term (parts in order, each
        listing a term's rows ascending), which gives exactly the arrays of one `build`."""
        block = block or MERGE_BLOCK
        vocab = sorted(set().union(*(p.terms for p, _ in parts)))
        global_id = {t: i for i, t in enumerate(vocab)}
        plans, counts, base = [], np.zeros(len(vocab), dtype=np.int64), 0
        try:
            for postings, alive in parts:
                plan = _MergePlan(postings, alive, base, global_id, block)
                counts[plan.remap] += plan.live_counts
                plans.append(plan)
                base += plan.n_live
            offsets = np.zeros(len(vocab) + 1, dtype=np.int64)
            np.cumsum(counts, out=offsets[1:])
            directory.mkdir(parents=True, exist_ok=True)
            (directory / "terms.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
            np.save(directory / "offsets.npy", offsets, allow_pickle=False)
            doclen = np.concatenate([p.live_doclen() for p in plans] or [np.zeros(0, np.int32)]).astype(np.int32)
            np.save(directory / "doclen.npy", doclen, allow_pickle=False)
            maxtf, minratio = np.zeros(len(vocab), dtype=np.int32), np.full(len(vocab), np.inf)
            total = int(offsets[-1])
            with _NpyWriter(directory / "docs.npy", total) as docs_out, _NpyWriter(directory / "tfs.npy", total) as tfs_out:
                lo = 0
                while lo < len(vocab):
                    hi = max(lo + 1, int(np.searchsorted(offsets, offsets[lo] + block, side="right")) - 1)
                    hi = min(hi, len(vocab))
                    found = [plan.read_terms(lo, hi) for plan in plans]
                    terms = np.concatenate([f[0] for f in found])
                    order = np.argsort(terms, kind="stable")
                    docs, tfs = np.concatenate([f[1] for f in found])[order], np.concatenate([f[2] for f in found])[order]
                    docs_out.write(docs)
                    tfs_out.write(tfs)
                    maxtf[lo:hi], minratio[lo:hi] = term_bounds(offsets[lo : hi + 1] - offsets[lo], docs, tfs, doclen)
                    lo = hi
            np.save(directory / "maxtf.npy", maxtf, allow_pickle=False)
            np.save(directory / "minratio.npy", minratio, allow_pickle=False)
        finally:  # a failed merge (disk full, a truncated part) must not leave the parts' files open
            for plan in plans:
                plan.close()
        return base


def term_bounds(offsets: np.ndarray, docs: np.ndarray, tfs: np.ndarray,
                doclen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per term (postings [offsets[i], offsets[i+1])): the largest count in one row, and the
    smallest row length / count. A term with no postings gets (0, inf): a bound of 0."""
    offsets = np.asarray(offsets, dtype=np.int64)
    n_terms = len(offsets) - 1
    maxtf, minratio = np.zeros(n_terms, dtype=np.int32), np.full(n_terms, np.inf)
    filled = np.flatnonzero(np.diff(offsets) > 0)
    if len(filled):
        tfs = np.asarray(tfs, dtype=np.int32)
        ratio = np.asarray(doclen)[np.asarray(docs)].astype(np.float64) / tfs
        maxtf[filled] = np.maximum.reduceat(tfs, offsets[filled])
        minratio[filled] = np.minimum.reduceat(ratio, offsets[filled])
    return maxtf, minratio


MERGE_BLOCK = 4_000_000  # postings read, ordered and written at a time: ~70 MB of working arrays


class _NpyWriter:
    """A 1-d int32 .npy file of a known length, written front to back in pieces."""

    def __init__(self, path: Path, length: int):
        self.path, self.length, self.written = path, length, 0
        self.fh = open(path, "wb")
        np.lib.format.write_array_header_1_0(self.fh, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.int32)),
                                                       "fortran_order": False, "shape": (length,)})

    def write(self, values: np.ndarray) -> None:
        self.fh.write(np.ascontiguousarray(values, dtype=np.int32).tobytes())
        self.written += len(values)

    def __enter__(self) -> "_NpyWriter":
        return self

    def __exit__(self, exc_type, *rest) -> None:
        self.fh.close()
        if exc_type is None and self.written != self.length:
            raise ValueError(f"{self.path}: wrote {self.written} postings, expected {self.length}")


class _RangeReader:
    """Ranges of a 1-d array: read from its .npy file when it is a memory map of one (so pages
    are not kept mapped), else sliced from memory (postings just built)."""

    def __init__(self, array: np.ndarray):
        self.array = array
        self.fd = None
        if isinstance(array, np.memmap) and array.filename:
            fd = os.open(array.filename, os.O_RDONLY)
            if array.offset + array.nbytes == os.fstat(fd).st_size:  # the whole file's array
                self.fd = fd
            else:
                os.close(fd)

    def read(self, start: int, stop: int) -> np.ndarray:
        if self.fd is None:
            return np.asarray(self.array[start:stop])
        size = self.array.dtype.itemsize
        want, at, chunks = (stop - start) * size, self.array.offset + start * size, []
        while want > 0:
            data = os.pread(self.fd, want, at)
            if not data:
                raise ValueError(f"{self.array.filename} ends before posting {stop}")
            chunks.append(data)
            want -= len(data)
            at += len(data)
        return np.frombuffer(b"".join(chunks), dtype=self.array.dtype)

    def gather(self, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
        """The ranges [starts[i], stops[i]) concatenated; adjoining ranges are read in one go."""
        if not len(starts):
            return np.zeros(0, dtype=self.array.dtype)
        breaks = np.flatnonzero(starts[1:] != stops[:-1]) + 1
        firsts, lasts = np.r_[0, breaks], np.r_[breaks, len(starts)] - 1
        return np.concatenate([self.read(int(starts[a]), int(stops[b])) for a, b in zip(firsts, lasts)])

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class _MergePlan:
    """One part of a postings merge: where its terms go, which rows live and where they land."""

    def __init__(self, postings: Postings, alive: np.ndarray | None, base: int, global_id: dict[str, int],
                 block: int):
        self.postings = postings
        n = len(postings.doclen)
        self.keep = np.ones(n, dtype=bool) if alive is None else np.asarray(alive, dtype=bool)
        self.n_live = int(self.keep.sum())
        self.new_pos = (np.cumsum(self.keep) - 1 + base).astype(np.int32)
        self.remap = np.fromiter((global_id[t] for t in postings.terms), dtype=np.int64, count=len(postings.terms))
        self.order = np.argsort(self.remap, kind="stable")  # local terms by merged id
        self.sorted_ids = self.remap[self.order]
        self.offsets = np.asarray(postings.offsets, dtype=np.int64)
        self.docs, self.tfs = _RangeReader(postings.docs), _RangeReader(postings.tfs)
        self.live_counts = np.diff(self.offsets) if alive is None else self._count_live(block)

    def _count_live(self, block: int) -> np.ndarray:
        """Live rows per local term, reading the positions `block` at a time."""
        counts = np.zeros(len(self.remap), dtype=np.int64)
        total = int(self.offsets[-1])
        for start in range(0, total, block):
            stop = min(total, start + block)
            term = np.searchsorted(self.offsets, np.arange(start, stop), side="right") - 1
            counts += np.bincount(term[self.keep[self.docs.read(start, stop)]], minlength=len(counts))
        return counts

    def live_doclen(self) -> np.ndarray:
        return np.asarray(self.postings.doclen)[self.keep]

    def read_terms(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(merged term id, merged position, count) of this part's live postings of merged terms [lo, hi)."""
        a, b = np.searchsorted(self.sorted_ids, [lo, hi])
        local = self.order[a:b]
        starts, stops = self.offsets[local], self.offsets[local + 1]
        docs, tfs = self.docs.gather(starts, stops), self.tfs.gather(starts, stops)
        terms = np.repeat(self.remap[local], stops - starts)
        live = self.keep[docs]
        return terms[live], self.new_pos[docs[live]], tfs[live].astype(np.int32, copy=False)

    def close(self) -> None:
        self.docs.close()
        self.tfs.close()


@dataclass
class LexicalPart:
    """What scoring needs of one live segment: its postings, which rows are deleted, which allowed."""

    postings: Postings
    alive: np.ndarray | None  # bool [n], None when nothing is deleted
    n_live: int
    live_length: int


def document_frequency(parts: list[LexicalPart], query_tokens: list[str]) -> int:
    """How many live rows over all parts hold at least one of the tokens: read from the postings
    (no scan of passages), the df one index of the same rows would give."""
    terms = sorted({t for t in query_tokens if t})
    total = 0
    for part in parts:
        hits = [h[0] for h in (part.postings.postings(t) for t in terms) if h is not None]
        if not hits:
            continue
        docs = hits[0] if len(hits) == 1 else np.unique(np.concatenate(hits))
        total += len(docs) if part.alive is None else int(part.alive[docs].sum())
    return total


@dataclass
class _QueryStats:
    """A query's terms (sorted: the one order every score is summed in) with the statistics of
    all live rows together, and each part's postings of them (None where a part lacks one)."""

    terms: list[str]
    found: list[list[tuple[np.ndarray, np.ndarray] | None]]
    df: np.ndarray
    idf: list[float]
    avgdl: float


def _query_stats(parts: list[LexicalPart], query_tokens: list[str]) -> _QueryStats | None:
    terms = sorted({t for t in query_tokens if t})
    n_live = sum(p.n_live for p in parts)
    if not terms or n_live == 0:
        return None
    found = [[p.postings.postings(t) for t in terms] for p in parts]
    df = np.zeros(len(terms), dtype=np.int64)
    for part, lists in zip(parts, found):
        for j, hit in enumerate(lists):
            if hit is not None:
                df[j] += len(hit[0]) if part.alive is None else int(part.alive[hit[0]].sum())
    avgdl = sum(p.live_length for p in parts) / n_live
    idf = [math.log(1.0 + (n_live - d + 0.5) / (d + 0.5)) for d in df]
    return _QueryStats(terms, found, df, idf, avgdl)


def _impacts(idf: float, tf: np.ndarray, dl: np.ndarray, avgdl: float) -> np.ndarray:
    """The BM25 part of one term in rows with counts `tf` and lengths `dl`: the one expression
    both the exhaustive and the pruned scorer evaluate, so their float64 sums agree bit for bit."""
    tf = tf.astype(np.float64)
    norm = K1 * (1.0 - B + B * dl.astype(np.float64) / avgdl)
    return idf * tf / (tf + norm)


def bm25_scores(parts: list[LexicalPart], query_tokens: list[str]) -> list[np.ndarray | None]:
    """Per part, the float64 BM25 score of each of its rows (None where no query term occurs).

    N, df and avgdl are totals over all parts' live rows: exactly the statistics one index of
    the same rows would have. Each row's terms are added in sorted term order, starting from 0
    (`np.bincount` adds its weights in the order given). The exhaustive reference of `bm25_top`.
    """
    stats = _query_stats(parts, query_tokens)
    if stats is None:
        return [None] * len(parts)
    out: list[np.ndarray | None] = []
    for part, lists in zip(parts, stats.found):
        if all(hit is None for hit in lists):
            out.append(None)
            continue
        docs, weights = [], []
        for j, hit in enumerate(lists):
            if hit is not None and stats.df[j] > 0:
                docs.append(np.asarray(hit[0]))
                weights.append(_impacts(stats.idf[j], hit[1], part.postings.doclen[hit[0]], stats.avgdl))
        n = len(part.postings.doclen)
        out.append(np.bincount(np.concatenate(docs), weights=np.concatenate(weights), minlength=n) if docs
                   else np.zeros(n, dtype=np.float64))
    return out


# A term's bound is computed by another expression than its impacts (`impact_bound`), so it may
# round differently by a few ulps; widening it by this much keeps it an upper bound.
BOUND_SLACK = 1.0 + 1e-9


def impact_bound(idf: float, maxtf: int, minratio: float, avgdl: float) -> float:
    """An upper bound of `_impacts` over a term's rows: tf / (tf + K1 (1 - B) + K1 B dl / avgdl)
    is 1 / (1 + K1 (1 - B) / tf + K1 B (dl / tf) / avgdl), which no row exceeds with the largest
    tf and the smallest dl / tf put in separately."""
    if maxtf <= 0:
        return 0.0
    return idf / (1.0 + K1 * (1.0 - B) / maxtf + K1 * B * minratio / avgdl) * BOUND_SLACK


def _score_rows(part: LexicalPart, stats: _QueryStats, lists, rows: np.ndarray) -> np.ndarray:
    """Exact BM25 scores of the given local rows (ascending): every query term looked up in its
    postings (ascending positions) by binary search, summed in sorted term order from 0 by
    `np.bincount`, exactly as `bm25_scores` sums them."""
    at_rows, weights = [], []
    for j, hit in enumerate(lists):
        if hit is None or stats.df[j] == 0:
            continue
        docs, tfs = hit
        at = np.searchsorted(docs, rows)
        inside = at < len(docs)
        match = np.zeros(len(rows), dtype=bool)
        match[inside] = np.asarray(docs[at[inside]]) == rows[inside]
        where = np.flatnonzero(match)
        at_rows.append(where)
        weights.append(_impacts(stats.idf[j], np.asarray(tfs[at[where]]), part.postings.doclen[rows[where]],
                                stats.avgdl))
    if not at_rows:
        return np.zeros(len(rows), dtype=np.float64)
    return np.bincount(np.concatenate(at_rows), weights=np.concatenate(weights), minlength=len(rows))


class _Threshold:
    """The k-th best exact score found so far over all parts: a row whose bound is below it
    cannot enter the top k (rows scored later come later in row order, so a tie loses too)."""

    def __init__(self, k: int):
        self.k, self.best = k, np.zeros(0, dtype=np.float64)

    @property
    def value(self) -> float:
        return float(self.best[0]) if len(self.best) >= self.k else -math.inf

    def add(self, scores: np.ndarray) -> None:
        both = np.concatenate([self.best, scores])
        self.best = np.sort(np.partition(both, len(both) - self.k)[len(both) - self.k:]) if len(both) > self.k \
            else np.sort(both)


def bm25_top(parts: list[LexicalPart], query_tokens: list[str], k: int,
             allowed: list[np.ndarray | None] | None = None) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """Per part, (local positions ascending-by-discovery, exact BM25 scores) of the live, allowed
    rows that may be among the k best of all parts; the k best of their union are exactly the k
    best of `bm25_scores` (ties by row), with bit-identical scores. `allowed`: per part, the
    sorted local positions a filter admits (None: all).

    Max-score pruning, term at a time: a part's terms are taken by descending bound (the largest
    impact a row can get from the term, `impact_bound`); the rows of each are scored exactly (all
    terms, `_score_rows`) unless already scored; once the bounds of the terms not yet taken sum
    to less than the k-th best score so far, any row not yet scored holds only those terms and
    cannot reach the top k, so the part is done. Frequent terms (low idf, long postings) are then
    only looked up for the rows the rare ones found, never scanned.
    """
    stats = _query_stats(parts, query_tokens)
    if stats is None or k <= 0:
        return [None] * len(parts)
    threshold = _Threshold(k)
    out: list[tuple[np.ndarray, np.ndarray] | None] = []
    for p, (part, lists) in enumerate(zip(parts, stats.found)):
        vocab = part.postings.vocab
        bounds = {j: impact_bound(stats.idf[j], *part.postings.term_bound(vocab[stats.terms[j]]), stats.avgdl)
                  for j, hit in enumerate(lists) if hit is not None and stats.df[j] > 0}
        order = sorted(bounds, key=lambda j: (-bounds[j], j))
        rest = np.cumsum([bounds[j] for j in order][::-1])[::-1]  # bound of a row holding only order[i:]
        seen, positions, scores = np.zeros(0, dtype=np.int64), [], []
        for i, j in enumerate(order):
            if rest[i] < threshold.value:
                break
            rows = np.setdiff1d(np.asarray(lists[j][0], dtype=np.int64), seen, assume_unique=True)
            seen = np.union1d(seen, rows)
            if part.alive is not None:
                rows = rows[part.alive[rows]]
            if allowed is not None and allowed[p] is not None:
                rows = rows[np.isin(rows, allowed[p], assume_unique=True)]
            if len(rows):
                values = _score_rows(part, stats, lists, rows)
                threshold.add(values)
                positions.append(rows)
                scores.append(values)
        out.append((np.concatenate(positions), np.concatenate(scores)) if positions else None)
    return out
