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
    _vocab: dict[str, int] | None = None

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
        return cls(terms, offsets, doc.astype(np.int32), counts.astype(np.int32), doclen)

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

    @classmethod
    def load(cls, directory: Path) -> "Postings":
        terms = json.loads((directory / "terms.json").read_text(encoding="utf-8"))
        arrays = {n: np.load(directory / f"{n}.npy", allow_pickle=False, mmap_mode="r")
                  for n in ("offsets", "docs", "tfs", "doclen")}
        postings = cls(terms, **arrays)
        if len(postings.offsets) != len(terms) + 1 or postings.offsets[-1] != len(postings.docs):
            raise ValueError(f"lexical postings in {directory} are inconsistent")
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
            np.save(directory / "doclen.npy", np.concatenate([p.live_doclen() for p in plans] or
                                                             [np.zeros(0, np.int32)]).astype(np.int32), allow_pickle=False)
            total = int(offsets[-1])
            with _NpyWriter(directory / "docs.npy", total) as docs_out, _NpyWriter(directory / "tfs.npy", total) as tfs_out:
                lo = 0
                while lo < len(vocab):
                    hi = max(lo + 1, int(np.searchsorted(offsets, offsets[lo] + block, side="right")) - 1)
                    hi = min(hi, len(vocab))
                    found = [plan.read_terms(lo, hi) for plan in plans]
                    terms = np.concatenate([f[0] for f in found])
                    order = np.argsort(terms, kind="stable")
                    docs_out.write(np.concatenate([f[1] for f in found])[order])
                    tfs_out.write(np.concatenate([f[2] for f in found])[order])
                    lo = hi
        finally:  # a failed merge (disk full, a truncated part) must not leave the parts' files open
            for plan in plans:
                plan.close()
        return base


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


def bm25_scores(parts: list[LexicalPart], query_tokens: list[str]) -> list[np.ndarray | None]:
    """Per part, the float64 BM25 score of each of its rows (None where no query term occurs).

    N, df and avgdl are totals over all parts' live rows: exactly the statistics one index of
    the same rows would have.
    """
    terms = sorted({t for t in query_tokens if t})
    n_live = sum(p.n_live for p in parts)
    if not terms or n_live == 0:
        return [None] * len(parts)
    found = [[p.postings.postings(t) for t in terms] for p in parts]
    df = np.zeros(len(terms), dtype=np.int64)
    for part, lists in zip(parts, found):
        for j, hit in enumerate(lists):
            if hit is not None:
                df[j] += len(hit[0]) if part.alive is None else int(part.alive[hit[0]].sum())
    avgdl = sum(p.live_length for p in parts) / n_live
    idf = [math.log(1.0 + (n_live - d + 0.5) / (d + 0.5)) for d in df]
    out: list[np.ndarray | None] = []
    for part, lists in zip(parts, found):
        if all(hit is None for hit in lists):
            out.append(None)
            continue
        scores = np.zeros(len(part.postings.doclen), dtype=np.float64)
        for j, hit in enumerate(lists):
            if hit is not None and df[j] > 0:
                docs, tf = hit
                tf = tf.astype(np.float64)
                norm = K1 * (1.0 - B + B * part.postings.doclen[docs].astype(np.float64) / avgdl)
                scores[docs] += idf[j] * tf / (tf + norm)
        out.append(scores)
    return out
