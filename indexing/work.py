"""The work done for one input before it reaches the store: read, clean, chunk, grade, embed.

It is kept apart from the batch loop (indexing/pipeline.py) so a runner can do it anywhere: in
reader threads beside the loop (indexing/runners.py), or in Ray tasks on other machines
(indexing/ray_runner.py). Everything here is picklable and free of store state; what the loop
knows about an input already (its `FileState`) travels with it, and what comes back is a
`Prepared` that converts to and from a plain JSON row plus float32 vector bytes.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from indexing.errors import ReadError
from indexing.labels import Annotator
from indexing.lexical import lexical_tokens
from indexing.readers.limits import ReadLimits
from indexing.schema import Chunk, Document
from indexing.store import FileState


@dataclass
class Prepared:
    """One input after the work is done with it; `vectors` stays None until it is embedded."""

    path: str
    content_hash: str = ""
    size: int = 0
    mtime: float = 0.0
    status: str = "read"  # read | unchanged | failed
    reason: str | None = None
    document: Document | None = None
    chunks: list[Chunk] = field(default_factory=list)
    lexical: list[list[str]] = field(default_factory=list)
    vectors: np.ndarray | None = None  # (len(chunks), dim) float32 once embedded
    read_s: float = 0.0
    clean_chunk_s: float = 0.0
    annotate_s: float = 0.0
    embed_s: float = 0.0

    def to_row(self) -> dict[str, Any]:
        """A JSON text and the vectors' bytes: what a Ray task hands back (no pickles of records)."""
        head = {
            name: getattr(self, name)
            for name in ("path", "content_hash", "size", "mtime", "status", "reason", "lexical")
            + ("read_s", "clean_chunk_s", "annotate_s", "embed_s")
        }
        head["document"] = self.document.model_dump(mode="json") if self.document is not None else None
        head["chunks"] = [c.model_dump(mode="json") for c in self.chunks]
        vectors = self.vectors
        head["dim"] = None if vectors is None else int(vectors.shape[1])
        blob = b"" if vectors is None else np.ascontiguousarray(vectors, dtype=np.float32).tobytes()
        return {"prepared": json.dumps(head, ensure_ascii=False), "vectors": blob}

    @classmethod
    def from_row(cls, text: str, blob: bytes) -> Prepared:
        head = json.loads(text)
        document, chunks, dim = head.pop("document"), head.pop("chunks"), head.pop("dim")
        prepared = cls(**head)
        prepared.document = Document.model_validate(document) if document is not None else None
        prepared.chunks = [Chunk.model_validate(c) for c in chunks]
        if dim is not None:
            prepared.vectors = np.frombuffer(blob, dtype=np.float32).reshape(len(chunks), dim).copy()
        return prepared


def _hash_file(path: Path, digest) -> None:
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)


def content_hash(path: Path, data: bytes | None = None) -> str:
    """Hash of the file and of any metadata sidecar beside it: a change to either re-indexes.
    Give `data` (the bytes about to be parsed) so the hash is of exactly those bytes."""
    return file_hashes(path, data if data is not None else path.read_bytes())[1]


def file_hashes(path: Path, data: bytes) -> tuple[str, str]:
    """(document id, content hash) of the bytes `data` read from `path`: the id is the bytes'
    sha256 (what the reader stores), the content hash adds the sidecar's bytes."""
    from indexing.readers.sidecar import sidecar_candidates

    digest = hashlib.sha256(data)
    document_id = digest.hexdigest()
    for sidecar in sidecar_candidates(path):
        if sidecar.is_file():
            digest.update(b"\0sidecar\0" + sidecar.name.encode())
            _hash_file(sidecar, digest)
    return document_id, digest.hexdigest()


def document_hash(document: Document) -> str:
    """Identity of a pre-read document (the demo corpus): its bytes' id plus its metadata."""
    digest = hashlib.sha256(document.document_id.encode())
    digest.update(document.title.encode())
    digest.update(document.meta.model_dump_json().encode())
    return digest.hexdigest()


