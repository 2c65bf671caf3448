"""An index written by an older text analyzer is re-tokenised the first time it is opened, so a
British question meets a British passage again (session 7 folded spellings inside the stemmer:
queries became "anemia", indexes built before kept "anaemia"). Vectors, deletions and documents
stay as they were; a crash between the two steps is finished by the next writer; a locked or
read-only index is searched as it is, with a warning."""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

import indexing.text
from indexing.lexical import ANALYZER_VERSION, lexical_tokens
from indexing.store import IndexStore, reanalyse, segments
from indexing.store.bm25 import Postings
from indexing.store.database import TOKEN_SEP
from indexing.store.files import WriterLock
from indexing.store.generations import manifest_path
from tests.indexing.store_fakes import HashEmbedder, make_document

EMB = HashEmbedder(dim=32)
ANAEMIA = [
    "Oral iron is first-line treatment for iron deficiency anaemia in pregnancy.",
    "Haemoglobin below 110 g/L in the first trimester defines anaemia.",
]
OTHER = ["Apixaban 2.5 mg twice daily when two dose-reduction criteria are met."]
GONE = ["Paediatric anaemia screening at twelve months."]


def _old_tokens(text: str, monkeypatch) -> list[str]:
    """The tokens analyzer version 1 made: no spelling folding before the stemmer."""
    with monkeypatch.context() as m:
        m.setattr(indexing.text, "fold_spelling", lambda word: word)
        indexing.text.stem.cache_clear()
        try:
            return lexical_tokens(text)
        finally:
            indexing.text.stem.cache_clear()


def _build(root: Path) -> IndexStore:
    store = IndexStore.open(root, create=True, embedder_name=EMB.name, dim=EMB.dim)
    with store.writer() as w:
        for key, texts in (("anaemia", ANAEMIA), ("other", OTHER), ("gone", GONE)):
            document, chunks = make_document(key, texts)
            w.add_document(document, chunks, EMB.embed_passages(texts))
        w.commit()
        w.remove_document(make_document("gone", GONE)[0].document_id)
        w.commit()
    return store


def _make_old(root: Path, monkeypatch) -> None:
    """Turn a current index into what analyzer version 1 left: unfolded tokens in the database, no
    version recorded anywhere, and derived files built from those tokens (by rebuilding them)."""
    conn = sqlite3.connect(root / "index.sqlite", isolation_level=None)
    rows = conn.execute("SELECT row, text FROM chunks").fetchall()
    conn.executemany("UPDATE chunks SET lexical = ? WHERE row = ?",
                     [(TOKEN_SEP.join(_old_tokens(text, monkeypatch)), row) for row, text in rows])
    conn.execute("DELETE FROM manifest WHERE key = 'analyzer_version'")
    conn.close()
    for name in ("segments", "generations"):
        shutil.rmtree(root / name)
    (root / "CURRENT").unlink()
    with monkeypatch.context() as m:  # the writer rebuilds the derived files from the old tokens
        m.setattr(reanalyse, "bring_up_to_date", lambda *args, **kwargs: None)
        IndexStore.open(root).close()


def _versions(root: Path) -> tuple[str | None, int]:
    conn = sqlite3.connect(root / "index.sqlite")
    db = conn.execute("SELECT value FROM manifest WHERE key = 'analyzer_version'").fetchone()
    conn.close()
    generation = int((root / "CURRENT").read_text())
    published = json.loads(manifest_path(root, generation).read_text())
    return (db[0] if db else None), int(published.get("analyzer", 1))


def test_a_new_index_records_the_current_analyzer(tmp_path):
    root = tmp_path / "index"
    _build(root).close()
    assert _versions(root) == (str(ANALYZER_VERSION), ANALYZER_VERSION)


