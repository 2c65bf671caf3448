"""`IndexStore`: the read side of one index directory, pinned to a committed generation.

Layout of an index directory:
    index.sqlite (+ -wal, -shm)   documents, chunks (text, labels, tokens, vectors), files, manifest
    segments/<id>/                immutable segments: rows, vectors, postings, IVF codes, deletions
                                  (indexing/store/segments.py)
    generations/<gen>.json        the segments (and deletion files) live at a generation
    codecs/<id>.faiss             the trained IVF codec, once the index is large
    CURRENT                       the published generation number
    writer.lock                   flock held by the one writer
SQLite is the source of truth; segments and manifests are derived and rebuildable.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import weakref
from datetime import datetime
from pathlib import Path
from typing import Iterable

import numpy as np
from pydantic import TypeAdapter

from indexing.labels import DocumentGrade, SourceType, StatedGrade
from indexing.lexical import ANALYZER_VERSION, lexical_tokens
from indexing.schema import Chunk, SourceMeta
from indexing.store import dense, reanalyse
from indexing.store.database import (
    DB_NAME,
    SCHEMA_VERSION,
    connect,
    create_schema,
    database_generation,
    manifest,
    stored_analyzer_version,
    visible,
)
from indexing.store.files import WriterLock, read_current
from indexing.store.bm25 import bm25_top, document_frequency
from indexing.store.generations import Snapshot, SegmentView, advance, empty_snapshot, load_snapshot
from indexing.store.records import (
    DocumentRecord,
    EmbedderMismatchError,
    IndexNotFoundError,
    IndexLockedError,
    IndexStats,
    IndexStoreError,
)

log = logging.getLogger(__name__)

_STATED = TypeAdapter(list[StatedGrade])
_CHUNK_COLUMNS = "chunk_id, document_id, ordinal, text, page_start, page_end, heading_json, n_tokens, stated_json"
_DOC_COLUMNS = (
    "document_id, path, title, format, meta_json, grade_json, n_pages, n_chunks, indexed_at, file_size"
)


class _Connection:
    """Owns one thread's SQLite connection (weak-referenceable, unlike the connection itself)."""

    __slots__ = ("conn", "__weakref__")

    def __init__(self, conn):
        self.conn = conn

    def __del__(self):
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown or another thread's connection
            pass


def _chunk_from_row(row: tuple) -> Chunk:
    chunk_id, document_id, ordinal, text, page_start, page_end, heading_json, n_tokens, stated_json = row
    return Chunk(
        chunk_id=chunk_id,
        document_id=document_id,
        ordinal=ordinal,
        text=text,
        page_start=page_start,
        page_end=page_end,
        heading_path=json.loads(heading_json),
        n_tokens=n_tokens,
        stated_grades=_STATED.validate_json(stated_json),
    )


