"""Derived artefacts (FAISS + BM25) for one committed generation, built from SQLite.

A generation directory is written under a temporary name, fsync'd, renamed into place, and only
then named by the CURRENT pointer. Anything in it can be rebuilt from the database, so a crash
while writing one costs time, never data.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from indexing.store import dense
from indexing.store.bm25 import LexicalIndex
from indexing.store.database import TOKEN_SEP, visible
from indexing.store.files import fsync_dir, fsync_tree, write_atomic

GENERATIONS = "generations"


@dataclass
class Snapshot:
    """Everything a query needs, pinned to one generation; replaced whole, never mutated."""

    generation: int
    rows: np.ndarray  # int64 chunk row ids, position -> row
    chunk_ids: list[str]
    dense_index: object
    lexical: LexicalIndex
    position_of: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.position_of:
            self.position_of = {cid: i for i, cid in enumerate(self.chunk_ids)}

    @property
    def kind(self) -> str:
        return "empty" if not len(self.rows) else dense.index_kind(self.dense_index)


def generation_dir(root: Path, generation: int) -> Path:
    return root / GENERATIONS / f"{generation:010d}"


def visible_rows(conn: sqlite3.Connection, generation: int) -> tuple[np.ndarray, list[str]]:
    cur = conn.execute(f"SELECT row, chunk_id FROM chunks WHERE {visible()} ORDER BY row", {"gen": generation})
    pairs = cur.fetchall()
    rows = np.fromiter((r for r, _ in pairs), dtype=np.int64, count=len(pairs))
    return rows, [c for _, c in pairs]


def _vectors(conn: sqlite3.Connection, generation: int, dim: int, after_row: int = -1) -> np.ndarray:
    cur = conn.execute(
        f"SELECT vector FROM chunks WHERE {visible()} AND row > :after ORDER BY row",
        {"gen": generation, "after": after_row},
    )
    blobs = [b for (b,) in cur.fetchall()]
    if not blobs:
        return np.zeros((0, dim), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), dim)


def _tokens(conn: sqlite3.Connection, generation: int) -> list[list[str]]:
    cur = conn.execute(f"SELECT lexical FROM chunks WHERE {visible()} ORDER BY row", {"gen": generation})
    return [text.split(TOKEN_SEP) if text else [] for (text,) in cur.fetchall()]


def build_snapshot(
    conn: sqlite3.Connection,
    generation: int,
    dim: int,
    options: dense.DenseOptions,
    previous: Snapshot | None = None,
) -> Snapshot:
    """The snapshot of `generation`, extending `previous` when it only gained rows."""
    conn.execute("BEGIN")  # one read transaction: rows, vectors and tokens agree
    try:
        rows, chunk_ids = visible_rows(conn, generation)
        kind = options.choose(len(rows))
        reuse = (
            previous is not None
            and len(previous.rows) > 0
            and len(previous.rows) <= len(rows)
            and previous.kind == kind
            and np.array_equal(previous.rows, rows[: len(previous.rows)])
        )
        if reuse:
            import faiss

            index = faiss.clone_index(previous.dense_index)
            added = _vectors(conn, generation, dim, after_row=int(previous.rows[-1]))
            if len(added):
                index.add(added)
        else:
            index = dense.build_index(_vectors(conn, generation, dim), options)
        if index.ntotal != len(rows):
            raise RuntimeError(f"dense index holds {index.ntotal} vectors for {len(rows)} rows")
        lexical = LexicalIndex.build(_tokens(conn, generation))
    finally:
        conn.execute("COMMIT")
    if hasattr(index, "hnsw"):
        index.hnsw.efSearch = options.ef_search
    return Snapshot(generation, rows, chunk_ids, index, lexical)


def publish(root: Path, snapshot: Snapshot, embedder_name: str, dim: int) -> None:
    """Write the snapshot's files durably, then point CURRENT at them."""
    final = generation_dir(root, snapshot.generation)
    parent = final.parent
    parent.mkdir(parents=True, exist_ok=True)
    if final.exists() and not _matches(final, snapshot.rows):
        shutil.rmtree(final)
    if not final.exists():
        tmp = parent / f".tmp-{snapshot.generation:010d}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        np.save(tmp / "rows.npy", snapshot.rows, allow_pickle=False)
        dense.write_index(snapshot.dense_index, tmp / "dense.faiss")
        snapshot.lexical.save(tmp / "lexical")
        meta = {
            "generation": snapshot.generation,
            "rows": int(len(snapshot.rows)),
            "kind": snapshot.kind,
            "embedder": embedder_name,
            "dim": dim,
        }
        (tmp / "generation.json").write_text(json.dumps(meta), encoding="utf-8")
        fsync_tree(tmp)
        tmp.rename(final)
        fsync_dir(parent)
    write_atomic(root / "CURRENT", f"{snapshot.generation}\n")


def _matches(directory: Path, rows: np.ndarray) -> bool:
    try:
        return np.array_equal(np.load(directory / "rows.npy", allow_pickle=False), rows)
    except (OSError, ValueError):
        return False


def load_snapshot(root: Path, conn: sqlite3.Connection, generation: int, ef_search: int) -> Snapshot:
    """Load a published generation and check it against the database; raises if it disagrees."""
    directory = generation_dir(root, generation)
    meta = json.loads((directory / "generation.json").read_text(encoding="utf-8"))
    if int(meta["generation"]) != generation:
        raise ValueError(f"{directory} describes generation {meta['generation']}")
    stored_rows = np.load(directory / "rows.npy", allow_pickle=False)
    conn.execute("BEGIN")
    try:
        rows, chunk_ids = visible_rows(conn, generation)
    finally:
        conn.execute("COMMIT")
    if not np.array_equal(stored_rows, rows):
        raise ValueError(f"{directory} does not match the database rows of generation {generation}")
    index = dense.read_index(directory / "dense.faiss", ef_search=ef_search)
    if index.ntotal != len(rows):
        raise ValueError(f"{directory}/dense.faiss holds {index.ntotal} vectors for {len(rows)} rows")
    lexical = LexicalIndex.load(directory / "lexical", len(rows))
    return Snapshot(generation, rows, chunk_ids, index, lexical)


def remove_stale(root: Path, keep: set[int]) -> None:
    """Delete generation directories (and leftovers of interrupted writes) not in `keep`."""
    parent = root / GENERATIONS
    if not parent.is_dir():
        return
    for entry in parent.iterdir():
        name = entry.name
        stale = name.startswith(".tmp-") or (name.isdigit() and int(name) not in keep)
        if stale:
            shutil.rmtree(entry, ignore_errors=True)
