"""The lexical side: a bm25s index over the same row order as the dense index.

bm25s saves plain .npy arrays and JSON, and loads them with allow_pickle=False; an index that
fails to load is rebuilt from the tokens kept in SQLite.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

logging.getLogger("bm25s").setLevel(logging.WARNING)


class LexicalIndex:
    def __init__(self, retriever, n_docs: int):
        self._retriever = retriever
        self.n_docs = n_docs
        self._vocab = retriever.vocab_dict if retriever is not None else {}

    @classmethod
    def build(cls, corpus_tokens: list[list[str]]) -> "LexicalIndex":
        if not corpus_tokens:
            return cls(None, 0)
        import bm25s

        retriever = bm25s.BM25()
        retriever.index(corpus_tokens, show_progress=False)
        return cls(retriever, len(corpus_tokens))

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        if self._retriever is not None:
            self._retriever.save(str(directory), allow_pickle=False)

    @classmethod
    def load(cls, directory: Path, n_docs: int) -> "LexicalIndex":
        if n_docs == 0:
            return cls(None, 0)
        import bm25s

        retriever = bm25s.BM25.load(str(directory), load_corpus=False, mmap=False, allow_pickle=False)
        loaded = int(retriever.scores.get("num_docs", -1))
        if loaded != n_docs:
            raise ValueError(f"lexical index in {directory} holds {loaded} rows, expected {n_docs}")
        return cls(retriever, n_docs)

    def scores(self, query_tokens: list[str]) -> np.ndarray | None:
        """BM25 score of every row for the query, or None when no query term is in the index."""
        if self._retriever is None:
            return None
        ids = sorted({self._vocab[t] for t in query_tokens if t in self._vocab and t != ""})
        if not ids:
            return None
        return self._retriever.get_scores_from_ids(ids)

    def top(self, query_tokens: list[str], k: int, positions: np.ndarray | None = None):
        """(positions, scores) of the k best-scoring rows with a positive score."""
        empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
        scores = self.scores(query_tokens)
        if scores is None or k <= 0:
            return empty
        if positions is not None:
            positions = np.asarray(positions, dtype=np.int64)
            if len(positions) == 0:
                return empty
            sub = scores[positions]
            keep = sub > 0
            candidates, values = positions[keep], sub[keep]
        else:
            candidates = np.flatnonzero(scores > 0)
            values = scores[candidates]
        if len(candidates) > k:
            part = np.argpartition(-values, k - 1)[:k]
            candidates, values = candidates[part], values[part]
        order = np.lexsort((candidates, -values))  # best first; ties by position for stable output
        return candidates[order].astype(np.int64), values[order].astype(np.float32)
