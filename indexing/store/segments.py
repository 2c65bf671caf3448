"""Immutable segments: the derived index of a set of rows, written once and never changed.

A commit writes one segment holding only the rows it added (their vectors, lexical postings,
chunk ids); deletions are recorded beside it as a new file of deleted positions
(`del-<generation>.npy`), never by rewriting it. Merges write a new segment from the live rows
of consecutive segments, so row order (the database's row ids) stays ascending inside every
segment and across the list. A segment directory is written under a temporary name, fsync'd and
renamed, so it is there whole or not at all; anything in it can be rebuilt from SQLite.

    segments/<id>/segment.json   id, rows, dim, the codec of its IVF index if it has one
                  rows.npy       int64 database row ids, ascending
                  chunk_ids.json chunk id of each row
                  vectors.npy    float32 [n, dim], memory-mapped by readers
                  lexical/       postings (indexing/store/bm25.py)
                  dense.ivf      compressed codes (large segments only)
                  del-<gen>.npy  positions deleted as of generation <gen>
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from indexing.store import dense
from indexing.store.bm25 import Postings
from indexing.store.files import fsync_dir, fsync_tree

SEGMENTS = "segments"


@dataclass
class Segment:
    id: str
    rows: np.ndarray
    chunk_ids: list[str]
    vectors: np.ndarray
    postings: Postings
    ivf: object | None = None
    codec: str | None = None
    _position_of: dict[str, int] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def position_of(self) -> dict[str, int]:
        """chunk id -> local position, built on the first filtered search (segments are immutable)."""
        if self._position_of is None:
            self._position_of = {c: i for i, c in enumerate(self.chunk_ids)}
        return self._position_of


def new_id(generation: int) -> str:
    return f"{generation:010d}-{uuid.uuid4().hex[:10]}"


def segment_dir(root: Path, segment_id: str) -> Path:
    return root / SEGMENTS / segment_id


def build(rows: np.ndarray, chunk_ids: list[str], vectors: np.ndarray, tokens: list[list[str]],
          segment_id: str) -> Segment:
    """An in-memory segment of these rows (ascending)."""
    return Segment(segment_id, np.asarray(rows, dtype=np.int64), list(chunk_ids),
                   np.ascontiguousarray(vectors, dtype=np.float32), Postings.build(tokens))


def write(root: Path, segment: Segment) -> Segment:
    """Write `segment` durably under segments/<id> and return it loaded back (vectors mapped)."""
    parent = root / SEGMENTS
    parent.mkdir(parents=True, exist_ok=True)
    final = parent / segment.id
    tmp = parent / f".tmp-{segment.id}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    np.save(tmp / "rows.npy", segment.rows, allow_pickle=False)
    np.save(tmp / "vectors.npy", np.asarray(segment.vectors, dtype=np.float32), allow_pickle=False)
    (tmp / "chunk_ids.json").write_text(json.dumps(segment.chunk_ids), encoding="utf-8")
    segment.postings.save(tmp / "lexical")
    if segment.ivf is not None:
        dense.write_index(segment.ivf, tmp / "dense.ivf")
    meta = {"id": segment.id, "rows": len(segment), "dim": int(segment.vectors.shape[1]), "codec": segment.codec}
    (tmp / "segment.json").write_text(json.dumps(meta), encoding="utf-8")
    fsync_tree(tmp)
    if final.exists():
        shutil.rmtree(final)  # a leftover of a crashed attempt under the same id; never published
    tmp.rename(final)
    fsync_dir(parent)
    return load(root, segment.id)


def load(root: Path, segment_id: str) -> Segment:
    directory = segment_dir(root, segment_id)
    meta = json.loads((directory / "segment.json").read_text(encoding="utf-8"))
    rows = np.load(directory / "rows.npy", allow_pickle=False)
    vectors = np.load(directory / "vectors.npy", allow_pickle=False, mmap_mode="r")
    chunk_ids = json.loads((directory / "chunk_ids.json").read_text(encoding="utf-8"))
    postings = Postings.load(directory / "lexical")
    n = int(meta["rows"])
    if not (len(rows) == len(chunk_ids) == len(vectors) == len(postings.doclen) == n):
        raise ValueError(f"segment {directory} is inconsistent")
    ivf = dense.read_index(directory / "dense.ivf") if meta.get("codec") else None
    return Segment(segment_id, rows, chunk_ids, vectors, postings, ivf, meta.get("codec"))


def write_deletes(root: Path, segment_id: str, generation: int, positions: np.ndarray) -> str:
    """Record the positions of `segment_id` deleted as of `generation`; returns the file name."""
    directory = segment_dir(root, segment_id)
    name = f"del-{generation:010d}.npy"
    tmp = directory / f".tmp-{name}"
    with open(tmp, "wb") as fh:
        np.save(fh, np.asarray(positions, dtype=np.int64), allow_pickle=False)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.rename(directory / name)
    fsync_dir(directory)
    return name


def read_deletes(root: Path, segment_id: str, name: str | None) -> np.ndarray:
    if not name:
        return np.zeros(0, dtype=np.int64)
    return np.load(segment_dir(root, segment_id) / name, allow_pickle=False)


def merge(parts: list[tuple[Segment, np.ndarray | None]], segment_id: str, codec_id: str | None, codec,
          options: dense.DenseOptions) -> Segment:
    """One segment of the live rows of consecutive segments (`alive` None: all rows live).

    Vectors and postings are concatenated, not recomputed; IVF codes of the same codec are moved
    across, others encoded. Large results get codes when a codec exists.
    """
    keep = [np.ones(len(s), bool) if alive is None else alive for s, alive in parts]
    rows = np.concatenate([s.rows[k] for (s, _), k in zip(parts, keep)])
    chunk_ids = [c for (s, _), k in zip(parts, keep) for c, live in zip(s.chunk_ids, k) if live]
    vectors = np.concatenate([np.asarray(s.vectors)[k] for (s, _), k in zip(parts, keep)])
    postings = Postings.merge([(s.postings, alive) for s, alive in parts])
    merged = Segment(segment_id, rows, chunk_ids, vectors, postings)
    if codec is not None and len(rows) >= options.ivf_segment_min:
        merged.ivf, merged.codec = _merged_codes(parts, keep, codec_id, codec, vectors, rows), codec_id
    return merged


def _merged_codes(parts, keep, codec_id, codec, vectors, rows):
    """IVF lists moved from parts already encoded with `codec_id`; the rest encoded now."""
    reuse = [(s, k) for (s, _), k in zip(parts, keep) if s.codec == codec_id and s.ivf is not None]
    if not reuse:
        return dense.encode(codec, vectors, rows)
    import faiss

    indexes = [faiss.clone_index(s.ivf) for s, _ in reuse]
    dropped = np.concatenate([s.rows[~k] for s, k in reuse])
    target = dense.merge_encoded(indexes, dropped)
    covered = np.zeros(len(rows), dtype=bool)
    for s, k in reuse:
        covered |= np.isin(rows, s.rows[k])
    if (~covered).any():
        target.add_with_ids(np.ascontiguousarray(vectors[~covered]), np.ascontiguousarray(rows[~covered]))
    return target
