"""Max-score pruning (`bm25_top`) returns exactly the exhaustive BM25 top k: the same rows, the
same float64 scores bit for bit, ties settled by row, across segments with deletions and filters,
on random text (Zipf-like, so bounds differ a lot between terms) and on real guideline sentences."""

from __future__ import annotations

import random

import numpy as np
import pytest

from indexing.store import dense
from indexing.store.bm25 import LexicalPart, Postings, bm25_scores, bm25_top, impact_bound


def _exhaustive(parts: list[LexicalPart], query: list[str], k: int, allowed=None) -> list[tuple[float, int]]:
    """(score, global row) of the k best live, allowed rows with a positive score."""
    found, base = [], 0
    for p, (part, scores) in enumerate(zip(parts, bm25_scores(parts, query))):
        if scores is not None:
            keep = scores > 0
            if part.alive is not None:
                keep &= part.alive
            if allowed is not None and allowed[p] is not None:
                mask = np.zeros(len(keep), dtype=bool)
                mask[allowed[p]] = True
                keep &= mask
            found += [(float(scores[i]), base + int(i)) for i in np.flatnonzero(keep)]
        base += len(part.postings.doclen)
    found.sort(key=lambda hit: (-hit[0], hit[1]))
    return found[:k]


def _pruned(parts: list[LexicalPart], query: list[str], k: int, allowed=None) -> list[tuple[float, int]]:
    """The same through `bm25_top`, each part cut to its k best as the store does."""
    found, base = [], 0
    for part, hits in zip(parts, bm25_top(parts, query, k, allowed)):
        if hits is not None:
            positions, values = dense.top_k(*hits, k)
            found += [(float(v), base + int(i)) for i, v in zip(positions, values)]
        base += len(part.postings.doclen)
    found.sort(key=lambda hit: (-hit[0], hit[1]))
    return found[:k]


def _parts(rows: list[list[str]], cuts: list[int], rng: random.Random, deleted: float) -> list[LexicalPart]:
    parts = []
    for lo, hi in zip([0] + cuts, cuts + [len(rows)]):
        postings = Postings.build(rows[lo:hi])
        alive = np.array([rng.random() >= deleted for _ in range(hi - lo)]) if deleted else None
        lengths = np.asarray(postings.doclen, dtype=np.int64)
        live = lengths if alive is None else lengths[alive]
        parts.append(LexicalPart(postings, alive, len(live), int(live.sum())))
    return parts


def _zipf_rows(rng: random.Random, n: int, vocabulary: int) -> list[list[str]]:
    weights = [1.0 / (rank + 1) for rank in range(vocabulary)]
    words = [f"w{i}" for i in range(vocabulary)]
    return [rng.choices(words, weights, k=rng.randint(2, 40)) for _ in range(n)]


@pytest.mark.parametrize("seed", range(6))
def test_pruned_top_k_equals_exhaustive_on_random_rows(seed):
    rng = random.Random(seed)
    rows = _zipf_rows(rng, 600, 300)
    cuts = sorted(rng.sample(range(1, len(rows)), rng.randint(0, 5)))
    parts = _parts(rows, cuts, rng, deleted=0.2 if seed % 2 else 0.0)
    for _ in range(25):
        query = rng.sample([f"w{i}" for i in range(320)], rng.randint(1, 7))  # some terms in no row
        for k in (1, 5, 50):
            assert _pruned(parts, query, k) == _exhaustive(parts, query, k), (query, k)
    allowed = [np.array(sorted(rng.sample(range(len(p.postings.doclen)), len(p.postings.doclen) // 3)),
                        dtype=np.int64) for p in parts]
    for _ in range(10):
        query = rng.sample([f"w{i}" for i in range(300)], rng.randint(1, 6))
        assert _pruned(parts, query, 10, allowed) == _exhaustive(parts, query, 10, allowed)


def test_pruned_top_k_equals_exhaustive_on_real_guideline_text():
    """Demo-corpus sentences (open-medicine, the shipped corpus) joined into passages, tokenised by
    the store's own tokenizer; queries are the opening words of other sentences."""
    from bench.indexing import _sentences
    from indexing.lexical import lexical_tokens

    sentences, _ = _sentences()
    rng = random.Random(3)
    tokens = [lexical_tokens(s) for s in sentences]
    rows = [[t for i in rng.sample(range(len(tokens)), rng.randint(3, 7)) for t in tokens[i]] for _ in range(3000)]
    parts = _parts(rows, [2000, 2600, 2900], rng, deleted=0.1)
    for _ in range(40):
        query = lexical_tokens(" ".join(rng.choice(sentences).split()[:8]))
        assert _pruned(parts, query, 50) == _exhaustive(parts, query, 50), query


def test_pruning_skips_rows_that_cannot_reach_the_top():
    """A frequent term's rows are not all scored once rarer terms have filled the top k."""
    rows = [["common"] * 3 + ["filler"] * 5 for _ in range(2000)] + [["rare", "common"] for _ in range(20)]
    parts = _parts(rows, [], random.Random(0), deleted=0.0)
    hits = bm25_top(parts, ["rare", "common"], 10)[0]
    assert hits is not None and len(hits[0]) == 20  # only the rare term's rows were scored
    assert _pruned(parts, ["rare", "common"], 10) == _exhaustive(parts, ["rare", "common"], 10)


def test_bounds_hold_and_segments_without_bound_files_still_load(tmp_path):
    rng = random.Random(5)
    rows = _zipf_rows(rng, 200, 50)
    postings = Postings.build(rows)
    postings.save(tmp_path / "lexical")
    for name in ("maxtf.npy", "minratio.npy"):
        (tmp_path / "lexical" / name).unlink()  # as written before the bounds existed
    old = Postings.load(tmp_path / "lexical")
    assert old.maxtf is None
    for i, term in enumerate(postings.terms):
        assert old.term_bound(old.vocab[term]) == (int(postings.maxtf[i]), float(postings.minratio[i]))
        docs, tfs = postings.postings(term)
        for avgdl in (5.0, 20.0, 60.0):
            tf, dl = tfs.astype(np.float64), postings.doclen[docs].astype(np.float64)
            impacts = 2.0 * tf / (tf + 1.5 * (1 - 0.75 + 0.75 * dl / avgdl))
            assert impacts.max() <= impact_bound(2.0, *old.term_bound(i), avgdl)
    parts = [LexicalPart(old, None, 200, int(np.asarray(old.doclen).sum()))]
    assert _pruned(parts, ["w0", "w3", "w40"], 7) == _exhaustive(parts, ["w0", "w3", "w40"], 7)
