"""Small stand-ins implementing the contracts, for unit tests of the app's own logic.

`MemoryStore` implements the store's read/remove contract over a handful of chunks with the real
embedder's vectors, so the real `Retriever` runs on it. `ScriptedGenerator` is a language-model
generator whose answer a test writes (to exercise citation checks, warnings, cancel).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timezone

import numpy as np

from app.generators.base import AnswerGenerator, GenerationRequest
from indexing.labels import DocumentGrade, EvidenceLevel, SourceType, StatedGrade
from indexing.lexical import lexical_tokens
from indexing.schema import Chunk, SourceMeta


class Record:
    """The fields of the store's DocumentRecord the app and the retriever read."""

    def __init__(self, document_id, title, path, grade, year, n_chunks):
        self.document_id = document_id
        self.title = title
        self.path = path
        self.format = "markdown"
        self.meta = SourceMeta(title=title, year=year, organization="Test Society")
        self.grade = grade
        self.n_pages = 1
        self.n_chunks = n_chunks
        self.indexed_at = datetime.now(timezone.utc)
        self.file_size = 100


DOCS = [
    (
        "a" * 64,
        "Type 2 diabetes guideline",
        SourceType.GUIDELINE,
        EvidenceLevel.SYSTEMATIC,
        2022,
        [
            "Metformin is recommended as first-line pharmacological therapy for adults with type 2 diabetes. "
            "Metformin lowers HbA1c by about one percentage point.",
            "An HbA1c target below 7 percent is reasonable for most non-pregnant adults with type 2 diabetes.",
        ],
    ),
    (
        "b" * 64,
        "Hypertension trial",
        SourceType.RCT,
        EvidenceLevel.RANDOMISED,
        2019,
        [
            "Intensive blood pressure lowering to a systolic target below 120 mm Hg reduced cardiovascular events "
            "in adults at high cardiovascular risk.",
        ],
    ),
    (
        "c" * 64,
        "Asthma expert opinion",
        SourceType.EXPERT_OPINION,
        EvidenceLevel.OPINION,
        2015,
        ["Inhaled corticosteroids are the mainstay of controller therapy for persistent asthma in children."],
    ),
]


_VECTORS: dict[str, np.ndarray] = {}  # passage text -> vector, shared by every MemoryStore


