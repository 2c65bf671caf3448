"""The durable index: SQLite (truth) + FAISS (dense) + bm25s (lexical), one directory.

See `indexing/store/store.py` for the on-disk layout and `writer.py` for how commits stay
atomic under a crash.
"""

from indexing.store.dense import DenseOptions
from indexing.store.records import (
    DocumentRecord,
    EmbedderMismatchError,
    IndexLockedError,
    IndexNotFoundError,
    IndexStats,
    IndexStoreError,
)
from indexing.store.store import IndexStore
from indexing.store.writer import FileState, IndexWriter

__all__ = [
    "DenseOptions",
    "DocumentRecord",
    "EmbedderMismatchError",
    "FileState",
    "IndexLockedError",
    "IndexNotFoundError",
    "IndexStats",
    "IndexStore",
    "IndexStoreError",
    "IndexWriter",
]
