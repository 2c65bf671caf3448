"""The durable index: SQLite (truth) + immutable segments (FAISS/numpy dense, BM25 postings), one directory.

See `indexing/store/store.py` for the on-disk layout, `segments.py` and `generations.py` for the
segments and the manifests that name them, and `writer.py` for how commits stay atomic under a
crash and cost what they add.
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
