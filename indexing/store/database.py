"""The SQLite source of truth: schema, connections, and the generation-visibility rule.

Every document and chunk row carries the generation that added it and the one that removed
it. A reader pinned to generation G sees exactly the rows with gen_added <= G and
(gen_removed IS NULL or gen_removed > G), so it keeps a consistent view while a writer commits
newer generations beside it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

SCHEMA_VERSION = 1
DB_NAME = "index.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS manifest (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    row INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id TEXT NOT NULL,
    path TEXT NOT NULL,
    title TEXT NOT NULL,
    format TEXT NOT NULL,
    meta_json TEXT NOT NULL,
    grade_json TEXT,
    source_type TEXT,
    level INTEGER,
    year INTEGER,
    n_pages INTEGER NOT NULL,
    n_chunks INTEGER NOT NULL,
    file_size INTEGER NOT NULL,
    indexed_at TEXT NOT NULL,
    gen_added INTEGER NOT NULL,
    gen_removed INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS documents_live ON documents(document_id) WHERE gen_removed IS NULL;
CREATE INDEX IF NOT EXISTS documents_by_id ON documents(document_id);
-- Partial: only removed rows, so a commit's garbage collection finds them without a table scan.
CREATE INDEX IF NOT EXISTS documents_by_removed ON documents(gen_removed) WHERE gen_removed IS NOT NULL;
CREATE TABLE IF NOT EXISTS chunks (
    row INTEGER PRIMARY KEY AUTOINCREMENT,
    chunk_id TEXT NOT NULL,
    document_id TEXT NOT NULL,
    ordinal INTEGER NOT NULL,
    text TEXT NOT NULL,
    page_start INTEGER NOT NULL,
    page_end INTEGER NOT NULL,
    heading_json TEXT NOT NULL,
    n_tokens INTEGER NOT NULL,
    stated_json TEXT NOT NULL,
    lexical TEXT NOT NULL,
    vector BLOB NOT NULL,
    gen_added INTEGER NOT NULL,
    gen_removed INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS chunks_live ON chunks(chunk_id) WHERE gen_removed IS NULL;
CREATE INDEX IF NOT EXISTS chunks_by_id ON chunks(chunk_id);
CREATE INDEX IF NOT EXISTS chunks_by_document ON chunks(document_id);
CREATE INDEX IF NOT EXISTS chunks_by_added ON chunks(gen_added);
CREATE INDEX IF NOT EXISTS chunks_by_removed ON chunks(gen_removed) WHERE gen_removed IS NOT NULL;
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    document_id TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS files_by_document ON files(document_id);
CREATE INDEX IF NOT EXISTS files_by_hash ON files(content_hash);
CREATE TABLE IF NOT EXISTS commits (generation INTEGER PRIMARY KEY, committed_at REAL NOT NULL);
"""

TOKEN_SEP = "\x1f"  # lexical tokens may contain spaces ("2.5 mg"); never this


def visible(alias: str = "") -> str:
    """SQL condition for rows visible at generation :gen."""
    p = f"{alias}." if alias else ""
    return f"({p}gen_added <= :gen AND ({p}gen_removed IS NULL OR {p}gen_removed > :gen))"


def connect(root: Path, *, readonly: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(root / DB_NAME, timeout=60.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=OFF")
    if readonly:
        conn.execute("PRAGMA query_only=1")
    return conn


def create_schema(conn: sqlite3.Connection) -> None:
    conn.executescript(SCHEMA)


def manifest(conn: sqlite3.Connection) -> dict[str, str]:
    try:
        return dict(conn.execute("SELECT key, value FROM manifest").fetchall())
    except sqlite3.OperationalError:
        return {}


def database_generation(conn: sqlite3.Connection) -> int:
    return int(manifest(conn).get("generation", "0"))


def analyzer_version(conn: sqlite3.Connection) -> int:
    """The `indexing.lexical.ANALYZER_VERSION` the stored `chunks.lexical` tokens were made by."""
    return stored_analyzer_version(manifest(conn))


def stored_analyzer_version(facts: dict[str, str]) -> int:
    """The analyzer version a database manifest records; indexes written before the version was
    recorded are version 1."""
    return int(facts.get("analyzer_version", "1"))
