"""`Assistant`: the Python API behind the CLI and the web UI.

One assistant serves many threads: the embedder and any local model are loaded once per process,
the index store is shared (and refreshed after each index batch), and every request keeps its
own evidence list, so an answer's citations always point into the evidence it was given.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from app.generators import GENERATOR_NAMES, AnswerGenerator, GenerationRequest, make_generator
from app.schema import AssistantInfo, GeneratorStatus, IndexSummary
from app.settings import Settings, load_settings
from evidence.pipeline import EMPTY_INDEX_TEXT, INSUFFICIENT_TEXT, NO_ROOM_TEXT, Plan, Retrieved, assemble, check, generate, plan, retrieve
from evidence.schema import Answer, Evidence, SearchFilters
from evidence.warnings import DEMO_WARNING, PLAIN_WARNING

__all__ = ["Assistant", "AssistantError", "EMPTY_INDEX_TEXT", "INSUFFICIENT_TEXT", "NO_ROOM_TEXT", "DEMO_WARNING", "PLAIN_WARNING"]

Mode = Literal["evidence", "plain"]


class AssistantError(ValueError):
    """A request the assistant cannot serve (empty question, unknown document, bad mode)."""


class Assistant:
    """Ask, search and index over one evidence index, with the generator chosen in settings."""

    def __init__(self, settings: Settings | None = None, **overrides: Any) -> None:
        if settings is None:
            settings = load_settings(**overrides)
        elif overrides:
            settings = load_settings(**{**settings.model_dump(exclude_unset=True), **overrides})
        self.settings = settings
        self._lock = threading.RLock()  # lazy opening of the store / retriever / generators
        self._write_lock = threading.Lock()  # one writer (index batch or removal) at a time
        self._store: Any = None
        self._retriever: Any = None
        self._generators: dict[str, AnswerGenerator] = {}

    # ------------------------------------------------------------------ plumbing
    @property
    def index_dir(self) -> Path:
        return self.settings.resolved_index_dir

    @property
    def embedder(self) -> Any:
        from indexing.embedding import load_embedder

        return load_embedder(self.settings.embedding_model, batch_size=self.settings.embedding_batch_size)

    def _open(self) -> Any:
        """The shared store, opened on first use; None while no index exists yet."""
        with self._lock:
            if self._store is None:
                from evidence.retrieval import Retriever
                from indexing.store import IndexNotFoundError, IndexStore

                try:
                    embedder = self.embedder
                    store = IndexStore.open(
                        self.index_dir, embedder_name=embedder.name, dim=embedder.dim, dense_options=self.settings.dense_options
                    )
                except IndexNotFoundError:
                    return None
                self._retriever = Retriever(store, embedder)
                self._store = store
            return self._store

    def _peek(self) -> Any:
        """The store for status reads, without loading the embedder (`m1e info` starts in about a
        second instead of the tens of seconds torch and the model take); None without an index."""
        if self._store is not None:
            return self._store
        from indexing.store import IndexNotFoundError, IndexStore

        try:
            return IndexStore.open(self.index_dir)
        except IndexNotFoundError:
            return None

    def refresh(self) -> None:
        """Pick up what another process (or an index batch) committed."""
        store = self._open()
        if store is not None:
            store.refresh()

    def index_generation(self) -> int | None:
        """The index's commit generation (stored with history and feedback); None without an index."""
        store = self._open()
        return getattr(store, "generation", None) if store is not None else None

    def generator(self, name: str | None = None) -> AnswerGenerator:
        name = name or self.settings.generator
        if name not in GENERATOR_NAMES:
            raise AssistantError(f"unknown generator {name!r}: choose one of {', '.join(GENERATOR_NAMES)}")
        with self._lock:
            gen = self._generators.get(name)
            if gen is None:
                gen = self._generators[name] = make_generator(name, self.settings)
            return gen

    def _check_question(self, question: str) -> str:
        if question is not None and not isinstance(question, str):
            raise AssistantError(f"the question must be text, not {type(question).__name__}")
        question = (question or "").strip()
        if not question:
            raise AssistantError("the question is empty")
        _check_text(question)
        limit = self.settings.max_question_chars
        if len(question) > limit:
            raise AssistantError(f"the question is {len(question)} characters long; the limit is {limit} (max_question_chars)")
        return question

    # ------------------------------------------------------------------ indexing
    def _pipeline(self) -> Any:
        from evidence.annotator import EvidenceAnnotator
        from indexing.pipeline import IndexPipeline

        s = self.settings
        return IndexPipeline(
            self.index_dir,
            embedder=self.embedder,
            annotator=EvidenceAnnotator(),
            chunk_tokens=s.chunk_tokens,
            chunk_overlap=s.chunk_overlap,
            workers=s.index_workers,
            limits=self._read_limits(),
            dense_options=s.dense_options,
        )

    def _read_limits(self) -> Any:
        """The size limits of settings (max_file_mb, max_text_mb), as the readers take them."""
        from indexing.readers.limits import ReadLimits

        s = self.settings
        return ReadLimits(max_file_bytes=int(s.max_file_mb * 2**20), max_text_bytes=int(s.max_text_mb * 2**20))

    def index(
        self,
        paths: Iterable[str | Path] | str | Path,
        progress: Callable[[Any], None] | None = None,
        recursive: bool = True,
        prune: bool = False,
    ) -> Any:
        """Index files and folders; returns the pipeline's `IndexReport`.

        Unchanged files are skipped, changed ones replaced; a file that cannot be read is reported
        in `report.failed` with its reason and the batch goes on. `prune` also drops documents
        whose files no longer exist.
        """
        paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
        if not paths:
            raise AssistantError("name at least one file or folder to index")
        with self._write_lock:
            report = self._pipeline().run(paths, recursive=recursive, progress=progress, prune=prune)
        self.refresh()
        return report

    def index_demo(self, progress: Callable[[Any], None] | None = None) -> Any:
        """Index the bundled demo corpus (open-medicine guideline summaries and sample PDFs)."""
        with self._write_lock:
            report = self._pipeline().run_demo(progress=progress)
        self.refresh()
        return report

    def source_text(self, item: Evidence) -> str | None:
        """The whole page or section a citation points at, read from its source as it stands now
        (PDF page text, or the guideline's section file), so the UI can show the quoted span in
        its context. None when the source is gone, unreadable, or no longer the content that was
        cited (its hash differs from the cited document id): never another passage's text."""
        from indexing.errors import ReadError
        from indexing.readers import read_document
        from indexing.readers.demo import guideline_folder_document

        path = Path(item.path) if item.path else None
        try:
            if path is None or not path.exists():
                return None
            document = guideline_folder_document(path) if path.is_dir() else read_document(path)
        except (ReadError, OSError):
            return None
        if document.document_id != item.document_id or not 1 <= item.page_start <= len(document.pages):
            return None
        return document.pages[item.page_start - 1].text

    def source_pdf(self, item: Evidence) -> bytes:
        """The bytes of the PDF a citation points into, for the UI's "Open the PDF at page N" link
        and its download. Only an indexed PDF whose file is still the indexed content is given
        (the file's sha256 is the document id, checked on the bytes returned), so a citation can
        never open a file changed or swapped since, nor a path that was never indexed. The file is
        read with the indexing limits (max_file_mb): whatever was indexed fits.

        Raises AssistantError naming the file and the reason otherwise."""
        from indexing.errors import ReadError
        from indexing.readers import document_id_for, read_file_bytes

        if not item.path:
            raise AssistantError(f"{item.evidence_id or 'this passage'} has no source file to open")
        store = self._peek()
        if store is not None:
            store.refresh()
        record = store.document(item.document_id) if store is not None else None
        if record is None:
            raise AssistantError(f"{item.path}: the cited document (id {item.document_id[:12]}) is no longer in the index")
        if record.format != "pdf":
            raise AssistantError(f"{item.path}: the cited document is not a PDF (it was indexed as {record.format})")
        try:
            data = read_file_bytes(Path(item.path), self._read_limits())
        except ReadError as exc:
            raise AssistantError(f"cannot open the cited PDF: {exc}") from None
        if document_id_for(data) != item.document_id:
            raise AssistantError(
                f"{item.path}: the file has changed since it was indexed, so it is not the cited content any more "
                "(index it again to cite the new version)"
            )
        return data

    def documents(self) -> list[Any]:
        """Every indexed document (`DocumentRecord`), as the store lists them."""
        store = self._open()
        if store is None:
            return []
        store.refresh()
        return list(store.documents())

    def resolve_document_id(self, document_id: str) -> str:
        """A full document id from an id or a unique prefix of at least 6 characters."""
        document_id = (document_id or "").strip().lower()
        matches = [d.document_id for d in self.documents() if d.document_id == document_id]
        if not matches and len(document_id) >= 6:
            matches = [d.document_id for d in self.documents() if d.document_id.startswith(document_id)]
        if not matches and len(document_id) < 6:
            raise AssistantError(
                f"no indexed document has the id {document_id!r}; an id prefix needs at least 6 characters (see `m1e documents`)"
            )
        if not matches:
            raise AssistantError(f"no indexed document has the id {document_id!r}")
        if len(matches) > 1:
            raise AssistantError(f"the id prefix {document_id!r} matches {len(matches)} documents; give more characters")
        return matches[0]

    def remove(self, document_id: str) -> Any:
        """Remove a document (id or unique prefix) from the index; returns its record.

        A file the web UI uploaded is deleted too (it is our copy); other files are never touched.
        """
        from indexing.store import IndexLockedError

        full_id = self.resolve_document_id(document_id)
        store = self._open()
        record = store.document(full_id)
        try:
            with self._write_lock:
                store.remove_document(full_id)
        except IndexLockedError as exc:
            raise AssistantError(f"cannot remove {full_id[:12]} now: {exc}") from exc
        self.refresh()
        uploads = self.settings.uploads_dir.resolve()
        if record is not None and record.path:
            path = Path(record.path).resolve()
            if path.is_file() and uploads in path.parents:
                path.unlink(missing_ok=True)
                for sidecar in path.parent.glob(path.name + ".meta.*"):
                    sidecar.unlink(missing_ok=True)
        return record

    # ------------------------------------------------------------------ asking
    def _retrieve(self, question: str, k: int | None, filters: SearchFilters | None) -> Retrieved:
        store = self._open()
        if store is not None:
            store.refresh()
        return retrieve(self._retriever if store is not None else None, question, k or self.settings.top_k, filters)

    def search(self, question: str, k: int | None = None, filters: SearchFilters | None = None) -> list[Evidence]:
        """Graded evidence for a question, strongest first within relevance; ids E1, E2, ... are
        the ids the same passages get in `ask` (the retrieve stage numbers them once)."""
        return self._retrieve(self._check_question(question), k, filters).evidence

    def ask(
        self,
        question: str,
        mode: Mode = "evidence",
        generator: str | None = None,
        filters: SearchFilters | None = None,
        cancel: threading.Event | None = None,
        k: int | None = None,
    ) -> Answer:
        answer: Answer | None = None
        for item in self.stream(question, mode=mode, generator=generator, filters=filters, cancel=cancel, k=k):
            if isinstance(item, Answer):
                answer = item
        assert answer is not None
        return answer

    def stream(
        self,
        question: str,
        mode: Mode = "evidence",
        generator: str | None = None,
        filters: SearchFilters | None = None,
        cancel: threading.Event | None = None,
        k: int | None = None,
    ) -> Iterator[str | Answer]:
        """Yield the answer's text pieces as they are written, then the checked `Answer`.

        The stages of `evidence.pipeline`: retrieve → plan → generate → check."""
        started = time.perf_counter()
        question = self._check_question(question)
        if mode not in ("evidence", "plain"):
            raise AssistantError(f"unknown mode {mode!r}: choose 'evidence' or 'plain'")
        gen = self.generator(generator)
        if mode == "plain" and not gen.uses_prompt:
            raise AssistantError("plain mode needs a language model: choose the local or openai generator")
        retrieved = self._retrieve(question, k, filters)
        planned = plan(retrieved, mode, gen, reserve_tokens=self.settings.max_new_tokens)
        generated = yield from generate(planned, gen, self._request(retrieved, planned), cancel)
        embedder = self.embedder if planned.mode == "evidence" and generated.called else None
        checked = check(retrieved, planned, generated, gen, max_new_tokens=self.settings.max_new_tokens, embedder=embedder)
        timings = {"retrieval": retrieved.seconds, "prompt": planned.seconds, "generation": generated.seconds,
                   "checks": checked.seconds, "total": time.perf_counter() - started}
        yield assemble(retrieved, planned, generated, checked, timings)

    def _request(self, retrieved: Retrieved, planned: Plan) -> GenerationRequest:
        """The generator's request; in plain mode `evidence` lists what was retrieved (shown as
        related evidence) although the prompt carries none of it."""
        s = self.settings
        evidence = planned.evidence if planned.mode == "evidence" else retrieved.evidence
        return GenerationRequest(question=planned.question, mode=planned.mode, evidence=evidence,
                                 conflicts=planned.conflicts, messages=planned.messages, max_new_tokens=s.max_new_tokens,
                                 temperature=s.temperature, top_p=s.top_p, embedder=self._query_embedder())

    def _query_embedder(self) -> Any:
        """The embedder retrieval already loaded (None before any index was opened): the digest
        compares a question's rare words with sentences by meaning through it (evidence.subject),
        without loading a model of its own."""
        retriever = self._retriever
        return getattr(retriever, "embedder", None)

    # ------------------------------------------------------------------ status
    def index_summary(self) -> IndexSummary:
        summary = IndexSummary(index_dir=str(self.index_dir), exists=False)
        store = self._peek()
        if store is None:
            return summary
        store.refresh()
        docs = list(store.documents())
        stats = store.stats()
        summary.exists = True
        summary.documents = int(stats.documents)
        summary.chunks = int(stats.chunks)
        summary.pages = int(stats.pages)
        for d in docs:
            if d.grade is None:
                summary.ungraded += 1
                continue
            st = d.grade.source_type.value
            summary.by_source_type[st] = summary.by_source_type.get(st, 0) + 1
            lvl = int(d.grade.level)
            summary.by_level[lvl] = summary.by_level.get(lvl, 0) + 1
        summary.embedder = getattr(store, "embedder_name", None)
        summary.dim = getattr(store, "dim", None)
        return summary

    def generator_status(self, name: str | None = None) -> GeneratorStatus:
        """Describe a generator without loading a model or calling a server."""
        name = name or self.settings.generator
        if name == "local":
            from app.generators.local import describe_local

            return describe_local(self.settings)
        gen = self.generator(name)
        detail = getattr(gen, "url", "")
        return GeneratorStatus(name=name, label=gen.label, is_demo=False, loaded=False, detail=detail)

    def info(self) -> AssistantInfo:
        status = self.generator_status()
        s = self.settings
        return AssistantInfo(
            index=self.index_summary(),
            generator=status,
            generators=list(GENERATOR_NAMES),
            demo_model=status.is_demo,
            top_k=s.top_k,
            data_dir=str(Path(s.data_dir).expanduser()),
            models_dir=str(s.resolved_models_dir),
        )


def _check_text(question: str) -> None:
    """Text the tokenizers can take: no lone surrogates (what a shell makes of non-UTF-8 bytes)
    and no control characters (NUL, terminal escapes) beyond tab and newlines."""
    try:
        question.encode("utf-8")
    except UnicodeEncodeError:
        raise AssistantError("the question is not valid text (it holds bytes that are not UTF-8); retype it") from None
    bad = next((c for c in question if (c < " " and c not in "\t\n\r") or "\x7f" <= c <= "\x9f"), None)
    if bad is not None:
        raise AssistantError(f"the question holds a control character (U+{ord(bad):04X}); remove it")