def test_an_old_index_is_retokenised_on_open_and_finds_british_spellings(tmp_path, monkeypatch):
    root = tmp_path / "index"
    store = _build(root)
    dense_before = store.search_dense(EMB.embed_queries(["iron for anaemia"])[0], 3)
    store.close()
    # Without the update, the old postings miss the folded query: what users saw after session 7.
    _make_old(root, monkeypatch)
    assert _versions(root) == (None, 1)
    with monkeypatch.context() as m:
        m.setattr(IndexStore, "_update_analyzer", lambda self: None)
        stale = IndexStore.open(root)
        assert stale._snapshot.analyzer == 1
        assert stale.search_lexical("anaemia haemoglobin", 5) == []
        stale.close()

    store = IndexStore.open(root)
    hits = [chunk_id for chunk_id, _ in store.search_lexical("anaemia haemoglobin", 5)]
    anaemia_doc = make_document("anaemia", ANAEMIA)[0].document_id
    assert hits and all(c.startswith(anaemia_doc[:16]) for c in hits)
    assert store.search_lexical("paediatric anaemia screening", 5)[0][0].startswith(anaemia_doc[:16])  # "gone" stays removed
    assert store.search_dense(EMB.embed_queries(["iron for anaemia"])[0], 3) == dense_before
    assert sorted(d.title for d in store.documents()) == ["Title anaemia", "Title other"]
    assert _versions(root) == (str(ANALYZER_VERSION), ANALYZER_VERSION)
    conn = sqlite3.connect(root / "index.sqlite")
    stored = dict(conn.execute("SELECT text, lexical FROM chunks").fetchall())
    assert all(stored[t].split(TOKEN_SEP) == lexical_tokens(t) for t in ANAEMIA + OTHER)
    store.close()


def test_a_crash_between_retokenising_and_republishing_is_finished_by_the_next_writer(tmp_path, monkeypatch):
    root = tmp_path / "index"
    _build(root).close()
    _make_old(root, monkeypatch)
    with monkeypatch.context() as m:
        m.setattr(IndexStore, "_update_analyzer", lambda self: None)
        store = IndexStore.open(root)

        def crash(*args, **kwargs):
            raise RuntimeError("killed while writing segments")

        m.setattr(reanalyse, "reanalysed", crash)
        with pytest.raises(RuntimeError, match="killed"):
            with store.writer():
                pass
        store.close()
    assert _versions(root) == (str(ANALYZER_VERSION), 1)  # database done, derived files still old
    store = IndexStore.open(root)
    assert store.search_lexical("anaemia haemoglobin", 5)
    assert _versions(root) == (str(ANALYZER_VERSION), ANALYZER_VERSION)
    store.close()


def test_a_locked_old_index_is_searched_as_it_is_with_a_warning(tmp_path, monkeypatch, caplog):
    root = tmp_path / "index"
    _build(root).close()
    _make_old(root, monkeypatch)
    other_writer = WriterLock(root)
    other_writer.acquire()
    try:
        with caplog.at_level(logging.WARNING, logger="indexing.store.store"):
            store = IndexStore.open(root)
        assert "older text analyzer" in caplog.text and "m1e index --optimize" in caplog.text
        assert store.search_lexical("apixaban dose", 5)  # words spelt alike still meet
        store.close()
    finally:
        other_writer.release()
    assert _versions(root)[1] == 1


def test_postings_rebuilt_in_pieces_equal_one_build(tmp_path, monkeypatch):
    """Large segments are re-tokenised MERGE_CHUNK rows at a time and merged from files."""
    rng = np.random.default_rng(3)
    words = "anaemia haemorrhage oedema tumour dose renal stroke bleeding".split()
    token_lists = [[str(w) for w in rng.choice(words, size=rng.integers(0, 6))] for _ in range(23)]
    rows = np.arange(100, 123, dtype=np.int64)
    segment = segments.write(tmp_path, segments.build(rows, [f"c{i}" for i in range(23)],
                                                      np.zeros((23, 4), np.float32), [[]] * 23, "seg-a"))
    monkeypatch.setattr(segments, "MERGE_CHUNK", 5)
    rebuilt = segments.with_postings(tmp_path, segment, lambda r: [token_lists[int(x) - 100] for x in r], "seg-b")
    expected = Postings.build(token_lists)
    assert rebuilt.postings.terms == expected.terms
    for name in ("offsets", "docs", "tfs", "doclen", "maxtf", "minratio"):
        np.testing.assert_array_equal(np.asarray(getattr(rebuilt.postings, name)), getattr(expected, name))
    np.testing.assert_array_equal(rebuilt.rows, rows)
    assert not (tmp_path / "segments" / "seg-b" / ".pieces").exists()