class IndexStore:
    """Read an index from any number of threads; write through `writer()` (one at a time)."""

    def __init__(self, root: Path, embedder_name: str, dim: int, dense_options: dense.DenseOptions):
        self.path = root
        self.embedder_name = embedder_name
        self.dim = dim
        self.dense_options = dense_options
        self._local = threading.local()
        self._connections: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._connections_lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._writer_active = threading.Lock()
        # Removed rows stay this long so readers pinned to an older generation stay whole.
        self.retain_removed_s = 600.0

    # ---- opening ---------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | Path,
        create: bool = False,
        embedder_name: str | None = None,
        dim: int | None = None,
        dense_options: dense.DenseOptions | None = None,
    ) -> "IndexStore":
        """Open (or with create=True, make) the index at `path`.

        Naming an embedder checks it against the one the index was built with and refuses a
        mismatch: vectors from two models are not comparable.
        """
        root = Path(path).expanduser()
        options = dense_options or dense.DenseOptions()
        if not (root / DB_NAME).is_file():
            if not create:
                raise IndexNotFoundError(f"no index at {root}; build one with `m1e index`")
            if not embedder_name or not dim:
                raise IndexStoreError(f"creating the index at {root} needs the embedder's name and dimension")
            cls._initialise(root, embedder_name, int(dim))
        conn = connect(root)
        try:
            facts = manifest(conn)
        finally:
            conn.close()
        if not facts.get("embedder_name"):
            if not create or not embedder_name or not dim:
                raise IndexStoreError(f"{root / DB_NAME} is not an m1e index (no manifest)")
            cls._initialise(root, embedder_name, int(dim))
            facts = {"embedder_name": embedder_name, "dim": str(dim), "schema_version": str(SCHEMA_VERSION)}
        if int(facts.get("schema_version", "0")) != SCHEMA_VERSION:
            raise IndexStoreError(
                f"index at {root} has schema version {facts.get('schema_version')}, this build reads {SCHEMA_VERSION}"
            )
        built_name, built_dim = facts["embedder_name"], int(facts["dim"])
        if (embedder_name and embedder_name != built_name) or (dim and int(dim) != built_dim):
            asked = f"{embedder_name or built_name} ({dim or '?'}-d)"
            raise EmbedderMismatchError(
                f"index at {root} was built with {built_name} ({built_dim}-d); refusing to mix with {asked}"
            )
        store = cls(root, built_name, built_dim, options)
        store._snapshot = store._load_published()
        if reanalyse.needs_update(stored_analyzer_version(facts), store._snapshot):
            store._update_analyzer()
        return store

    def _update_analyzer(self) -> None:
        """An index written by an older analyzer is brought up to date the first time it is opened
        (its writer does that on entry; indexing/store/reanalyse.py). If another process is writing
        or the directory is read-only, searches go on over the old postings, with a warning."""
        try:
            with self.writer():
                pass
        except (IndexLockedError, OSError, sqlite3.Error) as exc:
            log.warning("index at %s was written by an older text analyzer and could not be updated now (%s); "
                        "words spelt differently in the question and the index may not meet until "
                        "`m1e index --optimize` runs", self.path, exc)

    @staticmethod
    def _initialise(root: Path, embedder_name: str, dim: int) -> None:
        root.mkdir(parents=True, exist_ok=True)
        lock = WriterLock(root)
        lock.acquire()
        try:
            conn = connect(root)
            try:
                create_schema(conn)
                conn.execute("BEGIN IMMEDIATE")
                if not manifest(conn).get("embedder_name"):
                    facts = {
                        "schema_version": str(SCHEMA_VERSION),
                        "embedder_name": embedder_name,
                        "dim": str(dim),
                        "analyzer_version": str(ANALYZER_VERSION),
                        "generation": "0",
                        "created_at": datetime.now().astimezone().isoformat(timespec="seconds"),
                    }
                    conn.executemany("INSERT OR REPLACE INTO manifest VALUES (?, ?)", facts.items())
                conn.execute("COMMIT")
            finally:
                conn.close()
        finally:
            lock.release()

    def _conn(self):
        """This thread's read connection; it closes by itself when the thread ends."""
        holder = getattr(self._local, "holder", None)
        if holder is None:
            holder = _Connection(connect(self.path, readonly=True))
            self._local.holder = holder
            with self._connections_lock:
                self._connections.add(holder)
        return holder.conn

    def _load_published(self) -> Snapshot:
        """The generation CURRENT names, loaded from its files or, failing that, rebuilt in memory.

        Segments already loaded are reused (they never change), so a refresh after a commit
        loads only the new segment and deletion files. The database check (live row count)
        runs when the store is opened; later refreshes trust the atomically written manifests.
        """
        conn = self._conn()
        previous = self._snapshot
        cache = {v.segment.id: v.segment for v in previous.views} if previous is not None else {}
        for _ in range(5):
            current = read_current(self.path)
            latest = database_generation(conn)
            target = latest if current is None or current > latest else current
            try:
                return load_snapshot(self.path, target, cache, conn if previous is None else None)
            except Exception:  # noqa: BLE001 - derived files are rebuildable; any failure means retry or rebuild
                if read_current(self.path) != current:
                    continue  # a writer published meanwhile; load the newer one
        return advance(self.path, conn, empty_snapshot(conn), target, self.dim, write=False)

    def refresh(self) -> bool:
        """Pick up a newer committed generation; True if the view changed."""
        with self._refresh_lock:
            current = read_current(self.path)
            latest = database_generation(self._conn())
            target = latest if current is None or current > latest else current
            if self._snapshot is not None and self._snapshot.generation == target:
                return False
            self._snapshot = self._load_published()
            return True

    def _use(self, snapshot: Snapshot) -> None:
        """Adopt a snapshot the writer just published (it is at least as new as ours)."""
        with self._refresh_lock:
            self._snapshot = snapshot

    @property
    def generation(self) -> int:
        return self._snap().generation

    def _snap(self) -> Snapshot:
        snapshot = self._snapshot
        if snapshot is None:
            raise IndexStoreError(f"index at {self.path} is closed")
        return snapshot

    def close(self) -> None:
        with self._connections_lock:
            for holder in list(self._connections):
                try:
                    holder.conn.close()
                except Exception:  # noqa: BLE001 - closing from another thread may refuse; harmless
                    pass
            self._connections = weakref.WeakSet()
        self._local = threading.local()
        self._snapshot = None

    def __enter__(self) -> "IndexStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- documents and chunks ----------------------------------------------------------------

    def _document_records(self, where: str, params: dict) -> list[DocumentRecord]:
        snap = self._snap()
        conn = self._conn()
        rows = conn.execute(
            f"SELECT {_DOC_COLUMNS} FROM documents WHERE {visible()} {where} ORDER BY title, document_id",
            {"gen": snap.generation, **params},
        ).fetchall()
        paths: dict[str, list[str]] = {}
        if rows:
            for path, document_id in conn.execute("SELECT path, document_id FROM files ORDER BY path"):
                paths.setdefault(document_id, []).append(path)
        records = []
        for document_id, path, title, fmt, meta_json, grade_json, n_pages, n_chunks, indexed_at, size in rows:
            records.append(
                DocumentRecord(
                    document_id=document_id,
                    path=path,
                    title=title,
                    format=fmt,
                    meta=SourceMeta.model_validate_json(meta_json),
                    grade=DocumentGrade.model_validate_json(grade_json) if grade_json else None,
                    n_pages=n_pages,
                    n_chunks=n_chunks,
                    indexed_at=datetime.fromisoformat(indexed_at),
                    file_size=size,
                    paths=paths.get(document_id, []),
                )
            )
        return records

    def documents(self) -> list[DocumentRecord]:
        return self._document_records("", {})

    def document(self, document_id: str) -> DocumentRecord | None:
        found = self._document_records("AND document_id = :doc", {"doc": document_id})
        return found[0] if found else None

    def chunks(self, chunk_ids: Iterable[str]) -> list[Chunk]:
        """The chunks with these ids, in the order asked; ids not in this generation are skipped."""
        ids = list(chunk_ids)
        if not ids:
            return []
        snap = self._snap()
        conn = self._conn()
        found: dict[str, Chunk] = {}
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            names = {f"c{i}": cid for i, cid in enumerate(part)}
            placeholders = ", ".join(f":{n}" for n in names)
            for row in conn.execute(
                f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE {visible()} AND chunk_id IN ({placeholders})",
                {"gen": snap.generation, **names},
            ):
                found[row[0]] = _chunk_from_row(row)
        return [found[cid] for cid in ids if cid in found]

    def document_chunks(self, document_id: str) -> list[Chunk]:
        snap = self._snap()
        rows = self._conn().execute(
            f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE {visible()} AND document_id = :doc ORDER BY ordinal",
            {"gen": snap.generation, "doc": document_id},
        )
        return [_chunk_from_row(row) for row in rows]

    def chunk_ids_where(
        self,
        source_types: Iterable[SourceType | str] | None = None,
        year_min: int | None = None,
        year_max: int | None = None,
        max_level: int | None = None,
        document_ids: Iterable[str] | None = None,
    ) -> set[str]:
        """Chunk ids whose document passes every given filter.

        A document with no known year (or no grade) fails a year (or level) filter: it cannot be
        shown to satisfy it.
        """
        snap = self._snap()
        clauses: list[str] = []
        params: dict = {"gen": snap.generation}

        def in_list(column: str, values: Iterable, prefix: str) -> None:
            names = {f"{prefix}{i}": v for i, v in enumerate(values)}
            params.update(names)
            clauses.append(f"{column} IN ({', '.join(':' + n for n in names)})" if names else "0")

        if source_types is not None:
            in_list("d.source_type", [SourceType(s).value for s in source_types], "st")
        if year_min is not None:
            clauses.append("d.year IS NOT NULL AND d.year >= :ymin")
            params["ymin"] = int(year_min)
        if year_max is not None:
            clauses.append("d.year IS NOT NULL AND d.year <= :ymax")
            params["ymax"] = int(year_max)
        if max_level is not None:
            clauses.append("d.level IS NOT NULL AND d.level <= :lmax")
            params["lmax"] = int(max_level)
        if document_ids is not None:
            in_list("d.document_id", list(document_ids), "doc")
        where = "".join(f" AND {c}" for c in clauses)
        rows = self._conn().execute(
            f"SELECT c.chunk_id FROM chunks c JOIN documents d ON d.document_id = c.document_id "
            f"AND {visible('d')} WHERE {visible('c')}{where}",
            params,
        )
        return {cid for (cid,) in rows}

    # ---- search ------------------------------------------------------------------------------

    @staticmethod
    def _positions(view: SegmentView, chunk_filter: set[str] | None) -> np.ndarray | None:
        """Local positions of `chunk_filter` in one segment (None: no filter)."""
        if chunk_filter is None:
            return None
        where = view.segment.position_of
        return np.fromiter(sorted(where[c] for c in chunk_filter if c in where), dtype=np.int64)

    @staticmethod
    def _best(found: list[tuple[float, int, str]], k: int) -> list[tuple[str, float]]:
        """Best first; equal scores in row order, as one index over all rows would give them."""
        found.sort(key=lambda hit: (-hit[0], hit[1]))
        return [(cid, score) for score, _, cid in found[:k]]

    def live_vectors(self) -> tuple[list[str], np.ndarray]:
        """(chunk ids, float32 vectors) of every live row, in row order: for checks and exports
        (indexing/store/compare.py), not for search."""
        snap = self._snap()
        ids: list[str] = []
        parts: list[np.ndarray] = []
        for view in snap.views:
            segment = view.segment
            keep = np.ones(len(segment.chunk_ids), dtype=bool) if view.alive is None else np.asarray(view.alive)
            ids += [c for c, live in zip(segment.chunk_ids, keep) if live]
            parts.append(np.asarray(segment.vectors, dtype=np.float32)[keep])
        vectors = np.concatenate(parts) if parts else np.zeros((0, self.dim), dtype=np.float32)
        return ids, vectors

    def search_dense(
        self, query_vector: np.ndarray, k: int, chunk_filter: set[str] | None = None
    ) -> list[tuple[str, float]]:
        """(chunk_id, cosine) best first; exact cosines (compressed segments are re-ranked)."""
        snap = self._snap()
        query = np.asarray(query_vector, dtype=np.float32).reshape(-1)
        if query.shape[0] != self.dim:
            raise IndexStoreError(f"query vector has {query.shape[0]} dimensions; index at {self.path} has {self.dim}")
        if k <= 0:
            return []
        found: list[tuple[float, int, str]] = []
        for view in snap.views:
            segment, positions = view.segment, self._positions(view, chunk_filter)
            if positions is not None and not len(positions):
                continue
            exact = segment.ivf is None or (positions is not None and len(positions) <= dense.EXACT_FILTER_LIMIT)
            if exact:
                local, scores = dense.exact_top(segment.vectors, query, k, positions, view.alive)
            else:
                local, scores = dense.ivf_top(segment.ivf, segment.vectors, segment.rows, query, k, positions,
                                              view.alive, self.dense_options)
            found += [(float(s), int(segment.rows[p]), segment.chunk_ids[p]) for p, s in zip(local, scores)]
        return self._best(found, k)

    def document_frequency(self, query: str) -> int:
        """Live passages holding any token of ``query``, from the segments' global statistics."""
        snap = self._snap()
        return document_frequency([v.lexical() for v in snap.views], lexical_tokens(query))

    def search_lexical(self, query: str, k: int, chunk_filter: set[str] | None = None) -> list[tuple[str, float]]:
        """(chunk_id, BM25 score) best first; only chunks sharing a term with the query.

        Scores use the statistics of every live segment together: the same as one index, and
        `bm25_top`'s pruning returns exactly the exhaustive top k."""
        snap = self._snap()
        if k <= 0:
            return []
        views = snap.views
        allowed = [self._positions(v, chunk_filter) for v in views] if chunk_filter is not None else None
        per_view = bm25_top([v.lexical() for v in views], lexical_tokens(query), k, allowed)
        found: list[tuple[float, int, str]] = []
        for view, hits in zip(views, per_view):
            if hits is None:
                continue
            candidates, values = dense.top_k(*hits, k)
            segment = view.segment
            found += [(float(v), int(segment.rows[p]), segment.chunk_ids[p]) for p, v in zip(candidates, values)]
        return self._best(found, k)

    # ---- facts ---------------------------------------------------------------------------------

    def stats(self) -> IndexStats:
        snap = self._snap()
        documents, pages = self._conn().execute(
            f"SELECT COUNT(*), COALESCE(SUM(n_pages), 0) FROM documents WHERE {visible()}", {"gen": snap.generation}
        ).fetchone()
        size = 0
        for dirpath, _dirs, files in os.walk(self.path):
            for name in files:
                try:
                    size += (Path(dirpath) / name).stat().st_size
                except OSError:
                    pass
        return IndexStats(
            path=str(self.path),
            generation=snap.generation,
            documents=documents,
            chunks=snap.n_live,
            pages=pages,
            embedder_name=self.embedder_name,
            dim=self.dim,
            dense_kind=snap.kind,
            size_bytes=size,
            segments=len(snap.views),
        )

    # ---- writing ---------------------------------------------------------------------------------

    def writer(self):
        """The one writer: `with store.writer() as w: ...; w.commit()`; raises IndexLockedError if taken."""
        from indexing.store.writer import IndexWriter

        return IndexWriter(self)

    def remove_document(self, document_id: str) -> bool:
        """Remove a document and its chunks in one commit; False if it is not in the index."""
        with self.writer() as w:
            if not w.has_document(document_id):
                return False
            w.remove_document(document_id)
            w.commit()
        return True

    def optimize(self) -> None:
        """Merge every segment into one, dropping deleted rows; retrain the compressed codes."""
        with self.writer() as w:
            w.optimize()

    def prune(self) -> list[str]:
        """Remove documents whose every file has vanished; returns their ids."""
        with self.writer() as w:
            removed = w.prune()
            w.commit()
        return removed
