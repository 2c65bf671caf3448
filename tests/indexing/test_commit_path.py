"""A commit's garbage collection finds removed rows through partial indexes, not a table scan;
merges hand freed memory back where the C library can."""

from __future__ import annotations

import ctypes.util
import sqlite3
import sys

import pytest

from indexing.store.database import SCHEMA
from indexing.store.files import release_memory


@pytest.mark.parametrize("table", ["chunks", "documents"])
def test_garbage_collection_searches_removed_rows_by_index(table):
    conn = sqlite3.connect(":memory:")
    conn.executescript(SCHEMA)
    plan = conn.execute(
        f"EXPLAIN QUERY PLAN DELETE FROM {table} WHERE gen_removed IS NOT NULL AND gen_removed IN "
        "(SELECT generation FROM commits WHERE committed_at <= 0)"
    ).fetchall()
    steps = " | ".join(row[-1] for row in plan)
    assert f"SEARCH {table} USING INDEX" in steps and f"SCAN {table}" not in steps, steps


def test_release_memory_runs_where_glibc_has_malloc_trim():
    libc = ctypes.util.find_library("c")
    has_trim = sys.platform.startswith("linux") and libc is not None and hasattr(ctypes.CDLL(libc), "malloc_trim")
    assert release_memory() is has_trim
