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
    tmp = _staging(root, segment.id)
    np.save(tmp / "vectors.npy", np.asarray(segment.vectors, dtype=np.float32), allow_pickle=False)
    return _publish(root, tmp, segment.id, segment.rows, segment.chunk_ids, segment.postings,
                    segment.ivf, segment.codec, int(segment.vectors.shape[1]))


def _staging(root: Path, segment_id: str) -> Path:
    """An empty segments/.tmp-<id> directory: never read, collected by `remove_stale` if left."""
    tmp = root / SEGMENTS / f".tmp-{segment_id}"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    return tmp


def _publish(root: Path, tmp: Path, segment_id: str, rows: np.ndarray, chunk_ids: list[str],
             postings: Postings | None, ivf, codec: str | None, dim: int) -> Segment:
    """Write the rest of the segment beside its vectors.npy (and, when `postings` is None, its
    lexical/ files) in `tmp`, fsync, rename into place."""
    parent = root / SEGMENTS
    final = parent / segment_id
    np.save(tmp / "rows.npy", np.asarray(rows, dtype=np.int64), allow_pickle=False)
    (tmp / "chunk_ids.json").write_text(json.dumps(chunk_ids), encoding="utf-8")
    if postings is not None:
        postings.save(tmp / "lexical")
    if ivf is not None:
        dense.write_index(ivf, tmp / "dense.ivf")
    meta = {"id": segment_id, "rows": len(rows), "dim": dim, "codec": codec}
    (tmp / "segment.json").write_text(json.dumps(meta), encoding="utf-8")
    fsync_tree(tmp)
    if final.exists():
        shutil.rmtree(final)  # a leftover of a crashed attempt under the same id; never published
    tmp.rename(final)
    fsync_dir(parent)
    return load(root, segment_id, ivf)


def load(root: Path, segment_id: str, ivf=None) -> Segment:
    """A written segment: vectors and postings memory-mapped, IVF codes read (or `ivf`, the
    index just written there, so a merge does not hold a second copy of its codes)."""
    directory = segment_dir(root, segment_id)
    meta = json.loads((directory / "segment.json").read_text(encoding="utf-8"))
    rows = np.load(directory / "rows.npy", allow_pickle=False)
    vectors = np.load(directory / "vectors.npy", allow_pickle=False, mmap_mode="r")
    chunk_ids = json.loads((directory / "chunk_ids.json").read_text(encoding="utf-8"))
    postings = Postings.load(directory / "lexical")
    n = int(meta["rows"])
    if not (len(rows) == len(chunk_ids) == len(vectors) == len(postings.doclen) == n):
        raise ValueError(f"segment {directory} is inconsistent")
    if not meta.get("codec"):
        ivf = None
    elif ivf is None:
        ivf = dense.read_index(directory / "dense.ivf")
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


MERGE_CHUNK = 65_536  # rows read, written and encoded at a time: 96 MB of float32 at 384-d


def merge(root: Path, parts: list[tuple[Segment, np.ndarray | None]], segment_id: str,
          codec_id: str | None, codec, options: dense.DenseOptions) -> Segment:
    """Write one segment of the live rows of consecutive segments (`alive` None: all rows live)
    durably under segments/<id> and return it loaded back.

    Memory stays bounded by MERGE_CHUNK rows, not the merged size (1M x 384 floats are 1.5 GB):
    vectors are streamed from each part's vectors.npy into the new one with plain file reads and
    writes (a memory map would count every page it touched in this process's RSS), and encoded
    chunk by chunk when they need IVF codes. Postings are merged from their files a run of terms
    at a time (`Postings.merge_into`), so they too are never all in memory. IVF codes of the same
    codec are moved across (`_reused_codes`); the loaded result keeps the index just built rather
    than reading a second copy back. Large results get codes when a codec exists. Written under
    a temporary name and renamed, like every segment.
    """
    keep = [np.ones(len(s), bool) if alive is None else alive for s, alive in parts]
    rows = np.concatenate([s.rows[k] for (s, _), k in zip(parts, keep)])
    chunk_ids = [c for (s, _), k in zip(parts, keep) for c, live in zip(s.chunk_ids, k) if live]
    dim = int(parts[0][0].vectors.shape[1]) if parts else 0
    tmp = _staging(root, segment_id)
    Postings.merge_into(tmp / "lexical", [(s.postings, alive) for s, alive in parts])
    ivf = None
    if codec is not None and len(rows) >= options.ivf_segment_min:
        ivf = _reused_codes(root, parts, keep, codec_id, codec)
    with open(tmp / "vectors.npy", "wb") as out:
        np.lib.format.write_array_header_1_0(
            out, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False,
                  "shape": (len(rows), dim)})
        for (segment, _), k in zip(parts, keep):
            encode = ivf is not None and not (segment.codec == codec_id and segment.ivf is not None)
            for live, ids in _live_chunks(root, segment, k):
                out.write(live.tobytes())
                if encode:
                    ivf.add_with_ids(live, np.ascontiguousarray(ids))
    return _publish(root, tmp, segment_id, rows, chunk_ids, None, ivf,
                    codec_id if ivf is not None else None, dim)


