"""A committed generation's derived index: the list of live segments and their deletions.

Generation G is published by writing `generations/<G>.json` (the manifest: which segments, which
deletion file of each, the codec) atomically and then pointing CURRENT at G. A commit adds one
segment for the rows it added and deletion files for the segments it removed rows from, so it
costs what it adds; `advance` does exactly that from the database, and is also how a writer
catches up after a crash left the database ahead of CURRENT. SQLite stays the source of truth:
every manifest and segment can be rebuilt from it (`advance` from an empty snapshot).
A merge publishes a new manifest for the same generation (same rows, fewer segments); a reader
sees the old manifest or the new one, both whole.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from indexing.lexical import ANALYZER_VERSION
from indexing.store import dense, segments
from indexing.store.bm25 import LexicalPart
from indexing.store.database import TOKEN_SEP, analyzer_version, visible
from indexing.store.files import write_atomic
from indexing.store.segments import SEGMENTS, Segment

GENERATIONS = "generations"
CODECS = "codecs"


@dataclass
class SegmentView:
    """A segment as one generation sees it: the segment plus the positions deleted by then."""

    segment: Segment
    deleted: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    deletes_file: str | None = None

    def __post_init__(self) -> None:
        self.deleted = np.unique(np.asarray(self.deleted, dtype=np.int64))
        n = len(self.segment)
        self.alive: np.ndarray | None = None
        lengths = self.segment.postings.doclen
        self.live_length = int(np.asarray(lengths, dtype=np.int64).sum())
        if len(self.deleted):
            self.alive = np.ones(n, dtype=bool)
            self.alive[self.deleted] = False
            self.live_length -= int(np.asarray(lengths)[self.deleted].astype(np.int64).sum())
        self.n_live = n - len(self.deleted)

    def lexical(self) -> LexicalPart:
        return LexicalPart(self.segment.postings, self.alive, self.n_live, self.live_length)


@dataclass
class Snapshot:
    """Everything a query needs, pinned to one generation; replaced whole, never mutated."""

    generation: int
    views: list[SegmentView]
    codec_id: str | None = None
    # The analyzer version of the tokens its postings hold (indexing/lexical.py ANALYZER_VERSION);
    # manifests written before versions were recorded are 1.
    analyzer: int = ANALYZER_VERSION

    @property
    def n_live(self) -> int:
        return sum(v.n_live for v in self.views)

    @property
    def kind(self) -> str:
        if self.n_live == 0:
            return "empty"
        return "ivf" if any(v.segment.ivf is not None for v in self.views) else "flat"


def empty_snapshot(conn: sqlite3.Connection) -> Snapshot:
    """Generation 0, to rebuild the derived index from the database: its postings will hold the
    tokens stored there, so it carries the database's analyzer version."""
    return Snapshot(0, [], None, analyzer_version(conn))


def manifest_path(root: Path, generation: int) -> Path:
    return root / GENERATIONS / f"{generation:010d}.json"


def codec_path(root: Path, codec_id: str) -> Path:
    return root / CODECS / f"{codec_id}.faiss"


def publish(root: Path, snapshot: Snapshot, embedder_name: str, dim: int) -> None:
    """Write the manifest of `snapshot` atomically, then point CURRENT at its generation."""
    (root / GENERATIONS).mkdir(parents=True, exist_ok=True)
    manifest = {
        "generation": snapshot.generation,
        "live": snapshot.n_live,
        "embedder": embedder_name,
        "dim": dim,
        "codec": snapshot.codec_id,
        "analyzer": snapshot.analyzer,
        "segments": [{"id": v.segment.id, "deletes": v.deletes_file, "deleted": len(v.deleted)}
                     for v in snapshot.views],
    }
    write_atomic(manifest_path(root, snapshot.generation), json.dumps(manifest))
    write_atomic(root / "CURRENT", f"{snapshot.generation}\n")


def live_count(conn: sqlite3.Connection, generation: int) -> int:
    return conn.execute(f"SELECT COUNT(*) FROM chunks WHERE {visible()}", {"gen": generation}).fetchone()[0]


def load_snapshot(root: Path, generation: int, cache: dict[str, Segment],
                  conn: sqlite3.Connection | None = None) -> Snapshot:
    """Load a published generation, reusing segments already in `cache`; with `conn`, check the
    live row count against the database. Raises if anything is missing or disagrees."""
    path = manifest_path(root, generation)
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if int(manifest["generation"]) != generation:
        raise ValueError(f"{path} describes generation {manifest['generation']}")
    views = []
    for entry in manifest["segments"]:
        segment = cache.get(entry["id"]) or segments.load(root, entry["id"])
        views.append(SegmentView(segment, segments.read_deletes(root, entry["id"], entry["deletes"]),
                                 entry["deletes"]))
    snapshot = Snapshot(generation, views, manifest.get("codec"), int(manifest.get("analyzer", 1)))
    if snapshot.n_live != int(manifest["live"]):
        raise ValueError(f"{path} names {manifest['live']} live rows, its segments hold {snapshot.n_live}")
    if conn is not None and live_count(conn, generation) != snapshot.n_live:
        raise ValueError(f"{path} does not match the database rows of generation {generation}")
    return snapshot


