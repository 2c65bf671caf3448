"""SIGKILL at any point of a commit leaves the last good index readable; a rerun finishes the job.

The child process (tests/indexing/crash_child.py) indexes a small corpus with a commit every two
files and kills itself with SIGKILL at a chosen point of the second commit; one more test kills
it from outside at random moments. Readers in other threads and processes must never see a
torn state while a writer commits.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from indexing.store import FileState, IndexStore
from tests.indexing.crash_child import consistency_problems
from tests.indexing.store_fakes import HashEmbedder, make_document

ROOT = Path(__file__).resolve().parents[2]
TOPICS = [
    "Oral anticoagulation for atrial fibrillation with a CHA2DS2-VASc score of 2 or more.",
    "Metformin remains first-line for type 2 diabetes; HbA1c target below 7%.",
    "Blood pressure target below 130/80 mmHg for adults with hypertension.",
    "Statins for primary prevention in adults aged 40 to 75 with elevated risk.",
    "Empirical antibiotics for community-acquired pneumonia within four hours.",
    "Aspirin is not recommended for primary prevention in adults over 70.",
]


def make_corpus(root: Path, n: int = 8) -> Path:
    for i in range(n):
        text = f"# Guideline {i}\n\n" + "\n\n".join(TOPICS[(i + j) % len(TOPICS)] + f" Note {i}.{j}." for j in range(4))
        (root / f"doc{i:02d}.md").parent.mkdir(parents=True, exist_ok=True)
        (root / f"doc{i:02d}.md").write_text(text, encoding="utf-8")
    return root


def child(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.indexing.crash_child", *map(str, args)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def run_child(*args: str) -> tuple[int, str]:
    proc = child(*args)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out + err


def live_rows(index_dir: Path) -> list[str]:
    with sqlite3.connect(index_dir / "index.sqlite") as db:
        return [r[0] for r in db.execute("SELECT chunk_id FROM chunks WHERE gen_removed IS NULL")]


def snapshot_of(index_dir: Path) -> dict[str, list[str]]:
    store = IndexStore.open(index_dir)
    try:
        return {Path(d.path).name: [c.text for c in store.document_chunks(d.document_id)] for d in store.documents()}
    finally:
        store.close()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("crash-ref")
    corpus = make_corpus(root / "corpus")
    code, out = run_child("index", root / "index", corpus, "none")
    assert code == 0, out
    return snapshot_of(root / "index")


@pytest.mark.parametrize(
    "kill_point, generation_after, committed_files",
    [
        ("mid_transaction", 1, 2),  # the second transaction never committed
        ("after_db_commit", 1, 4),  # committed in SQLite, not yet published: readers stay on 1
        ("mid_publish", 1, 4),
        ("before_manifest", 1, 4),
        ("before_current", 1, 4),
        ("after_publish", 2, 4),
    ],
)
def test_sigkill_during_a_commit(tmp_path, reference, kill_point, generation_after, committed_files):
    corpus = make_corpus(tmp_path / "corpus")
    index_dir = tmp_path / "index"
    code, out = run_child("index", index_dir, corpus, kill_point)
    assert code == -signal.SIGKILL, out

    store = IndexStore.open(index_dir)  # a reader: must not need the writer to repair anything
    assert store.generation == generation_after
    assert consistency_problems(store) == []
    assert len(store.documents()) == 2 * generation_after  # whole commits of two files each
    store.close()

    code, out = run_child("index", index_dir, corpus, "none")
    assert code == 0, out
    assert f"indexed={8 - committed_files}" in out  # committed files are not read again
    assert snapshot_of(index_dir) == reference
    rows = live_rows(index_dir)
    assert len(rows) == len(set(rows)) == sum(len(v) for v in reference.values())
    store = IndexStore.open(index_dir)
    assert consistency_problems(store) == []
    assert store.stats().generation > generation_after
    store.close()


def test_sigkill_from_outside_at_random_moments(tmp_path, reference):
    corpus = make_corpus(tmp_path / "corpus")
    index_dir = tmp_path / "index"
    rng = random.Random(7)
    for attempt in range(3):
        proc = child("index", index_dir, corpus, "external")
        line = proc.stdout.readline()  # wait for one commit, then strike at a random moment
        if line.startswith("COMMITTED"):
            time.sleep(rng.uniform(0.0, 0.15))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        store = IndexStore.open(index_dir)
        assert consistency_problems(store) == [], f"attempt {attempt}"
        store.close()
    code, out = run_child("index", index_dir, corpus, "none")
    assert code == 0, out
    assert snapshot_of(index_dir) == reference
    rows = live_rows(index_dir)
    assert len(rows) == len(set(rows))


def _churn(index_dir: Path, rounds: int) -> None:
    """Writer: add, replace and remove documents, one commit each, merging segments between
    commits (replacements leave mostly-deleted segments, so merges and their clean-up run often)."""
    embedder = HashEmbedder()
    store = IndexStore.open(index_dir)
    for i in range(rounds):
        with store.writer() as w:
            document, chunks = make_document(f"d{i % 4}", [TOPICS[(i + j) % len(TOPICS)] for j in range(1 + i % 3)])
            w.add_document(document, chunks, embedder.embed_passages([c.text for c in chunks]))
            if i % 5 == 4:
                w.remove_document(make_document(f"d{(i + 1) % 4}", ["x"])[0].document_id)
            w.commit()
            w.maybe_merge()
    store.close()


def _seed(index_dir: Path) -> None:
    embedder = HashEmbedder()
    store = IndexStore.open(index_dir, create=True, embedder_name=embedder.name, dim=embedder.dim)
    with store.writer() as w:
        document, chunks = make_document("seed", TOPICS[:3])
        w.add_document(document, chunks, embedder.embed_passages(TOPICS[:3]),
                       [FileState("/seed.md", document.document_id, "h", 1, 0.0)])
        w.commit()
    store.close()


def test_reader_thread_never_sees_a_torn_state(tmp_path):
    index_dir = tmp_path / "index"
    _seed(index_dir)
    reader = IndexStore.open(index_dir)
    problems, generations, stop = [], set(), threading.Event()

    def read_loop():
        while not stop.is_set():
            reader.refresh()
            generations.add(reader.generation)
            found = consistency_problems(reader)
            if found:
                problems.append((reader.generation, found))
                return

    thread = threading.Thread(target=read_loop)
    thread.start()
    try:
        _churn(index_dir, 25)
    finally:
        stop.set()
        thread.join(timeout=60)
    assert problems == []
    assert len(generations) > 1  # the reader really did see the index change under it
    reader.refresh()
    assert reader.generation == 26
    reader.close()


def test_reader_process_never_sees_a_torn_state(tmp_path):
    index_dir = tmp_path / "index"
    _seed(index_dir)
    proc = child("read", index_dir, 4)
    assert proc.stdout.readline().strip() == "READY"
    _churn(index_dir, 40)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out.startswith("OK"), out + err
    assert int(out.split("generations=")[1]) > 1  # it did read while the writer committed