def with_postings(root: Path, segment: Segment, tokens_of, segment_id: str) -> Segment:
    """Written `segment` again under `segment_id` with postings built from `tokens_of(rows)` (a
    list of token lists, one per row): what an analyzer change needs. Vectors and IVF codes do not
    change, so they are hard-linked (copied where the file system cannot link), and positions stay
    the same, so the segment's deletion files still apply. Postings are built MERGE_CHUNK rows at a
    time and merged from their files (`Postings.merge_into`), so memory stays bounded at 1M rows."""
    tmp = _staging(root, segment_id)
    source = segment_dir(root, segment.id)
    for name in ("vectors.npy", "dense.ivf"):
        if (source / name).is_file():
            _link_or_copy(source / name, tmp / name)
    if len(segment) <= MERGE_CHUNK:
        Postings.build(tokens_of(segment.rows)).save(tmp / "lexical")
    else:
        pieces = []
        for start in range(0, len(segment), MERGE_CHUNK):
            directory = tmp / ".pieces" / f"{start:012d}"
            Postings.build(tokens_of(segment.rows[start : start + MERGE_CHUNK])).save(directory)
            pieces.append((Postings.load(directory), None))
        Postings.merge_into(tmp / "lexical", pieces)
        del pieces
        shutil.rmtree(tmp / ".pieces")
    for item in source.glob("del-*.npy"):
        _link_or_copy(item, tmp / item.name)
    return _publish(root, tmp, segment_id, segment.rows, segment.chunk_ids, None, None, segment.codec,
                    int(segment.vectors.shape[1]))


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _open_vectors(root: Path, segment: Segment):
    """The segment's vectors.npy opened for plain reads, positioned at its first row."""
    path = segment_dir(root, segment.id) / "vectors.npy"
    n, dim = len(segment), int(segment.vectors.shape[1])
    fh = open(path, "rb")
    version = np.lib.format.read_magic(fh)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read_header(fh)
    if tuple(shape) != (n, dim) or fortran or dtype != np.float32:
        fh.close()
        raise ValueError(f"segment {segment.id}: vectors.npy is {shape} {dtype}, expected ({n}, {dim}) float32")
    return fh


def read_rows(root: Path, segment: Segment, positions: np.ndarray) -> np.ndarray:
    """float32 vectors of the given local positions of written `segment`, read from its file row
    by row: a sample spread over a memory map would fault in (and count in RSS) nearly every
    page of it, 1.5 GB at 1M rows, to use a few percent of them."""
    dim = int(segment.vectors.shape[1])
    out = np.empty((len(positions), dim), dtype=np.float32)
    with _open_vectors(root, segment) as fh:
        start, row_bytes = fh.tell(), dim * 4
        for i, position in enumerate(np.asarray(positions, dtype=np.int64)):
            data = os.pread(fh.fileno(), row_bytes, start + int(position) * row_bytes)
            if len(data) != row_bytes:
                raise ValueError(f"segment {segment.id}: vectors.npy ends before row {position}")
            out[i] = np.frombuffer(data, dtype=np.float32)
    return out


def _live_chunks(root: Path, segment: Segment, keep: np.ndarray):
    """(live float32 vectors, their row ids) of written `segment`, MERGE_CHUNK rows read at a time
    from its vectors.npy."""
    n, dim = len(segment), int(segment.vectors.shape[1])
    with _open_vectors(root, segment) as fh:
        for start in range(0, n, MERGE_CHUNK):
            count = min(MERGE_CHUNK, n - start)
            block = np.fromfile(fh, dtype=np.float32, count=count * dim).reshape(count, dim)
            k = keep[start : start + count]
            yield (block if k.all() else np.ascontiguousarray(block[k])), segment.rows[start : start + count][k]


def _reused_codes(root: Path, parts, keep, codec_id, codec):
    """The IVF index to fill: the lists of parts already encoded with `codec_id`, moved across
    (read back from each part's dense.ivf one at a time, so the live snapshot's indexes stay
    whole and at most one extra copy of a part is held), minus their deleted rows; else an empty
    copy of `codec`. The caller adds the vectors of every other part."""
    reuse = [(s, k) for (s, _), k in zip(parts, keep) if s.codec == codec_id and s.ivf is not None]
    if not reuse:
        return dense.clone(codec)
    target = None
    for segment, _ in reuse:
        index = dense.read_index(segment_dir(root, segment.id) / "dense.ivf")
        target = index if target is None else dense.merge_encoded([target, index], np.zeros(0, np.int64))
    dropped = np.concatenate([s.rows[~k] for s, k in reuse])
    return dense.merge_encoded([target], dropped)
