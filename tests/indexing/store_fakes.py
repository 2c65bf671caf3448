"""Small, fast stand-ins for store and pipeline tests: a hashing embedder and document builders."""

from __future__ import annotations

import hashlib
import re

import numpy as np

from indexing.labels import DocumentGrade, EvidenceLevel, SourceType, StatedGrade
from indexing.schema import Chunk, Document, Page, SourceMeta

_WORD = re.compile(r"\w+")


class HashEmbedder:
    """Bag-of-words hashed into `dim` buckets, L2-normalised: similar words, similar vectors."""

    def __init__(self, dim: int = 32, name: str = "hash-embedder"):
        self.dim, self.name = dim, name
        self.passages_embedded = 0

    def count(self, text: str) -> int:
        return len(_WORD.findall(text))

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for word in _WORD.findall(text.lower()):
            v[int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        n = np.linalg.norm(v)
        return v / n if n else v

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        self.passages_embedded += len(texts)
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return np.stack([self._vector(t) for t in texts])


class BrokenEmbedder(HashEmbedder):
    """Chunks like HashEmbedder, fails to embed: a model that breaks where the work runs."""

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        raise RuntimeError("embedder exploded on this node")


def make_document(
    key: str,
    texts: list[str],
    *,
    year: int | None = 2020,
    source_type: SourceType | None = SourceType.GUIDELINE,
    level: int | None = 1,
    path: str | None = None,
) -> tuple[Document, list[Chunk]]:
    document_id = hashlib.sha256(key.encode()).hexdigest()
    grade = (
        DocumentGrade(source_type=source_type, level=EvidenceLevel(level), reasons=["test"], confidence=0.9)
        if source_type is not None and level is not None
        else None
    )
    document = Document(
        document_id=document_id,
        path=path or f"/corpus/{key}.md",
        format="markdown",
        title=f"Title {key}",
        pages=[Page(number=i + 1, text=t) for i, t in enumerate(texts)],
        meta=SourceMeta(year=year, organization="Test Org"),
        grade=grade,
    )
    chunks = [
        Chunk(
            chunk_id=f"{document_id[:16]}:{i}",
            document_id=document_id,
            ordinal=i,
            text=t,
            page_start=i + 1,
            page_end=i + 1,
            heading_path=["Section", f"Part {i}"],
            n_tokens=len(t.split()),
            stated_grades=[StatedGrade(scheme="acc_aha", quote="Class I, LOE A", strength="I", certainty="A", page=i + 1)]
            if "Class I" in t
            else [],
        )
        for i, t in enumerate(texts)
    ]
    return document, chunks


class FakeAnnotator:
    """Implements indexing.labels.Annotator; records calls."""

    def __init__(self):
        self.documents = 0
        self.chunks = 0

    def grade_document(self, document: Document) -> DocumentGrade:
        self.documents += 1
        return DocumentGrade(
            source_type=SourceType.RCT, level=EvidenceLevel.RANDOMISED, reasons=["fake"], confidence=0.5
        )

    def grade_chunk(self, chunk: Chunk, document: Document) -> list[StatedGrade]:
        self.chunks += 1
        if "recommended" in chunk.text:
            return [StatedGrade(scheme="other", quote="recommended", page=chunk.page_start)]
        return []