def _added_rows(conn: sqlite3.Connection, after: int, upto: int):
    """Rows added in (after, upto] and still visible at upto, ascending."""
    return conn.execute(
        "SELECT row, chunk_id, lexical, vector FROM chunks WHERE gen_added > :after AND gen_added <= :upto "
        "AND (gen_removed IS NULL OR gen_removed > :upto) ORDER BY row",
        {"after": after, "upto": upto},
    ).fetchall()


def _removed_rows(conn: sqlite3.Connection, after: int, upto: int) -> np.ndarray:
    """Rows that were visible at `after` and were removed by `upto`."""
    found = conn.execute(
        "SELECT row FROM chunks WHERE gen_removed IS NOT NULL AND gen_removed > :after AND gen_removed <= :upto "
        "AND gen_added <= :after",
        {"after": after, "upto": upto},
    ).fetchall()
    return np.sort(np.fromiter((r for (r,) in found), dtype=np.int64, count=len(found)))


def advance(root: Path, conn: sqlite3.Connection, snapshot: Snapshot, upto: int, dim: int,
            write: bool = True) -> Snapshot:
    """`snapshot` brought forward to generation `upto`: one new segment for the rows added since,
    new deletion files for the rows removed since. `write=False` keeps it in memory (a reader)."""
    after = snapshot.generation
    conn.execute("BEGIN")  # one read transaction: added and removed rows agree
    try:
        added = _added_rows(conn, after, upto)
        removed = _removed_rows(conn, after, upto)
    finally:
        conn.execute("COMMIT")
    views = _apply_removals(root, snapshot.views, removed, upto, write)
    if added:
        rows = np.fromiter((r[0] for r in added), dtype=np.int64, count=len(added))
        vectors = np.frombuffer(b"".join(r[3] for r in added), dtype=np.float32).reshape(len(added), dim)
        tokens = [r[2].split(TOKEN_SEP) if r[2] else [] for r in added]
        segment = segments.build(rows, [r[1] for r in added], vectors, tokens, segments.new_id(upto))
        views.append(SegmentView(segments.write(root, segment) if write else segment))
    return Snapshot(upto, views, snapshot.codec_id, snapshot.analyzer)


def _apply_removals(root: Path, views: list[SegmentView], removed: np.ndarray, generation: int,
                    write: bool) -> list[SegmentView]:
    out, placed = [], 0
    for view in views:
        rows = view.segment.rows
        at = np.searchsorted(rows, removed)
        inside = at < len(rows)
        hit = np.zeros(len(removed), dtype=bool)
        hit[inside] = rows[at[inside]] == removed[inside]
        if not hit.any():
            out.append(view)
            continue
        placed += int(hit.sum())
        deleted = np.union1d(view.deleted, at[hit])
        name = segments.write_deletes(root, view.segment.id, generation, deleted) if write else None
        out.append(SegmentView(view.segment, deleted, name))
    if placed != len(removed):
        raise ValueError(f"{len(removed) - placed} removed rows are in no segment; the derived index needs a rebuild")
    return out


def remove_stale(root: Path, keep: set[int]) -> None:
    """Delete manifests not in `keep` and every segment, deletion file and codec none of the kept
    manifests names (and leftovers of interrupted writes). Readers that already loaded a segment
    keep it: its arrays are in memory or mapped, and an unlinked mapped file stays readable."""
    names: dict[str, set[str]] = {}
    codecs: set[str] = set()
    for generation in keep:
        try:
            manifest = json.loads(manifest_path(root, generation).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        codecs.add(manifest.get("codec") or "")
        for entry in manifest["segments"]:
            names.setdefault(entry["id"], set()).add(entry["deletes"] or "")
    for entry in _entries(root / GENERATIONS):
        stem = entry.name.removesuffix(".json")
        if not (stem.isdigit() and entry.name.endswith(".json") and int(stem) in keep):
            _remove(entry)  # older manifests, old-format generation directories, temporary files
    for entry in _entries(root / SEGMENTS):
        if entry.name not in names:
            _remove(entry)
            continue
        for item in _entries(entry):
            if item.name.startswith(".tmp-") or (item.name.startswith("del-") and item.name not in names[entry.name]):
                _remove(item)
    for entry in _entries(root / CODECS):
        if entry.name.removesuffix(".faiss") not in codecs:
            _remove(entry)


def _entries(directory: Path) -> list[Path]:
    return list(directory.iterdir()) if directory.is_dir() else []


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
