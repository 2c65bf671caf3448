"""Bring an index written under an older analyzer up to the current one.

`indexing.lexical.ANALYZER_VERSION` names the tokens `lexical_tokens` makes. Every chunk's tokens
are stored in SQLite (`chunks.lexical`) and each segment's postings are built from them, so when
the analyzer changes (session 7 folded British spellings into the stemmer) an older index keeps
postings that queries, tokenised by the new analyzer, no longer meet: "anaemia" in a question
became "anemia" while the index still held "anaemia". The writer calls `bring_up_to_date` each
time it opens; it does nothing when both versions are current. Otherwise, in two steps:

1. re-tokenise every stored chunk's text, RETOKENISE_BATCH rows per transaction (idempotent), and
   only then record the new version in the database manifest;
2. write each segment again with postings from those tokens (`segments.with_postings`: vectors,
   codes and deletion files linked, not rewritten) and publish a manifest for the same generation
   carrying the new version.

A crash inside step 1 leaves the database's version old, so the next writer redoes step 1; a
crash inside step 2 leaves the published manifest's version old, so it redoes step 2. Readers
keep the manifest they loaded until they refresh, as with a merge; commits never run meanwhile
(the writer lock is held throughout).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from typing import Callable

import numpy as np

from indexing.lexical import ANALYZER_VERSION, lexical_tokens
from indexing.store import segments
from indexing.store.database import TOKEN_SEP, analyzer_version
from indexing.store.generations import SegmentView, Snapshot

log = logging.getLogger(__name__)

# Rows re-tokenised per transaction: ~1 s of tokenising, short enough that a reader's snapshot of
# the database is never held up for long, large enough that commits do not dominate.
RETOKENISE_BATCH = 2_000

Progress = Callable[[int, int], None]  # (rows done, rows in all)


def needs_update(stored: int, snapshot: Snapshot) -> bool:
    """Whether the database's tokens (version `stored`) or the published postings are older."""
    return stored != ANALYZER_VERSION or snapshot.analyzer != ANALYZER_VERSION


def retokenise(conn: sqlite3.Connection, progress: Progress | None = None) -> int:
    """Step 1: store the current analyzer's tokens for every chunk row, then the version.
    Returns the rows re-tokenised."""
    total = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    done, last = 0, -1
    while True:
        rows = conn.execute(
            "SELECT row, text FROM chunks WHERE row > ? ORDER BY row LIMIT ?", (last, RETOKENISE_BATCH)
        ).fetchall()
        if not rows:
            break
        updates = [(TOKEN_SEP.join(lexical_tokens(text)), row) for row, text in rows]
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany("UPDATE chunks SET lexical = ? WHERE row = ?", updates)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        last, done = rows[-1][0], done + len(rows)
        if progress is not None:
            progress(done, total)
    conn.execute("INSERT OR REPLACE INTO manifest VALUES ('analyzer_version', ?)", (str(ANALYZER_VERSION),))
    return done


def _stored_tokens(conn: sqlite3.Connection) -> Callable[[np.ndarray], list[list[str]]]:
    """rows -> their stored token lists. Rows already collected from the database (deleted in the
    segment and past the retention time) have none and get an empty list: they are deleted
    positions, which no query reads."""

    def tokens_of(rows: np.ndarray) -> list[list[str]]:
        if not len(rows):
            return []
        found = dict(conn.execute(
            "SELECT row, lexical FROM chunks WHERE row BETWEEN ? AND ?", (int(rows[0]), int(rows[-1]))
        ).fetchall())
        return [found[r].split(TOKEN_SEP) if found.get(r) else [] for r in rows.tolist()]

    return tokens_of


def reanalysed(root: Path, conn: sqlite3.Connection, snapshot: Snapshot) -> Snapshot:
    """Step 2: `snapshot` with every segment's postings rebuilt from the stored tokens."""
    tokens_of = _stored_tokens(conn)
    views = []
    for view in snapshot.views:
        segment = segments.with_postings(root, view.segment, tokens_of, segments.new_id(snapshot.generation))
        views.append(SegmentView(segment, view.deleted, view.deletes_file))
    return Snapshot(snapshot.generation, views, snapshot.codec_id, analyzer_version(conn))


def bring_up_to_date(root: Path, conn: sqlite3.Connection, snapshot: Snapshot,
                     progress: Progress | None = None) -> Snapshot | None:
    """The snapshot to publish after bringing the index to the current analyzer, or None when it
    already is current."""
    stored = analyzer_version(conn)
    if not needs_update(stored, snapshot):
        return None
    started = time.perf_counter()
    if stored != ANALYZER_VERSION:
        # ~1,800 abstract-sized chunks/s on one core here: about 9 minutes for 1M passages, once.
        log.warning("index at %s was written by text analyzer version %d; re-tokenising its stored text for "
                    "version %d (once; the vectors are kept)", root, stored, ANALYZER_VERSION)
        retokenise(conn, progress)
    updated = reanalysed(root, conn, snapshot)
    log.info("index at %s brought to analyzer version %d in %.1f s", root, ANALYZER_VERSION,
             time.perf_counter() - started)
    return updated