class MemoryStore:
    embedder_name = "all-MiniLM-L6-v2"

    def __init__(self, embedder):
        self.embedder = embedder
        self.dim = embedder.dim
        self._lock = threading.Lock()
        self.records: dict[str, Record] = {}
        self.chunk_map: dict[str, Chunk] = {}
        self.refreshes = 0
        for doc_id, title, stype, level, year, texts in DOCS:
            grade = DocumentGrade(source_type=stype, level=level, reasons=[f"test: {stype.label}"], confidence=0.9)
            self.records[doc_id] = Record(doc_id, title, f"/nowhere/{doc_id[:4]}.md", grade, year, len(texts))
            for i, text in enumerate(texts):
                stated = []
                if "recommended" in text:
                    stated = [StatedGrade(scheme="grade", quote="strong recommendation", strength="strong", direction="for", recommendation=text.split(". ")[0])]
                cid = f"{doc_id[:16]}:{i}"
                self.chunk_map[cid] = Chunk(chunk_id=cid, document_id=doc_id, ordinal=i, text=text, page_start=1, page_end=1, stated_grades=stated)
        ids = list(self.chunk_map)
        missing = [self.chunk_map[c].text for c in ids if self.chunk_map[c].text not in _VECTORS]
        if missing:
            _VECTORS.update(zip(missing, embedder.embed_passages(missing)))
        self.vectors = {c: _VECTORS[self.chunk_map[c].text] for c in ids}

    # -- the store's read contract
    def refresh(self) -> bool:
        self.refreshes += 1
        return False

    def documents(self):
        with self._lock:
            return list(self.records.values())

    def document(self, document_id):
        return self.records.get(document_id)

    def chunks(self, chunk_ids):
        return [self.chunk_map[c] for c in chunk_ids if c in self.chunk_map]

    def document_chunks(self, document_id):
        return [c for c in self.chunk_map.values() if c.document_id == document_id]

    def chunk_ids_where(self, source_types=None, year_min=None, year_max=None, max_level=None, document_ids=None):
        out = set()
        for cid, chunk in self.chunk_map.items():
            rec = self.records[chunk.document_id]
            if source_types and rec.grade.source_type not in source_types:
                continue
            if year_min is not None and rec.meta.year < year_min:
                continue
            if year_max is not None and rec.meta.year > year_max:
                continue
            if max_level is not None and int(rec.grade.level) > int(max_level):
                continue
            if document_ids and chunk.document_id not in document_ids:
                continue
            out.add(cid)
        return out

    def search_dense(self, query_vector, k, chunk_filter=None):
        hits = [(cid, float(np.dot(v, query_vector))) for cid, v in self.vectors.items() if cid in self.chunk_map and (chunk_filter is None or cid in chunk_filter)]
        return sorted(hits, key=lambda h: -h[1])[:k]

    def search_lexical(self, query, k, chunk_filter=None):
        terms = set(lexical_tokens(query))
        hits = []
        for cid, chunk in self.chunk_map.items():
            if chunk_filter is not None and cid not in chunk_filter:
                continue
            score = float(len(terms & set(lexical_tokens(chunk.text))))
            if score > 0:
                hits.append((cid, score))
        return sorted(hits, key=lambda h: -h[1])[:k]

    def add_document(self, doc_id, title, source_type, level, year, texts) -> None:
        """One more document (graded as given), embedded like the others."""
        grade = DocumentGrade(source_type=source_type, level=level, reasons=["test"], confidence=0.9)
        self.records[doc_id] = Record(doc_id, title, f"/nowhere/{doc_id[:4]}.md", grade, year, len(texts))
        for i, text in enumerate(texts):
            cid = f"{doc_id[:16]}:{i}"
            self.chunk_map[cid] = Chunk(chunk_id=cid, document_id=doc_id, ordinal=i, text=text, page_start=1, page_end=1)
            if text not in _VECTORS:
                _VECTORS[text] = self.embedder.embed_passages([text])[0]
            self.vectors[cid] = _VECTORS[text]

    def stats(self):
        from types import SimpleNamespace

        return SimpleNamespace(documents=len(self.records), chunks=len(self.chunk_map), pages=len(self.records))

    def remove_document(self, document_id) -> bool:
        with self._lock:
            if self.records.pop(document_id, None) is None:
                return False
            for cid in [c for c, ch in self.chunk_map.items() if ch.document_id == document_id]:
                del self.chunk_map[cid]
            return True


def attach(assistant, store, embedder) -> None:
    """Give an assistant this store and embedder instead of opening its index directory."""
    from evidence.retrieval import Retriever

    assistant._store = store
    assistant._retriever = Retriever(store, embedder)


class ScriptedGenerator(AnswerGenerator):
    """A language-model generator whose answer is `script(request)`, streamed word by word."""

    name = "local"

    def __init__(self, script: Callable[[GenerationRequest], str], demo: bool = True, context: int = 4096, on_piece=None):
        self.script = script
        self.demo = demo
        self.context = context
        self.requests: list[GenerationRequest] = []
        self.on_piece = on_piece

    @property
    def label(self) -> str:
        return "Scripted-135M (demo model, not a clinical model)" if self.demo else "Scripted-14B"

    @property
    def is_demo(self) -> bool:
        return self.demo

    @property
    def context_tokens(self) -> int:
        return self.context

    def stream(self, request: GenerationRequest, cancel: threading.Event | None = None) -> Iterator[str]:
        self.requests.append(request)
        words = self.script(request).split(" ")
        for i, word in enumerate(words):
            if cancel is not None and cancel.is_set():
                return
            if self.on_piece:
                self.on_piece(i)
            yield word if i == len(words) - 1 else word + " "


def quote_evidence(request: GenerationRequest, eid: str = "E1") -> str:
    """An answer that quotes the first sentence of the passage it cites (so it is supported)."""
    item = next(e for e in request.evidence if e.evidence_id == eid)
    first = item.text.split(". ")[0].rstrip(".")
    return f"{first} [{eid}]."
