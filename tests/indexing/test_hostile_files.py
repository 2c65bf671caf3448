"""Hostile files named to the indexer, hostile sidecars, and a file rewritten while it is indexed
(issue 13 items 4, 5, 6, 8, 14). The inputs are listed in tests/hostile_inputs.py."""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from pathlib import Path

import pytest

from indexing.pipeline import IndexPipeline
from indexing.store import FileState, IndexStore
from tests import hostile_inputs
from tests.indexing.store_fakes import HashEmbedder

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def pipeline(tmp_path: Path) -> IndexPipeline:
    return IndexPipeline(tmp_path / "index", embedder=HashEmbedder(), chunk_tokens=40, chunk_overlap=8, commit_every=4)


def known_files(index_dir: Path) -> dict[str, FileState]:
    store = IndexStore.open(index_dir)
    try:
        with store.writer() as writer:
            return writer.known_files()
    finally:
        store.close()


@pytest.mark.timeout(60)  # a FIFO or /dev/zero used to hang here for ever
@pytest.mark.parametrize("case", hostile_inputs.params("file"))
def test_hostile_file_named_directly_gets_a_clear_outcome(case, tmp_path, monkeypatch):
    monkeypatch.setenv("M1E_MAX_TEXT_MB", "1")  # the big-text case is 2 MB: fast, yet over the limit
    path = case.build(tmp_path)
    started = time.monotonic()
    report = pipeline(tmp_path).run([path])
    assert time.monotonic() - started < 30
    if case.expect is None:
        assert [Path(o.path).name for o in report.indexed] == [path.name], report.failed
        store = IndexStore.open(tmp_path / "index")
        try:
            titles = [d.title for d in store.documents()]
        finally:
            store.close()
        assert titles and not any(CONTROL.search(t) for t in titles), titles
        assert titles == ["Hypertension guideline"]
    else:
        assert len(report.failed) == 1 and not report.indexed
        assert re.search(case.expect, report.failed[0].reason), report.failed[0].reason


@pytest.mark.parametrize("case", hostile_inputs.params("sidecar"))
def test_hostile_sidecar_gets_a_clear_reason(case, tmp_path):
    doc = tmp_path / "guide.md"
    doc.write_text("# A guideline\n\nBlood pressure below 130/80 mmHg is recommended.\n", encoding="utf-8")
    (tmp_path / "guide.md.meta.json").write_text(case.build(tmp_path), encoding="utf-8")
    report = pipeline(tmp_path).run([doc])
    assert len(report.failed) == 1, report.indexed
    reason = report.failed[0].reason
    assert reason.startswith("malformed metadata sidecar guide.md.meta.json: ")
    assert "unexpected" not in reason and len(reason) < 300
    assert re.search(case.expect, reason), reason


VERSIONS = {
    "a": "# Version A\n\nAnticoagulation with apixaban is recommended in version alpha.\n",
    "b": "# Version B\n\nRate control with bisoprolol is recommended in version bravo, a longer text.\n",
}


def _swap(path: Path, version: str) -> None:
    tmp = path.with_name(path.name + ".swap")
    tmp.write_text(VERSIONS[version], encoding="utf-8")
    os.replace(tmp, path)  # atomic: a reader sees one version or the other, never half


def _racing_writer(files: list[Path], stop: threading.Event) -> int:
    swaps = 0
    while not stop.is_set():
        for path in files:
            _swap(path, "ab"[swaps % 2])
        swaps += 1
    return swaps


def test_racing_writer_never_leaves_a_stale_record(tmp_path, monkeypatch):
    """Item 4: files swapped between two versions during indexing; every stored record's content
    hash is the hash of the very bytes stored, and once the files settle a rerun serves them.
    Besides a writer thread swapping at random, each file is swapped at the worst moment: when
    the reader looks for its sidecar, between hashing and parsing in the old code."""
    import indexing.readers as readers

    docs = tmp_path / "docs"
    docs.mkdir()
    files = [docs / f"f{i:02d}.md" for i in range(20)]
    for path in files:
        _swap(path, "a")
    flips: dict[Path, int] = {}
    real_find_sidecar = readers.find_sidecar

    def find_sidecar_and_swap(path: Path):
        flips[path] = flips.get(path, 0) + 1
        _swap(path, "ba"[flips[path] % 2])
        return real_find_sidecar(path)

    monkeypatch.setattr(readers, "find_sidecar", find_sidecar_and_swap)
    stop = threading.Event()
    writer = threading.Thread(target=_racing_writer, args=(files, stop), daemon=True)
    writer.start()
    try:
        for _ in range(2):
            pipeline(tmp_path).run([docs])
    finally:
        stop.set()
        writer.join()
    assert flips, "the reader never looked up a sidecar: the worst-moment swap did not run"
    for state in known_files(tmp_path / "index").values():
        assert state.content_hash == state.document_id, f"{state.path} stored under another version's id"
    monkeypatch.setattr(readers, "find_sidecar", real_find_sidecar)
    for path in files:
        _swap(path, "a")
    report = pipeline(tmp_path).run([docs])
    assert not report.failed
    want = hashlib.sha256(VERSIONS["a"].encode()).hexdigest()
    states = known_files(tmp_path / "index")
    assert {states[str(p.resolve())].document_id for p in files} == {want}
    store = IndexStore.open(tmp_path / "index")
    try:
        assert any("alpha" in c.text for c in store.document_chunks(want))
    finally:
        store.close()


def test_stale_record_is_reindexed(tmp_path):
    """A record written by the old bug (content hash of version A, text of version B) is not
    'unchanged' when the file holds version A: it is indexed again."""
    path = tmp_path / "guide.md"
    _swap(path, "b")
    pipeline(tmp_path).run([path])
    hash_a = hashlib.sha256(VERSIONS["a"].encode()).hexdigest()
    hash_b = hashlib.sha256(VERSIONS["b"].encode()).hexdigest()
    store = IndexStore.open(tmp_path / "index")
    try:
        with store.writer() as writer:  # forge the stale record
            writer.link_file(FileState(str(path.resolve()), hash_b, hash_a, 10, 0.0))
            writer.commit()
    finally:
        store.close()
    _swap(path, "a")
    report = pipeline(tmp_path).run([path])
    assert [o.document_id for o in report.indexed] == [hash_a], (report.unchanged, report.failed)
    assert known_files(tmp_path / "index")[str(path.resolve())].document_id == hash_a