def item_path(item: Path | Document) -> str:
    """The path an input is known by in the store's file table."""
    return item.path if isinstance(item, Document) else str(item)


@dataclass(frozen=True)
class Preparer:
    """The per-input work with the settings it needs; pickled whole to a remote worker (the
    embedder pickles as a reference to its model directory, see indexing/embedding.py)."""

    embedder: Any
    annotator: Annotator | None = None
    chunk_tokens: int = 200
    chunk_overlap: int = 40
    limits: ReadLimits | None = None  # None: ReadLimits() from the M1E_MAX_* variables where it runs

    def prepare(self, item: Path | Document, state: FileState | None) -> Prepared:
        """Never raises for a bad input: a failure comes back as a `Prepared` with its reason."""
        try:
            return self._prepare_one(item, state)
        except ReadError as exc:
            reason = exc.reason
        except OSError as exc:
            reason = f"cannot read file ({exc.strerror or exc})"
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the batch; say what broke
            reason = f"unexpected {type(exc).__name__}: {exc}".splitlines()[0]
        return Prepared(path=item_path(item), status="failed", reason=reason)

    def embed(self, batch: list[Prepared]) -> None:
        """Embed the chunks of every input in `batch` in one call; each gets its own rows."""
        texts = [c.text for p in batch for c in p.chunks]
        started = time.perf_counter()
        vectors = self.embedder.embed_passages(texts) if texts else np.zeros((0, self.embedder.dim), np.float32)
        share = (time.perf_counter() - started) / max(1, len(batch))
        offset = 0
        for p in batch:
            n = len(p.chunks)
            p.vectors, p.embed_s = vectors[offset : offset + n], share
            offset += n

    def _prepare_one(self, item: Path | Document, state: FileState | None) -> Prepared:
        """Read a file's bytes once: hash them, skip them when the store already holds exactly
        them, else parse those same bytes (a file rewritten meanwhile cannot mix versions)."""
        started = time.perf_counter()
        if isinstance(item, Document):
            prepared = Prepared(path=item.path, content_hash=document_hash(item))
            document_id, data, document = item.document_id, b"", item
        else:
            from indexing.readers import read_file_bytes

            limits = self.limits or ReadLimits()
            prepared = Prepared(path=str(item))
            data = read_file_bytes(item, limits)
            stat = item.stat()
            prepared.size, prepared.mtime = len(data), stat.st_mtime
            document_id, prepared.content_hash = file_hashes(item, data)
            document = None
        if state is not None and state.content_hash == prepared.content_hash and state.document_id == document_id:
            prepared.status = "unchanged"  # same bytes and sidecar as last time: not read again
            return prepared
        if document is None:
            from indexing.readers import read_document

            document = read_document(item, limits, data=data)
        prepared.read_s = time.perf_counter() - started
        self._clean_chunk_label(document, prepared)
        return prepared

    def _clean_chunk_label(self, document: Document, prepared: Prepared) -> None:
        from indexing.chunking import chunk_document
        from indexing.cleaning import clean_document

        started = time.perf_counter()
        document = clean_document(document)
        chunks = chunk_document(document, self.embedder, max_tokens=self.chunk_tokens, overlap=self.chunk_overlap)
        prepared.clean_chunk_s = time.perf_counter() - started
        if self.annotator is not None:
            started = time.perf_counter()
            grade = self.annotator.grade_document(document)
            document = document.model_copy(update={"grade": grade})
            chunks = [
                c.model_copy(update={"stated_grades": list(self.annotator.grade_chunk(c, document))}) for c in chunks
            ]
            prepared.annotate_s = time.perf_counter() - started
        started = time.perf_counter()
        prepared.lexical = [lexical_tokens(c.text) for c in chunks]
        prepared.clean_chunk_s += time.perf_counter() - started
        prepared.document, prepared.chunks = document, chunks
