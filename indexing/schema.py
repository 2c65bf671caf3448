"""Records that cross package lines on the indexing side: documents, pages, chunks."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from indexing.labels import DocumentGrade, SourceType, StatedGrade


class SourceMeta(BaseModel):
    """Bibliographic facts about a document, from the file, its registry or a sidecar."""

    title: str | None = None
    authors: list[str] = Field(default_factory=list)
    organization: str | None = None
    year: int | None = None
    doi: str | None = None
    journal: str | None = None  # where an article was published (e.g. from PubMed)
    url: str | None = None
    language: str | None = None  # "en", "zh", ... when known
    source_type: SourceType | None = None  # an explicit statement (sidecar), not a guess
    evidence_level: int | None = Field(default=None, ge=1, le=5)  # explicit override from sidecar
    publication_types: list[str] = Field(default_factory=list)  # e.g. PubMed publication types
    mesh_terms: list[str] = Field(default_factory=list)
    abstract: str | None = None
    keywords: list[str] = Field(default_factory=list)  # free-text topics (e.g. a registry's), not MeSH


class Page(BaseModel):
    number: int = Field(ge=1)  # 1-based physical page number in the file
    text: str


class Document(BaseModel):
    """One source file as read and cleaned, before chunking."""

    document_id: str  # sha256 of the file's bytes: the identity used for dedup and updates
    path: str
    format: Literal["pdf", "markdown", "text"]
    title: str
    pages: list[Page]
    meta: SourceMeta = Field(default_factory=SourceMeta)
    grade: DocumentGrade | None = None
    # What the reader could not take in but did not stop it, e.g. "page 3: no text layer; OCR
    # not available". Reported to the user beside the indexed document.
    warnings: list[str] = Field(default_factory=list)


class Chunk(BaseModel):
    """A retrievable passage; keeps its pages and heading path so citations reach the page."""

    chunk_id: str
    document_id: str
    ordinal: int = Field(ge=0)  # position within the document
    text: str
    page_start: int = Field(ge=1)
    page_end: int = Field(ge=1)
    heading_path: list[str] = Field(default_factory=list)
    n_tokens: int = 0  # in the embedding model's tokenizer
    stated_grades: list[StatedGrade] = Field(default_factory=list)
