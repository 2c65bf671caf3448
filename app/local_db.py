"""The app's own small SQLite files under the data dir (history, feedback): one way to open them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def local_db(path: Path, schema: str, error: type[Exception]) -> Iterator[sqlite3.Connection]:
    """A connection in one transaction: the file and its schema made if missing, rows readable by
    name or index, and a damaged file reported as `error` naming it. 30 s busy timeout: the UI
    and the CLI may write at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30)
    try:
        conn.executescript(schema)
        conn.row_factory = sqlite3.Row
        with conn:
            yield conn
    except sqlite3.DatabaseError as exc:
        raise error(f"{path}: {exc}") from exc
    finally:
        conn.close()
