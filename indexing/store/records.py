"""What the store hands out: document records, index statistics, and its errors."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from indexing.labels import DocumentGrade
from indexing.schema import SourceMeta


class IndexStoreError(ValueError):
    """Any refusal by the store; the message names the index directory."""


class IndexNotFoundError(IndexStoreError):
    """No index at the given directory (and create=False)."""


class EmbedderMismatchError(IndexStoreError):
    """The index was built with another embedding model; mixing vectors would be meaningless."""


class IndexLockedError(IndexStoreError):
    """Another process (or another writer in this one) is writing to the index."""


class DocumentRecord(BaseModel):
    document_id: str
    path: str
    title: str
    format: str
    meta: SourceMeta = Field(default_factory=SourceMeta)
    grade: DocumentGrade | None = None
    n_pages: int
    n_chunks: int
    indexed_at: datetime
    file_size: int = 0
    paths: list[str] = Field(default_factory=list)  # every file name currently holding this content


class IndexStats(BaseModel):
    path: str
    generation: int
    documents: int
    chunks: int
    pages: int
    embedder_name: str
    dim: int
    dense_kind: Literal["flat", "ivf", "empty"]  # ivf: large segments carry compressed codes
    size_bytes: int
    segments: int = 0  # live segments; `m1e index --optimize` merges them into one
