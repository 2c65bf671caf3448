"""The lexical side: BM25 postings per segment, scored with statistics of the whole index.

Why our own postings rather than an engine (tantivy, or bm25s rebuilt per generation): a
segment's postings are three numpy arrays (term offsets, document positions, term counts) plus
its document lengths, written once and never changed, so a commit costs what it adds; merging
segments is concatenating remapped arrays, with no re-tokenising. Above all, scoring can be made
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

    @classmethod
    def merge(cls, parts: list[tuple["Postings", np.ndarray | None]]) -> "Postings":
        """One segment's postings from consecutive parts; `alive` masks drop deleted rows.

        Memory: the merged arrays are int32 and ordered by a stable sort on the term alone (each
        part lists a term's rows in order and later parts' rows come after), not a lexsort of
        int64 pairs, which at 1M passages (~100M postings) held ~2 GB more at the peak."""
        vocab: dict[str, int] = {}
        all_terms, all_docs, all_tfs, lengths = [], [], [], []
        base = 0
        for postings, alive in parts:
            n = len(postings.doclen)
            keep = np.ones(n, dtype=bool) if alive is None else alive
            new_pos = (np.cumsum(keep) - 1 + base).astype(np.int32)
            remap = np.fromiter((vocab.setdefault(t, len(vocab)) for t in postings.terms), dtype=np.int32,
                                count=len(postings.terms))
            term_of = np.repeat(remap, np.diff(postings.offsets))
            docs = np.asarray(postings.docs)
            live = keep[docs]
            all_terms.append(term_of[live])
            all_docs.append(new_pos[docs[live]])
            all_tfs.append(np.asarray(postings.tfs)[live].astype(np.int32, copy=False))
            lengths.append(np.asarray(postings.doclen)[keep])
            base += int(keep.sum())
            del term_of, live, new_pos
        terms = np.concatenate(all_terms) if all_terms else np.zeros(0, np.int32)
        del all_terms
        order = np.argsort(terms, kind="stable")
        offsets = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(np.bincount(terms, minlength=len(vocab)), out=offsets[1:])
        del terms
        docs = (np.concatenate(all_docs) if all_docs else np.zeros(0, np.int32))[order]
        del all_docs
        tfs = (np.concatenate(all_tfs) if all_tfs else np.zeros(0, np.int32))[order]
        del all_tfs, order
        doclen = np.concatenate(lengths).astype(np.int32) if lengths else np.zeros(0, np.int32)
        return cls(list(vocab), offsets, docs, tfs, doclen, vocab)


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
