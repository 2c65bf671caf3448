"""`IndexWriter`: stage documents, then commit them as one new generation.

A commit is one SQLite transaction (rows, vectors, tokens, file hashes, generation number);
after it one new segment with only the commit's rows, and deletion files for the segments it
removed rows from, are written beside the old ones; then the generation's manifest and the
CURRENT pointer. So a commit costs what it adds, whatever the size of the index. A crash before
the transaction commits leaves the previous generation untouched; a crash after it leaves the
database one generation ahead of CURRENT, which readers ignore (they stay on CURRENT) and the
next writer repairs on open by writing the missing segment.

Merges (`maybe_merge`, size-tiered, called between commits; `optimize`, everything into one)
never run inside a commit: they write a new segment from the live rows of consecutive segments
and publish a new manifest for the same generation.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from indexing.labels import StatedGrade
from indexing.lexical import lexical_tokens
from indexing.schema import Chunk, Document
from indexing.store.database import TOKEN_SEP, connect, create_schema, database_generation
from indexing.store import dense, reanalyse, segments
from indexing.store.files import WriterLock, fsync_dir, read_current, release_memory
from indexing.store.generations import (
    Snapshot,
    SegmentView,
    advance,
    codec_path,
    empty_snapshot,
    load_snapshot,
    manifest_path,
    publish,
    remove_stale,
)
from indexing.store.records import IndexLockedError, IndexStoreError


@dataclass(frozen=True)
class FileState:
    """One file name and the content it held when indexed."""

    path: str
    document_id: str
    content_hash: str
    size: int
    mtime: float


@dataclass
class _StagedDocument:
    document: Document
    chunks: list[Chunk]
    vectors: np.ndarray
    lexical: list[list[str]]


RECORD_MARK = "#pmid="  # "<file>#pmid=<n>": one article of a PubMed file, which is the path that exists


def source_file(path: str) -> str:
    """The file a document's path lives in (a PubMed article's path names its XML file too)."""
    return path.rsplit(RECORD_MARK, 1)[0] if RECORD_MARK in path else path


MERGE_FACTOR = 10  # segments of one size tier merged together: each row is rewritten log10(N/320) times
COMPACT_DELETED = 0.5  # a segment with more than this share of deleted rows is rewritten alone


def _stated_json(grades: list[StatedGrade]) -> str:
    return json.dumps([g.model_dump(mode="json") for g in grades], ensure_ascii=False)


class IndexWriter:
    def __init__(self, store):
        self.store = store
        self.root: Path = store.path
        self._lock = WriterLock(self.root)
        self._conn: sqlite3.Connection | None = None
        self._adds: dict[str, _StagedDocument] = {}
        self._links: dict[str, FileState] = {}
        self._removals: set[str] = set()
        self._forget: set[str] = set()

    # ---- lifetime ------------------------------------------------------------------------------

    def __enter__(self) -> "IndexWriter":
        if not self.store._writer_active.acquire(blocking=False):
            raise IndexLockedError(f"index at {self.root} already has a writer in this process")
        try:
            self._lock.acquire()
            self._conn = connect(self.root)
            # Between commits SQLite checkpoints by itself every 1000 pages (not each commit: that
            # was an fsync'd write of every dirtied index page, a commit's main cost at 100k rows);
            # the log is cut back to 64 MB after each, and a larger cache keeps index pages warm.
            self._conn.execute("PRAGMA journal_size_limit=67108864")
            self._conn.execute("PRAGMA cache_size=-65536")
            create_schema(self._conn)  # idempotent; adds tables an older index lacks
            self._recover()
            self._update_analyzer()
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None and self.pending:
                self.commit()
        finally:
            self._close()

    def _close(self) -> None:
        self.discard()
        if self._conn is not None:
            try:
                # Fold the write-ahead log back into the database so it does not keep a batch's
                # size on disk; readers inside an older snapshot just make it a partial one.
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass  # busy or closing after an error: the next writer or SQLite itself will do it
            self._conn.close()
            self._conn = None
        self._lock.release()
        if self.store._writer_active.locked():
            self.store._writer_active.release()

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise IndexStoreError(f"writer for {self.root} is not open; use `with store.writer() as w:`")
        return self._conn

    def _recover(self) -> None:
        """Bring the derived index up to the database's generation after an interrupted commit."""
        conn = self._db()
        latest = database_generation(conn)
        current = read_current(self.root)
        snapshot = self.store._snapshot
        healthy = current == latest and manifest_path(self.root, latest).is_file()
        if healthy and snapshot is not None and snapshot.generation == latest:
            remove_stale(self.root, keep={latest})
            return
        try:
            if current is None or current > latest:
                raise FileNotFoundError
            cache = {v.segment.id: v.segment for v in snapshot.views} if snapshot is not None else {}
            snapshot = load_snapshot(self.root, current, cache, conn)
            if snapshot.generation < latest:
                snapshot = advance(self.root, conn, snapshot, latest, self.store.dim)
        except Exception:  # noqa: BLE001 - rebuild whatever is missing or inconsistent from the database
            snapshot = advance(self.root, conn, empty_snapshot(conn), latest, self.store.dim)
        if not healthy:
            publish(self.root, snapshot, self.store.embedder_name, self.store.dim)
        self.store._use(snapshot)
        remove_stale(self.root, keep={latest})

    def _update_analyzer(self) -> None:
        """Re-tokenise an index written by an older analyzer before anything is added to it, so
        every segment's postings hold the tokens queries are made of (indexing/store/reanalyse.py)."""
        updated = reanalyse.bring_up_to_date(self.root, self._db(), self.store._snapshot)
        if updated is None:
            return
        publish(self.root, updated, self.store.embedder_name, self.store.dim)
        self.store._use(updated)
        remove_stale(self.root, keep={updated.generation, updated.generation - 1})
        release_memory()

    # ---- what is already there -------------------------------------------------------------------

    def known_files(self) -> dict[str, FileState]:
        """Every file name the index knows, with the content hash it had (committed state)."""
        rows = self._db().execute("SELECT path, document_id, content_hash, size, mtime FROM files")
        return {r[0]: FileState(*r) for r in rows}

    def has_document(self, document_id: str) -> bool:
        if document_id in self._adds:
            return True
        if document_id in self._removals:
            return False
        row = self._db().execute(
            "SELECT 1 FROM documents WHERE document_id = ? AND gen_removed IS NULL", (document_id,)
        ).fetchone()
        return row is not None

    def document_path(self, document_id: str) -> str | None:
        """The path of the live (or staged) record of this document: the name its metadata came from."""
        if document_id in self._adds:
            return self._adds[document_id].document.path
        if document_id in self._removals:
            return None
        row = self._db().execute(
            "SELECT path FROM documents WHERE document_id = ? AND gen_removed IS NULL", (document_id,)
        ).fetchone()
        return row[0] if row else None

    # ---- staging ---------------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        return len(self._adds) + len(self._links) + len(self._removals) + len(self._forget)

    def add_document(
        self,
        document: Document,
        chunks: list[Chunk],
        vectors: np.ndarray,
        files: list[FileState] = (),
        lexical: list[list[str]] | None = None,
    ) -> None:
        """Stage a document (replacing any live one with the same id) and the files holding it."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape != (len(chunks), self.store.dim):
            raise IndexStoreError(
                f"{document.path}: {len(chunks)} chunks need vectors of shape ({len(chunks)}, {self.store.dim}), "
                f"got {tuple(vectors.shape)}"
            )
        if not np.isfinite(vectors).all():
            raise IndexStoreError(f"{document.path}: embedding produced non-finite values")
        for chunk in chunks:
            if chunk.document_id != document.document_id:
                raise IndexStoreError(f"chunk {chunk.chunk_id} does not belong to document {document.document_id}")
        if lexical is None:
            lexical = [lexical_tokens(c.text) for c in chunks]
        self._removals.discard(document.document_id)
        self._adds[document.document_id] = _StagedDocument(document, list(chunks), vectors, lexical)
        for state in files:
            self.link_file(state)

    def link_file(self, state: FileState) -> None:
        """Record that `state.path` holds the content of document `state.document_id`."""
        self._forget.discard(state.path)
        self._links[state.path] = state

    def remove_document(self, document_id: str) -> None:
        self._adds.pop(document_id, None)
        for path in [p for p, s in self._links.items() if s.document_id == document_id]:
            del self._links[path]
        self._removals.add(document_id)

    def prune(self) -> list[str]:
        """Stage the removal of documents none of whose files exist any more."""
        by_document: dict[str, list[str]] = {}
        for path, state in self.known_files().items():
            by_document.setdefault(state.document_id, []).append(path)
        removed = []
        for document_id, paths in sorted(by_document.items()):
            gone = [p for p in paths if not Path(source_file(p)).exists()]
            self._forget.update(gone)
            if len(gone) == len(paths) and document_id not in self._adds:
                self.remove_document(document_id)
                removed.append(document_id)
        return removed

    def discard(self) -> None:
        self._adds.clear()
        self._links.clear()
        self._removals.clear()
        self._forget.clear()

    # ---- commit ------------------------------------------------------------------------------------

    def commit(self) -> int:
        """Make everything staged durable as one new generation; returns its number."""
        conn = self._db()
        if not self.pending:
            return database_generation(conn)
        conn.execute("BEGIN IMMEDIATE")
        try:
            generation = database_generation(conn) + 1
            self._apply(conn, generation)
            conn.execute("UPDATE manifest SET value = ? WHERE key = 'generation'", (str(generation),))
            conn.execute("INSERT OR REPLACE INTO commits VALUES (?, ?)", (generation, time.time()))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self.discard()
        previous = self.store._snapshot
        try:
            snapshot = advance(self.root, conn, previous, generation, self.store.dim)
        except ValueError:  # the derived index disagreed with the database: rebuild it whole
            snapshot = advance(self.root, conn, empty_snapshot(conn), generation, self.store.dim)
        publish(self.root, snapshot, self.store.embedder_name, self.store.dim)
        self.store._use(snapshot)
        self._collect_garbage(conn, keep={generation, previous.generation})
        return generation

    def _mark_removed(self, conn: sqlite3.Connection, document_id: str, generation: int) -> None:
        args = {"doc": document_id, "gen": generation}
        conn.execute("UPDATE documents SET gen_removed = :gen WHERE document_id = :doc AND gen_removed IS NULL", args)
        conn.execute("UPDATE chunks SET gen_removed = :gen WHERE document_id = :doc AND gen_removed IS NULL", args)

    def _apply(self, conn: sqlite3.Connection, generation: int) -> None:
        now = datetime.now().astimezone().isoformat(timespec="seconds")
        for document_id in self._removals:
            self._mark_removed(conn, document_id, generation)
            conn.execute("DELETE FROM files WHERE document_id = ?", (document_id,))
        for path in self._forget:
            conn.execute("DELETE FROM files WHERE path = ?", (path,))
        for document_id, staged in self._adds.items():
            self._mark_removed(conn, document_id, generation)  # a replacement (e.g. new sidecar)
            self._insert(conn, staged, generation, now)
        orphans: set[str] = set()
        for state in self._links.values():
            old = conn.execute("SELECT document_id FROM files WHERE path = ?", (state.path,)).fetchone()
            if old and old[0] != state.document_id:
                orphans.add(old[0])
            conn.execute(
                "INSERT OR REPLACE INTO files (path, document_id, content_hash, size, mtime) VALUES (?, ?, ?, ?, ?)",
                (state.path, state.document_id, state.content_hash, state.size, state.mtime),
            )
        # A changed file now holds new content; its old document goes unless another file holds it.
        for document_id in orphans - set(self._adds):
            still_held = conn.execute("SELECT 1 FROM files WHERE document_id = ?", (document_id,)).fetchone()
            if not still_held:
                self._mark_removed(conn, document_id, generation)

    def _insert(self, conn: sqlite3.Connection, staged: _StagedDocument, generation: int, now: str) -> None:
        doc = staged.document
        grade = doc.grade
        source_type = grade.source_type.value if grade else (doc.meta.source_type.value if doc.meta.source_type else None)
        level = int(grade.level) if grade else doc.meta.evidence_level
        size = 0
        try:
            size = Path(doc.path).stat().st_size
        except OSError:
            pass
        conn.execute(
            "INSERT INTO documents (document_id, path, title, format, meta_json, grade_json, source_type, level, "
            "year, n_pages, n_chunks, file_size, indexed_at, gen_added) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                doc.document_id,
                doc.path,
                doc.title,
                doc.format,
                doc.meta.model_dump_json(),
                grade.model_dump_json() if grade else None,
                source_type,
                level,
                doc.meta.year,
                len(doc.pages),
                len(staged.chunks),
                size,
                now,
                generation,
            ),
        )
        conn.executemany(
            "INSERT INTO chunks (chunk_id, document_id, ordinal, text, page_start, page_end, heading_json, "
            "n_tokens, stated_json, lexical, vector, gen_added) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    c.chunk_id,
                    c.document_id,
                    c.ordinal,
                    c.text,
                    c.page_start,
                    c.page_end,
                    json.dumps(c.heading_path, ensure_ascii=False),
                    c.n_tokens,
                    _stated_json(c.stated_grades),
                    TOKEN_SEP.join(tokens),
                    vector.tobytes(),
                    generation,
                )
                for c, tokens, vector in zip(staged.chunks, staged.lexical, staged.vectors)
            ],
        )

    def _collect_garbage(self, conn: sqlite3.Connection, keep: set[int]) -> None:
        """Drop removed rows once no reader can reasonably still be pinned before their removal.

        A row removed at generation R is still visible to a reader pinned at R-1, so it is kept
        until R has been committed for `retain_removed_s` seconds: a reader that refreshes at
        least that often never sees a row vanish under it.
        """
        cutoff = time.time() - self.store.retain_removed_s
        expired = "SELECT generation FROM commits WHERE committed_at <= :cutoff"
        conn.execute("BEGIN IMMEDIATE")
        try:
            for table in ("chunks", "documents"):
                conn.execute(
                    f"DELETE FROM {table} WHERE gen_removed IS NOT NULL AND gen_removed IN ({expired})",
                    {"cutoff": cutoff},
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        remove_stale(self.root, keep=keep)

    # ---- merging (never inside a commit) ------------------------------------------------------------

    def maybe_merge(self) -> int:
        """Size-tiered merging: any run of MERGE_FACTOR consecutive segments of one size tier (by
        powers of MERGE_FACTOR), and any segment mostly deleted, is rewritten as one segment.
        Keeps the number of segments logarithmic in the index size. Returns merges done."""
        done = 0
        while True:
            run = self._plan(self.store._snapshot.views)
            if run is None:
                return done
            self._merge(*run, retrain=False)
            done += 1

    def optimize(self) -> None:
        """Merge every segment into one without deleted rows; (re)train the compressed codes when
        the index is large enough for them."""
        views = self.store._snapshot.views
        if views:
            self._merge(0, len(views), retrain=True)

    @staticmethod
    def _plan(views: list[SegmentView]) -> tuple[int, int] | None:
        for i, view in enumerate(views):
            if view.n_live < COMPACT_DELETED * len(view.segment):
                return i, i + 1
        tiers = [int(math.log(max(v.n_live, 1), MERGE_FACTOR)) for v in views]
        start = 0
        for i in range(1, len(views) + 1):
            if i == len(views) or tiers[i] != tiers[start]:
                if i - start >= MERGE_FACTOR:
                    return start, start + MERGE_FACTOR
                start = i
        return None

    def _merge(self, start: int, stop: int, retrain: bool) -> None:
        snapshot = self.store._snapshot
        options = self.store.dense_options
        codec_id = snapshot.codec_id
        codec = dense.read_index(codec_path(self.root, codec_id)) if codec_id else None
        # A codec of another kind than the options ask for (an index written before fast-scan
        # codes existed) is replaced: the merged rows are encoded with the new one.
        stale = codec is not None and dense.codec_label(codec) != options.label(self.store.dim)
        if options.choose(snapshot.n_live) == "ivf" and (retrain or codec is None or stale):
            codec_id = self._train_codec(snapshot)
            codec = dense.read_index(codec_path(self.root, codec_id))
        elif options.choose(snapshot.n_live) == "flat" and retrain:
            codec_id, codec = None, None
        parts = [(v.segment, v.alive) for v in snapshot.views[start:stop]]
        written = segments.merge(self.root, parts, segments.new_id(snapshot.generation), codec_id, codec, options)
        views = snapshot.views[:start] + ([SegmentView(written)] if len(written) else []) + snapshot.views[stop:]
        updated = Snapshot(snapshot.generation, views, codec_id, snapshot.analyzer)
        publish(self.root, updated, self.store.embedder_name, self.store.dim)
        self.store._use(updated)
        remove_stale(self.root, keep={snapshot.generation, snapshot.generation - 1})
        release_memory()

    def _train_codec(self, snapshot: Snapshot) -> str:
        """Train the IVF codec on a uniform sample of live vectors (read from the segment files,
        `segments.read_rows`) and store it; returns its id."""
        options = self.store.dense_options
        want = min(snapshot.n_live, options.nlist * dense.TRAIN_PER_CELL)
        rng = np.random.default_rng(snapshot.generation)
        picks = np.sort(rng.choice(snapshot.n_live, size=want, replace=False))
        sample, base = [], 0
        for view in snapshot.views:
            live = np.flatnonzero(view.alive) if view.alive is not None else np.arange(len(view.segment))
            mine = picks[(picks >= base) & (picks < base + len(live))] - base
            sample.append(segments.read_rows(self.root, view.segment, live[mine]))
            base += len(live)
        codec = dense.train_codec(np.concatenate(sample), options)
        codec_id = f"{snapshot.generation:010d}-{uuid.uuid4().hex[:10]}"
        path = codec_path(self.root, codec_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".tmp-{path.name}")
        dense.write_index(codec, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
        return codec_id
