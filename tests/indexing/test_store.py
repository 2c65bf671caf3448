"""The durable store: round trips, search, filters, generations, locking, dense index choice."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from indexing.labels import SourceType
from indexing.store import (
    DenseOptions,
    EmbedderMismatchError,
    FileState,
    IndexLockedError,
    IndexNotFoundError,
    IndexStore,
    IndexStoreError,
)
from tests.indexing.store_fakes import HashEmbedder, make_document

EMB = HashEmbedder(dim=32)

AF = [
    "Oral anticoagulation is recommended for atrial fibrillation with CHA2DS2-VASc of 2 or more (Class I).",
    "Apixaban 2.5 mg twice daily when two dose-reduction criteria are met.",
]
DM = ["Metformin is the first-line drug for type 2 diabetes; HbA1c target below 7%.", "二甲双胍是2型糖尿病的一线用药。"]
HTN = ["Blood pressure target below 130/80 mmHg for most adults with hypertension."]


def new_store(tmp_path: Path, **kw) -> IndexStore:
    return IndexStore.open(tmp_path / "index", create=True, embedder_name=EMB.name, dim=EMB.dim, **kw)


def add(store: IndexStore, *docs) -> int:
    with store.writer() as w:
        for document, chunks in docs:
            w.add_document(
                document,
                chunks,
                EMB.embed_passages([c.text for c in chunks]),
                [FileState(document.path, document.document_id, "h-" + document.document_id, 1, 0.0)],
            )
        return w.commit()


@pytest.fixture
def store(tmp_path):
    s = new_store(tmp_path)
    add(
        s,
        make_document("af", AF, year=2023, level=1),
        make_document("dm", DM, year=2012, source_type=SourceType.RCT, level=2),
        make_document("htn", HTN, year=None, source_type=None, level=None),
    )
    yield s
    s.close()


def test_missing_index_is_a_clear_error(tmp_path):
    with pytest.raises(IndexNotFoundError, match=str(tmp_path / "nothing")):
        IndexStore.open(tmp_path / "nothing")


def test_create_needs_embedder_facts(tmp_path):
    with pytest.raises(IndexStoreError, match="embedder"):
        IndexStore.open(tmp_path / "i", create=True)


def test_round_trip_documents_and_chunks(store, tmp_path):
    docs = {d.title: d for d in store.documents()}
    assert set(docs) == {"Title af", "Title dm", "Title htn"}
    af = docs["Title af"]
    assert af.n_chunks == 2 and af.n_pages == 2 and af.meta.year == 2023
    assert af.grade is not None and af.grade.source_type is SourceType.GUIDELINE and af.grade.level == 1
    assert af.paths == ["/corpus/af.md"]
    assert docs["Title htn"].grade is None
    assert store.document(af.document_id) == af
    assert store.document("0" * 64) is None

    chunks = store.document_chunks(af.document_id)
    assert [c.text for c in chunks] == AF
    assert chunks[0].heading_path == ["Section", "Part 0"]
    assert chunks[0].stated_grades[0].quote == "Class I, LOE A"
    # chunks() keeps the order asked for and skips unknown ids
    ids = [chunks[1].chunk_id, "nope:0", chunks[0].chunk_id]
    assert [c.chunk_id for c in store.chunks(ids)] == [chunks[1].chunk_id, chunks[0].chunk_id]

    stats = store.stats()
    assert (stats.documents, stats.chunks, stats.pages, stats.generation) == (3, 5, 5, 1)
    assert (stats.embedder_name, stats.dim, stats.dense_kind) == (EMB.name, 32, "flat")

    again = IndexStore.open(tmp_path / "index")
    assert again.documents() == store.documents()
    assert again.search_lexical("metformin", 3) == store.search_lexical("metformin", 3)
    again.close()


def test_dense_search_ranks_by_cosine_and_honours_filter(store):
    query = EMB.embed_queries(["metformin first-line type 2 diabetes"])[0]
    hits = store.search_dense(query, 3)
    assert len(hits) == 3
    top_chunk = store.chunks([hits[0][0]])[0]
    assert "Metformin" in top_chunk.text
    scores = [s for _, s in hits]
    assert scores == sorted(scores, reverse=True) and scores[0] <= 1.0001
    af_ids = store.chunk_ids_where(document_ids=[make_document("af", AF)[0].document_id])
    filtered = store.search_dense(query, 5, chunk_filter=af_ids)
    assert {cid for cid, _ in filtered} == af_ids
    assert store.search_dense(query, 5, chunk_filter=set()) == []
    with pytest.raises(IndexStoreError, match="dimensions"):
        store.search_dense(np.zeros(7, np.float32), 3)


def test_lexical_search_english_chinese_and_clinical_tokens(store):
    (cid, score), *_ = store.search_lexical("apixaban 2.5 mg dose", 3)
    assert "Apixaban" in store.chunks([cid])[0].text and score > 0
    assert "CHA2DS2-VASc" in store.chunks([store.search_lexical("CHA2DS2-VASc", 1)[0][0]])[0].text
    assert "二甲双胍" in store.chunks([store.search_lexical("糖尿病 用药", 1)[0][0]])[0].text
    assert store.search_lexical("zzzz unknownword", 5) == []
    dm_only = store.chunk_ids_where(source_types=[SourceType.RCT])
    assert store.search_lexical("apixaban", 5, chunk_filter=dm_only) == []


def test_filters(store):
    af = make_document("af", AF)[0].document_id
    dm = make_document("dm", DM)[0].document_id
    owner = lambda ids: {c.document_id for c in store.chunks(sorted(ids))}  # noqa: E731
    assert owner(store.chunk_ids_where(source_types=["guideline"])) == {af}
    assert owner(store.chunk_ids_where(year_min=2015)) == {af}  # htn has no year: excluded
    assert owner(store.chunk_ids_where(year_max=2015)) == {dm}
    assert owner(store.chunk_ids_where(max_level=1)) == {af}
    assert owner(store.chunk_ids_where(max_level=2)) == {af, dm}  # ungraded htn cannot pass a level filter
    assert len(store.chunk_ids_where()) == 5
    assert store.chunk_ids_where(document_ids=[]) == set()


def test_refusal_to_mix_embedders(store, tmp_path):
    with pytest.raises(EmbedderMismatchError, match=r"built with hash-embedder \(32-d\); refusing to mix with other \(384-d\)"):
        IndexStore.open(tmp_path / "index", embedder_name="other", dim=384)
    with pytest.raises(EmbedderMismatchError):
        IndexStore.open(tmp_path / "index", create=True, embedder_name=EMB.name, dim=16)
    document, chunks = make_document("x", ["text"])
    with store.writer() as w, pytest.raises(IndexStoreError, match="shape"):
        w.add_document(document, chunks, np.zeros((1, 16), np.float32))


def test_one_writer_at_a_time(store, tmp_path):
    other = IndexStore.open(tmp_path / "index")
    with store.writer():
        with pytest.raises(IndexLockedError, match="being written"):
            with other.writer():
                pass
        with pytest.raises(IndexLockedError, match="already has a writer"):
            with store.writer():
                pass
    with other.writer():  # released after the first writer closed
        pass
    other.close()


def test_readers_keep_their_generation_until_refresh(store, tmp_path):
    reader = IndexStore.open(tmp_path / "index")
    assert reader.generation == 1
    add(store, make_document("new", ["Statins for primary prevention in adults aged 40 to 75."]))
    assert reader.generation == 1 and reader.stats().chunks == 5
    assert reader.search_lexical("statins", 3) == []
    assert reader.refresh() is True and reader.refresh() is False
    assert reader.stats().chunks == 6 and reader.search_lexical("statins", 3)
    assert store.generation == 2  # the writer's own store sees its commit at once
    reader.close()


def test_remove_document_and_replacement(store):
    af = make_document("af", AF)[0].document_id
    assert store.remove_document(af) is True
    assert store.remove_document(af) is False
    assert store.document(af) is None and store.document_chunks(af) == []
    assert store.search_lexical("apixaban", 5) == []
    assert store.stats().chunks == 3
    # Re-adding the same id after removal is fine (old rows are history, not duplicates)
    add(store, make_document("af", AF))
    assert len(store.document_chunks(af)) == 2
    # Replacing a live document with the same id swaps its chunks
    add(store, make_document("af", ["Only one chunk now about apixaban."]))
    assert [c.text for c in store.document_chunks(af)] == ["Only one chunk now about apixaban."]
    assert store.stats().chunks == 4


def test_removed_rows_are_collected_after_retention(store, tmp_path):
    import sqlite3

    store.retain_removed_s = 0.0
    store.remove_document(make_document("af", AF)[0].document_id)
    add(store, make_document("z", ["trigger another commit"]))
    with sqlite3.connect(tmp_path / "index" / "index.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM chunks WHERE gen_removed IS NOT NULL").fetchone()[0] == 0
    gens = os.listdir(tmp_path / "index" / "generations")
    assert len(gens) <= 2 and f"{store.generation:010d}.json" in gens
    store.optimize()  # one segment: the files of the merged-away ones are collected
    assert store.stats().segments == 1
    live = [d for d in os.listdir(tmp_path / "index" / "segments") if not d.startswith(".")]
    assert len(live) <= 1 + 3  # the new one, and at most those the previous manifest names


def test_derived_files_are_rebuilt_when_missing(store, tmp_path):
    root = tmp_path / "index"
    expected = store.search_lexical("metformin diabetes", 3)
    shutil.rmtree(root / "generations")
    shutil.rmtree(root / "segments")
    reader = IndexStore.open(root)  # rebuilt in memory; readers never write
    assert reader.search_lexical("metformin diabetes", 3) == expected
    assert not (root / "generations").exists() and not (root / "segments").exists()
    with reader.writer():  # a writer republishes them
        pass
    assert (root / "generations" / f"{reader.generation:010d}.json").is_file()
    assert [p.name for p in (root / "segments").glob("*/vectors.npy")] == ["vectors.npy"]
    again = IndexStore.open(root)
    assert again.search_lexical("metformin diabetes", 3) == expected
    again.close()
    reader.close()


def test_derived_files_need_no_pickle(store, tmp_path):
    gen_dir = tmp_path / "index" / "segments"
    names = [p.name for p in gen_dir.rglob("*") if p.is_file()]
    assert not [n for n in names if n.endswith((".pkl", ".pickle"))]
    for npy in gen_dir.rglob("*.npy"):
        np.load(npy, allow_pickle=False)


@pytest.mark.parametrize("threshold, kind", [(1000, "flat"), (50, "ivf")])
def test_dense_kind_follows_size_threshold(tmp_path, monkeypatch, threshold, kind):
    from indexing.store import dense as dense_module

    rng = np.random.default_rng(1)
    options = DenseOptions(compress_threshold=threshold, ivf_segment_min=50, nlist=4, nprobe=4)
    store = new_store(tmp_path, dense_options=options)
    vectors = rng.normal(size=(160, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    document, chunks = make_document("many", [f"passage number {i}" for i in range(160)])
    with store.writer() as w:
        w.add_document(document, chunks, vectors)
        w.commit()
    assert store.stats().dense_kind == "flat"  # a commit's own segment is always exact
    store.optimize()  # merges train the codes once the index is past the threshold
    assert store.stats().dense_kind == kind
    hits = store.search_dense(vectors[17], 5)
    assert hits[0][0] == chunks[17].chunk_id and hits[0][1] == pytest.approx(1.0, abs=1e-4)
    exact = np.argsort(-(vectors @ vectors[17]))[:5]
    assert [s for _, s in hits] == pytest.approx((vectors[exact] @ vectors[17]).tolist(), abs=1e-5)  # re-ranked
    reopened = IndexStore.open(tmp_path / "index", dense_options=options)
    assert reopened.stats().dense_kind == kind and reopened.search_dense(vectors[17], 1)[0][0] == chunks[17].chunk_id
    # a filter is searched exactly whatever the index kind
    subset = {chunks[i].chunk_id for i in range(0, 160, 3)}
    got = [cid for cid, _ in store.search_dense(vectors[18], 3, chunk_filter=subset)]
    sims = vectors[0:160:3] @ vectors[18]
    want = [chunks[i * 3].chunk_id for i in np.argsort(-sims)[:3]]
    assert got == want
    # a large filter on a compressed segment goes through the IVF selector, then the exact re-rank
    monkeypatch.setattr(dense_module, "EXACT_FILTER_LIMIT", 10)
    got = [cid for cid, _ in store.search_dense(vectors[18], 3, chunk_filter=subset)]
    assert got == want
    store.remove_document(document.document_id)
    assert store.search_dense(vectors[18], 3) == [] and store.search_dense(vectors[18], 3, chunk_filter=subset) == []
    reopened.close()
    store.close()
    assert DenseOptions(kind="auto", compress_threshold=10).choose(9) == "flat"
    assert DenseOptions(kind="auto", compress_threshold=10).choose(10) == "ivf"
    assert DenseOptions(kind="flat", compress_threshold=10).choose(10**6) == "flat"
    assert DenseOptions().code_bytes(384) == 48  # fast-scan PQ: 96 sub-quantisers of 4 bits
    assert DenseOptions(memory_mb=16).code_bytes(384) == 16  # 16 B at 1M planned: 32 sub-quantisers
    assert DenseOptions(codec="sq8").code_bytes(384) == 384  # SQ8 fits 1M vectors in the default budget
    assert DenseOptions(codec="sq8", memory_mb=64).code_bytes(384) < 384  # a tighter budget switches to PQ
