"""Segments: many commits with deletions search exactly like one index of the same rows; merges
keep that, bound the number of segments, and a failed merge leaves the index as it was."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from indexing.store import DenseOptions, IndexStore
from indexing.store.bm25 import LexicalPart, Postings, bm25_scores
from tests.indexing.crash_child import consistency_problems
from tests.indexing.store_fakes import make_document

DIM = 16
# A small vocabulary so terms repeat and BM25 scores tie: ties must break the same way too.
WORDS = ("anticoagulation apixaban warfarin metformin insulin statin aspirin hypertension diabetes "
         "stroke bleeding dose renal elderly trial guideline 2.5 mg hba1c cha2ds2-vasc").split()
QUERIES = ["apixaban dose", "metformin renal", "stroke bleeding warfarin", "statin elderly guideline",
           "2.5 mg apixaban", "hba1c diabetes insulin", "aspirin", "cha2ds2-vasc stroke", "trial", "unknownword"]


def _random_doc(rng: random.Random, nrng: np.random.Generator, key: str):
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))) for _ in range(rng.randint(1, 4))]
    document, chunks = make_document(key, texts)
    vectors = nrng.standard_normal((len(chunks), DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return document, chunks, vectors


def _open(root: Path, options: DenseOptions | None = None) -> IndexStore:
    return IndexStore.open(root, create=True, embedder_name="random", dim=DIM, dense_options=options)


def _churn(root: Path, seed: int, options: DenseOptions | None = None):
    """Several commits adding, replacing and removing documents; returns the store and the live
    documents in the order their rows were last written."""
    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    store = _open(root, options)
    live: dict[str, tuple] = {}
    for commit in range(6):
        staged: dict[str, tuple] = {}  # in the writer's order: a document staged twice keeps its place
        with store.writer() as w:
            for _ in range(rng.randint(3, 6)):
                key = f"d{rng.randrange(14)}"
                doc = _random_doc(rng, nrng, key)
                w.add_document(*doc)
                staged[key] = doc
            known = sorted(set(live) | set(staged))
            for key in rng.sample(known, k=min(2, len(known)) if commit % 2 else 0):
                w.remove_document((live.get(key) or staged[key])[0].document_id)
                live.pop(key, None)
                staged.pop(key, None)
            w.commit()
        for key, doc in staged.items():  # a replacement's rows come after every older row
            live.pop(key, None)
            live[key] = doc
    return store, live


def _one_index(root: Path, live: dict[str, tuple]) -> IndexStore:
    store = _open(root)
    with store.writer() as w:
        for doc in live.values():
            w.add_document(*doc)
        w.commit()
    return store


def _assert_same_results(many: IndexStore, one: IndexStore, live: dict[str, tuple]) -> None:
    nrng = np.random.default_rng(3)
    some = {c.chunk_id for _, chunks, _ in list(live.values())[::2] for c in chunks}
    for query in QUERIES:
        for k in (1, 3, 10, 100):
            assert many.search_lexical(query, k) == one.search_lexical(query, k), (query, k)
            assert many.search_lexical(query, k, chunk_filter=some) == one.search_lexical(query, k, chunk_filter=some)
        # df from the segments' postings (retrieval's term weights): that of one index, and the
        # count of passages a lexical search matches (what retrieval used to scan for)
        df = many.document_frequency(query)
        assert df == one.document_frequency(query) == len(one.search_lexical(query, 10**6))
    for _ in range(10):
        q = nrng.standard_normal(DIM).astype(np.float32)
        q /= np.linalg.norm(q)
        for k, chunk_filter in ((5, None), (50, None), (5, some)):
            got, want = many.search_dense(q, k, chunk_filter), one.search_dense(q, k, chunk_filter)
            assert [c for c, _ in got] == [c for c, _ in want]
            assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=1e-6)
    assert many.stats().chunks == one.stats().chunks


def test_many_segments_with_deletions_search_like_one_index(tmp_path):
    many, live = _churn(tmp_path / "many", seed=5)
    one = _one_index(tmp_path / "one", live)
    assert many.stats().segments > 3 and one.stats().segments == 1
    _assert_same_results(many, one, live)
    reader = IndexStore.open(tmp_path / "many")  # another process's view, loaded from the files
    _assert_same_results(reader, one, live)
    many.optimize()
    assert many.stats().segments == 1
    _assert_same_results(many, one, live)
    assert consistency_problems(many) == []
    assert reader.refresh() is False  # same generation, merged: the old view stays whole
    _assert_same_results(reader, one, live)
    for store in (many, one, reader):
        store.close()


def test_scores_are_the_bm25_of_one_index():
    """Global statistics: the idf and average length of all live rows across segments."""
    docs = [["apixaban", "dose"], ["apixaban", "apixaban", "renal"], ["warfarin"], ["dose", "renal", "renal"]]
    whole = bm25_scores([LexicalPart(Postings.build(docs), None, 4, 9)], ["apixaban", "renal"])[0]
    split = bm25_scores(
        [LexicalPart(Postings.build(docs[:2]), None, 2, 5), LexicalPart(Postings.build(docs[2:] + [["x"] * 9]),
                                                                         np.array([True, True, False]), 2, 4)],
        ["apixaban", "renal"],
    )
    assert np.concatenate([split[0], split[1][:2]]).tolist() == whole.tolist()
    n, avgdl, k1, b = 4, 9 / 4, 1.5, 0.75
    idf = np.log(1 + (n - 2 + 0.5) / (2 + 0.5))  # both terms occur in two rows
    expected = idf * 2 / (2 + k1 * (1 - b + b * 3 / avgdl)) + idf * 1 / (1 + k1 * (1 - b + b * 3 / avgdl))
    assert whole[1] == pytest.approx(expected)


def test_tiered_merges_bound_segments_and_keep_results(tmp_path):
    rng, nrng = random.Random(1), np.random.default_rng(1)
    store = _open(tmp_path / "tiered")
    live: dict[str, tuple] = {}
    with store.writer() as w:
        for i in range(25):
            doc = _random_doc(rng, nrng, f"t{i}")
            live[f"t{i}"] = doc
            w.add_document(*doc)
            w.commit()
            w.maybe_merge()
    assert store.stats().segments < 10
    one = _one_index(tmp_path / "one", live)
    _assert_same_results(store, one, live)
    store.close()
    one.close()


def test_a_merge_that_dies_leaves_the_index_as_it_was(tmp_path, monkeypatch):
    from indexing.store import writer as writer_module

    store, live = _churn(tmp_path / "many", seed=9)
    before = store.stats().segments

    def broken_publish(*args, **kwargs):
        raise OSError("disk full")

    with store.writer() as w:
        monkeypatch.setattr(writer_module, "publish", broken_publish)
        with pytest.raises(OSError, match="disk full"):
            w.optimize()
        monkeypatch.undo()
    reader = IndexStore.open(tmp_path / "many")
    assert reader.stats().segments == before and consistency_problems(reader) == []
    one = _one_index(tmp_path / "one", live)
    _assert_same_results(reader, one, live)
    with reader.writer():  # the next writer collects the orphaned merged segment
        pass
    segments = [p for p in (tmp_path / "many" / "segments").iterdir()]
    assert len(segments) == before
    for s in (store, reader, one):
        s.close()


def test_m1e_index_optimize(tmp_path, capsys):
    from app.cli import main

    many, live = _churn(tmp_path / "many", seed=2)
    segments = many.stats().segments
    many.close()
    assert main(["index", "--optimize", "--index", str(tmp_path / "many")]) == 0
    out = capsys.readouterr().out
    assert f"{segments} segment(s) -> 1" in out
    one = _one_index(tmp_path / "one", live)
    reader = IndexStore.open(tmp_path / "many")
    assert reader.stats().segments == 1
    _assert_same_results(reader, one, live)
    reader.close(), one.close()
    assert main(["index", "--optimize", "--index", str(tmp_path / "nothing")]) != 0
    assert str(tmp_path / "nothing") in capsys.readouterr().err


def test_scores_equal_those_of_the_bm25s_index_used_before():
    """Retrieval's thresholds were tuned on bm25s scores: the segment scorer gives the same numbers."""
    bm25s = pytest.importorskip("bm25s")
    rng = random.Random(4)
    docs = [[rng.choice(WORDS) for _ in range(rng.randint(1, 12))] for _ in range(60)]
    reference = bm25s.BM25()
    reference.index(docs, show_progress=False)
    for query in (["apixaban", "dose"], ["stroke"], ["2.5 mg", "renal", "elderly"]):
        ids = sorted({reference.vocab_dict[t] for t in query if t in reference.vocab_dict})
        want = reference.get_scores_from_ids(ids)
        got = bm25_scores([LexicalPart(Postings.build(docs), None, 60, sum(map(len, docs)))], query)[0]
        assert got == pytest.approx(want, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("block", [1, 7, 10**6])
def test_merged_postings_equal_those_built_from_the_live_rows(tmp_path, block):
    """The streamed merge (runs of `block` postings: 1 cuts between every term) gives exactly
    the arrays of one build of the surviving rows, deletions dropped, whether a part is read from
    its files (a written segment, memory-mapped), from memory (just built) or lists its terms
    unsorted (segments merged before merges sorted the vocabulary)."""
    rng = random.Random(11)
    parts, live_rows = [], []
    for i in range(5):
        rows = [[rng.choice(WORDS) for _ in range(rng.randint(1, 6))] for _ in range(rng.randint(1, 30))]
        alive = np.array([rng.random() > 0.3 for _ in rows]) if i % 2 == 0 else None
        postings = Postings.build(rows)
        if i == 1:  # terms in first-seen order, as older merged segments list them
            perm = np.random.default_rng(i).permutation(len(postings.terms))
            lists = [postings.postings(postings.terms[j]) for j in perm]
            offsets = np.concatenate([[0], np.cumsum([len(d) for d, _ in lists])]).astype(np.int64)
            postings = Postings([postings.terms[j] for j in perm], offsets, np.concatenate([d for d, _ in lists]),
                                np.concatenate([t for _, t in lists]), postings.doclen)
        if i >= 2:
            postings.save(tmp_path / f"part{i}")
            postings = Postings.load(tmp_path / f"part{i}")
        parts.append((postings, alive))
        live_rows += [r for j, r in enumerate(rows) if alive is None or alive[j]]
    assert Postings.merge_into(tmp_path / "merged", parts, block=block) == len(live_rows)
    merged, whole = Postings.load(tmp_path / "merged"), Postings.build(live_rows)
    assert merged.terms == whole.terms
    for name in ("offsets", "docs", "tfs", "doclen"):
        assert np.asarray(getattr(merged, name)).tolist() == np.asarray(getattr(whole, name)).tolist(), name


def _live_vectors(store: IndexStore) -> tuple[np.ndarray, np.ndarray]:
    """(rows, vectors) of every live row, segment after segment: what one merged segment holds."""
    views = store._snapshot.views
    keep = [np.ones(len(v.segment), bool) if v.alive is None else v.alive for v in views]
    return (np.concatenate([v.segment.rows[k] for v, k in zip(views, keep)]),
            np.concatenate([np.asarray(v.segment.vectors)[k] for v, k in zip(views, keep)]))


def test_streamed_merge_writes_the_live_rows_vectors(tmp_path, monkeypatch):
    """The merge streams vectors.npy in chunks; chunks of 3 rows cut through segments and their
    deleted rows, and the file must still be exactly the live rows' vectors in row order."""
    from indexing.store import segments as segments_module

    monkeypatch.setattr(segments_module, "MERGE_CHUNK", 3)
    store, live = _churn(tmp_path / "many", seed=11)
    assert any(v.alive is not None and not v.alive.all() for v in store._snapshot.views)  # deletions to skip
    rows, vectors = _live_vectors(store)
    store.optimize()
    (view,) = store._snapshot.views
    assert view.segment.rows.tolist() == rows.tolist()
    on_disk = np.load(tmp_path / "many" / "segments" / view.segment.id / "vectors.npy", allow_pickle=False)
    assert on_disk.dtype == np.float32 and np.array_equal(on_disk, vectors)
    assert np.array_equal(on_disk, np.concatenate([v for _, _, v in live.values()]))
    store.close()


def test_merge_moves_codes_of_the_same_codec_and_drops_deleted_rows(tmp_path, monkeypatch):
    """A merge without retraining reuses the IVF lists of segments already encoded (read back from
    their dense.ivf) and encodes the rest: its index holds exactly the live rows, and searches
    equal one exact index."""
    from indexing.store import segments as segments_module

    monkeypatch.setattr(segments_module, "MERGE_CHUNK", 5)
    options = DenseOptions(compress_threshold=20, ivf_segment_min=10, nlist=2, nprobe=2, shortlist=400)
    store, live = _churn(tmp_path / "many", seed=4, options=options)
    store.optimize()
    (coded,) = store._snapshot.views
    assert coded.segment.ivf is not None and len(coded.segment) >= 10
    rng, nrng = random.Random(7), np.random.default_rng(7)
    with store.writer() as w:
        victim = next(iter(live))
        w.remove_document(live.pop(victim)[0].document_id)
        doc = _random_doc(rng, nrng, "fresh")
        w.add_document(*doc)
        w.commit()
        live["fresh"] = doc
        w._merge(0, len(store._snapshot.views), retrain=False)
    (merged,) = store._snapshot.views
    assert merged.segment.codec == coded.segment.codec
    assert merged.segment.ivf.ntotal == len(merged.segment)
    one = _one_index(tmp_path / "one", live)
    _assert_same_results(store, one, live)
    assert coded.segment.ivf.ntotal == len(coded.segment)  # the old snapshot's index stays whole
    store.close()
    one.close()


def test_a_reader_keeps_searching_ivf_segments_after_a_merge_deletes_their_files(tmp_path):
    """A reader pinned to old IVF segments (codes in memory, floats memory-mapped) must still
    search them after a writer's merge and next commit have deleted those files."""
    options = DenseOptions(compress_threshold=20, ivf_segment_min=10, nlist=2, nprobe=2, shortlist=400)
    store, live = _churn(tmp_path / "many", seed=4, options=options)
    store.optimize()
    reader = IndexStore.open(tmp_path / "many", dense_options=options)
    (coded,) = reader._snapshot.views
    assert coded.segment.ivf is not None
    nrng = np.random.default_rng(5)
    queries = [q / np.linalg.norm(q) for q in nrng.standard_normal((5, DIM)).astype(np.float32)]
    before = [reader.search_dense(q, 5) for q in queries]
    rng = random.Random(8)
    with store.writer() as w:
        w.add_document(*_random_doc(rng, nrng, "late"))
        w.commit()
        w._merge(0, len(store._snapshot.views), retrain=True)
        w.add_document(*_random_doc(rng, nrng, "later"))
        w.commit()  # the reader's generation is no longer kept: its segment files go
    assert not (tmp_path / "many" / "segments" / coded.segment.id).exists()
    assert [reader.search_dense(q, 5) for q in queries] == before
    reader.close()
    store.close()


def test_read_rows_reads_the_vectors_the_map_holds(tmp_path):
    """Codec training samples rows through plain file reads: the same floats as the mapped file."""
    from indexing.store import segments as segments_module

    store, _ = _churn(tmp_path / "many", seed=3)
    for view in store._snapshot.views:
        positions = np.arange(len(view.segment))[::2][::-1]
        got = segments_module.read_rows(tmp_path / "many", view.segment, positions)
        assert got.dtype == np.float32 and np.array_equal(got, np.asarray(view.segment.vectors)[positions])
    store.close()
