"""Fast-scan PQ codes: the 4-bit codes alone rank coarsely, the exact re-rank of their shortlist
gives back the true neighbours with exact cosines; an index written with the older SQ8 codes and
without the lexical bound files still searches, and optimize rewrites it with the new codec."""

from __future__ import annotations

import numpy as np

from indexing.store import DenseOptions, IndexStore, dense
from tests.indexing.store_fakes import make_document


def _clustered(rng: np.random.Generator, n: int, centres: np.ndarray, spread: float) -> np.ndarray:
    """Unit vectors around random centres (neighbourhoods with structure, as embeddings have)."""
    picks = rng.integers(0, len(centres), n)
    x = centres[picks] + spread * rng.standard_normal((n, centres.shape[1])).astype(np.float32) / np.sqrt(
        centres.shape[1])
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_fastscan_shortlist_reranked_exactly_finds_the_true_neighbours():
    rng = np.random.default_rng(0)
    dim = 64
    centres = rng.standard_normal((200, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vectors = _clustered(rng, 30_000, centres, spread=0.8)
    queries = _clustered(rng, 40, centres, spread=0.8)
    rows = np.arange(10, 10 + len(vectors), dtype=np.int64)  # ids are database rows, not positions
    options = DenseOptions(nlist=128, nprobe=48)
    codec = dense.train_codec(vectors[::4], options)
    assert dense.codec_label(codec) == "ivf-pq4fs" and options.label(dim) == "ivf-pq4fs"
    index = dense.encode(codec, vectors, rows)
    hits = raw_hits = 0
    for query in queries:
        exact, _ = dense.exact_top(vectors, query, 10, None, None)
        local, scores = dense.ivf_top(index, vectors, rows, query, 10, None, None, options)
        np.testing.assert_array_equal(scores, np.einsum("ij,j->i", vectors[local], query))  # exact cosines
        assert np.all(np.diff(scores) <= 0)
        hits += len(set(local.tolist()) & set(exact.tolist()))
        _, raw = index.search(query.reshape(1, -1), 10, params=dense._faiss().SearchParametersIVF(nprobe=48))
        raw_hits += len(set((raw[0] - 10).tolist()) & set(exact.tolist()))
    assert hits / (10 * len(queries)) >= 0.95
    assert raw_hits < hits  # the codes alone do worse: the re-rank is what gives the recall


def _build(root, options: DenseOptions, rng: np.random.Generator, n_docs: int):
    store = IndexStore.open(root, create=True, embedder_name="random", dim=32, dense_options=options)
    words = "apixaban warfarin dose renal stroke bleeding elderly trial".split()
    with store.writer() as w:
        for d in range(n_docs):
            texts = [" ".join(rng.choice(words, size=rng.integers(2, 8))) for _ in range(10)]
            document, chunks = make_document(f"doc{d}", texts)
            vectors = rng.standard_normal((len(chunks), 32)).astype(np.float32)
            w.add_document(document, chunks, vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
            if d % 10 == 9:
                w.commit()
        w.commit()
        w.optimize()
    return store


def test_old_format_segment_still_readable_and_rewritten_on_optimize(tmp_path):
    rng = np.random.default_rng(1)
    small = dict(compress_threshold=100, ivf_segment_min=50, nlist=4, nprobe=4, shortlist=1000)
    old = _build(tmp_path / "index", DenseOptions(codec="sq8", **small), rng, 30)
    (segment,) = [v.segment for v in old._snapshot.views]
    assert dense.codec_label(segment.ivf) == "ivf-sq8"
    old.close()
    lexical = tmp_path / "index" / "segments" / segment.id / "lexical"
    for name in ("maxtf.npy", "minratio.npy"):  # as segments were written before the bounds existed
        (lexical / name).unlink()
    queries = rng.standard_normal((5, 32)).astype(np.float32)

    def results(store):
        return ([store.search_dense(q, 5) for q in queries],
                [store.search_lexical(t, 5) for t in ("apixaban dose", "renal", "stroke elderly trial")])

    store = IndexStore.open(tmp_path / "index", dense_options=DenseOptions(**small))
    assert store._snapshot.views[0].segment.postings.maxtf is None
    before = results(store)
    assert all(before[0]) and all(before[1])
    store.optimize()
    (rewritten,) = [v.segment for v in store._snapshot.views]
    assert rewritten.id != segment.id and dense.codec_label(rewritten.ivf) == "ivf-pq4fs"
    assert (tmp_path / "index" / "segments" / rewritten.id / "lexical" / "maxtf.npy").is_file()
    assert results(store) == before
    store.close()
