"""Child process for the crash-safety tests: index a corpus and SIGKILL itself at a chosen point.

    python -m tests.indexing.crash_child index INDEX CORPUS KILL_POINT
    python -m tests.indexing.crash_child read INDEX SECONDS

Kill points (all at the second commit, so one good generation exists before it):
    none, mid_transaction, after_db_commit, mid_publish, before_manifest, before_current, after_publish,
    external
("external" kills nothing itself; it prints COMMITTED lines so the parent can kill it).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from indexing.store import IndexStore


def consistency_problems(store: IndexStore) -> list[str]:
    """Everything that would make the view a torn one, or [] when it is whole."""
    problems = []
    stats = store.stats()
    documents = store.documents()
    chunk_ids = []
    for record in documents:
        chunks = store.document_chunks(record.document_id)
        if len(chunks) != record.n_chunks:
            problems.append(f"{record.title}: {len(chunks)} chunks, record says {record.n_chunks}")
        chunk_ids += [c.chunk_id for c in chunks]
    if len(chunk_ids) != len(set(chunk_ids)):
        problems.append("duplicate chunk ids")
    if len(chunk_ids) != stats.chunks:
        problems.append(f"{len(chunk_ids)} chunks in documents, {stats.chunks} in the dense/lexical index")
    if set(store.chunk_ids_where()) != set(chunk_ids):
        problems.append("filterable chunk ids differ from the documents' chunks")
    for query in ("anticoagulation", "diabetes metformin", "blood pressure"):
        hits = store.search_lexical(query, 50)
        if len(store.chunks([h[0] for h in hits])) != len(hits):
            problems.append(f"lexical hit for {query!r} has no chunk row")
    return problems


def _die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _install(kill_point: str) -> None:
    from indexing.store import generations, segments, writer

    def at_second_commit(generation: int) -> bool:
        return generation >= 2

    if kill_point == "mid_transaction":
        real_insert = writer.IndexWriter._insert

        def insert(self, conn, staged, generation, now):
            real_insert(self, conn, staged, generation, now)
            if at_second_commit(generation):
                _die()

        writer.IndexWriter._insert = insert
    elif kill_point == "after_db_commit":
        real_advance = writer.advance

        def advance(root, conn, snapshot, upto, *a, **kw):
            if at_second_commit(upto):
                _die()
            return real_advance(root, conn, snapshot, upto, *a, **kw)

        writer.advance = advance
    elif kill_point == "mid_publish":  # the new segment's files written, not yet renamed into place
        real_fsync_tree = segments.fsync_tree

        def fsync_tree(root):
            if at_second_commit(int(root.name.removeprefix(".tmp-").split("-")[0])):
                _die()
            real_fsync_tree(root)

        segments.fsync_tree = fsync_tree
    elif kill_point == "before_manifest":  # the segment in place, no manifest names it yet
        real_write = generations.write_atomic

        def write_manifest(path, text):
            if path.name.endswith(".json") and at_second_commit(int(path.name.removesuffix(".json"))):
                _die()
            real_write(path, text)

        generations.write_atomic = write_manifest
    elif kill_point == "before_current":
        real_write = generations.write_atomic

        def write_atomic(path, text):
            if path.name == "CURRENT" and at_second_commit(int(text)):
                _die()
            real_write(path, text)

        generations.write_atomic = write_atomic
    elif kill_point == "after_publish":
        real_gc = writer.IndexWriter._collect_garbage

        def collect(self, conn, keep):
            if at_second_commit(max(keep)):
                _die()
            real_gc(self, conn, keep)

        writer.IndexWriter._collect_garbage = collect
    elif kill_point == "external":
        real_commit = writer.IndexWriter.commit

        def commit(self):
            generation = real_commit(self)
            print(f"COMMITTED {generation}", flush=True)
            return generation

        writer.IndexWriter.commit = commit
    elif kill_point != "none":
        raise SystemExit(f"unknown kill point {kill_point}")


def index(index_dir: str, corpus: str, kill_point: str) -> None:
    from indexing.pipeline import IndexPipeline
    from tests.indexing.store_fakes import HashEmbedder

    _install(kill_point)
    commit_every = 1 if kill_point == "external" else 2
    report = IndexPipeline(index_dir, embedder=HashEmbedder(), chunk_tokens=30, chunk_overlap=5, commit_every=commit_every).run(
        [corpus]
    )
    print(f"DONE indexed={report.totals.indexed} unchanged={report.totals.unchanged} failed={report.totals.failed}")


def read(index_dir: str, seconds: str) -> None:
    store = IndexStore.open(index_dir)
    print("READY", flush=True)
    end = time.monotonic() + float(seconds)
    checks, generations = 0, set()
    while time.monotonic() < end:
        store.refresh()
        problems = consistency_problems(store)
        generations.add(store.generation)
        checks += 1
        if problems:
            print(f"TORN generation {store.generation}: {problems}", flush=True)
            return
    print(f"OK checks={checks} generations={len(generations)}", flush=True)


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    {"index": index, "read": read}[mode](*args)
