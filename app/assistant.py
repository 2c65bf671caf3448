"""`Assistant`: the Python API behind the CLI and the web UI.

One assistant serves many threads: the embedder and any local model are loaded once per process,
the index store is shared (and refreshed after each index batch), and every request keeps its
own evidence list, so an answer's citations always point into the evidence it was given.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from app.generators import GENERATOR_NAMES, AnswerGenerator, GenerationRequest, make_generator
from app.schema import AssistantInfo, GeneratorStatus, IndexSummary
from app.settings import Settings, load_settings
from evidence.schema import Answer, AnswerWarning, Conflict, Evidence, SearchFilters

Mode = Literal["evidence", "plain"]

INSUFFICIENT_TEXT = (
    "The indexed evidence is insufficient to answer this question: no passage in the index is "
    "relevant to it{filtered}. No answer was generated. Index guidelines or papers that cover "
    "this topic{loosen}, then ask again."
)
EMPTY_INDEX_TEXT = (
    "The indexed evidence is insufficient to answer this question: nothing is indexed yet. "
    "No answer was generated. Index guidelines or papers first (`m1e index PATH`, or the "
    "Library page of the web UI), then ask again."
)
NO_ROOM_TEXT = (
    "No answer was generated: not even the strongest evidence passage fits in the model's context "
    "({context} tokens, of which {reserve} are kept for the answer). Use a model with a longer "
    "context or lower max_new_tokens."
)
DEMO_WARNING = (
    "Written by {label}. It is a small demo model that proves the runtime works offline; it is "
    "not a clinical model and its answers are not medical advice. Check every claim against the "
    "cited evidence."
)
PLAIN_WARNING = (
    "Plain mode: the model answered from its own training, not from the indexed evidence. "
    "Nothing in this answer is cited or checked."
)


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
        from indexing.readers.limits import ReadLimits

        s = self.settings
        return IndexPipeline(
            self.index_dir,
            embedder=self.embedder,
            annotator=EvidenceAnnotator(),
            chunk_tokens=s.chunk_tokens,
            chunk_overlap=s.chunk_overlap,
            workers=s.index_workers,
            limits=ReadLimits(max_file_bytes=int(s.max_file_mb * 2**20), max_text_bytes=int(s.max_text_mb * 2**20)),
            dense_options=s.dense_options,
        )

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
    def search(self, question: str, k: int | None = None, filters: SearchFilters | None = None) -> list[Evidence]:
        """Graded evidence for a question, strongest first within relevance; ids E1, E2, ..."""
        question = self._check_question(question)
        store = self._open()
        if store is None:
            return []
        store.refresh()
        evidence = self._retriever.search(question, k=k or self.settings.top_k, filters=filters)
        return _numbered(evidence)

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
        """Yield the answer's text pieces as they are written, then the checked `Answer`."""
        started = time.perf_counter()
        timings: dict[str, float] = {}
        question = self._check_question(question)
        if mode not in ("evidence", "plain"):
            raise AssistantError(f"unknown mode {mode!r}: choose 'evidence' or 'plain'")
        gen = self.generator(generator)
        if mode == "plain" and not gen.uses_prompt:
            raise AssistantError("plain mode needs a language model: choose the local or openai generator")

        t = time.perf_counter()
        # The retriever already cuts passages that are off topic (evidence.retrieval).
        retrieved = self.search(question, k=k, filters=filters)
        relevant = retrieved
        timings["retrieval"] = time.perf_counter() - t

        if mode == "evidence" and not relevant:
            answer = self._insufficient(question, gen, filters)
            answer.timings = {**timings, "total": time.perf_counter() - started}
            yield answer.text
            yield answer
            return

        warnings: list[AnswerWarning] = []
        t = time.perf_counter()
        request = GenerationRequest(
            question=question,
            mode=mode,
            evidence=relevant,
            max_new_tokens=self.settings.max_new_tokens,
            temperature=self.settings.temperature,
            top_p=self.settings.top_p,
        )
        from evidence.prompt import number_evidence

        used = number_evidence(relevant)  # E1 = strongest, as every generator presents them
        if gen.uses_prompt:
            from evidence.prompt import build_prompt

            plan = build_prompt(
                question,
                relevant if mode == "evidence" else [],
                mode=mode,
                count_tokens=gen.count_tokens,
                render_chat=gen.render_chat,
                context_tokens=gen.context_tokens,
                reserve_tokens=self.settings.max_new_tokens,
            )
            request.messages = list(plan.messages)
            if mode == "evidence":
                used = _numbered(list(plan.evidence_used))
            warnings.extend(_as_warnings(plan.warnings))
            if plan.dropped and not any(w.code == "context_truncated" for w in warnings):
                warnings.append(
                    AnswerWarning(
                        code="context_truncated",
                        message=f"{len(plan.dropped)} retrieved passage(s) did not fit in the model's context and were left out.",
                    )
                )
        if mode == "evidence" and not used:  # not even the strongest passage fits: do not guess
            answer = Answer(
                question=question,
                mode=mode,
                generator=gen.name,
                model_label="no generator was called",
                text=NO_ROOM_TEXT.format(context=gen.context_tokens, reserve=self.settings.max_new_tokens),
                insufficient_evidence=True,
                warnings=_dedupe(warnings),
                timings={**timings, "total": time.perf_counter() - started},
            )
            yield answer.text
            yield answer
            return
        conflicts: list[Conflict] = []
        if mode == "evidence":
            from evidence.conflicts import find_conflicts

            conflicts = list(find_conflicts(used))
        request.evidence, request.conflicts = used, conflicts
        timings["prompt"] = time.perf_counter() - t

        t = time.perf_counter()
        pieces: list[str] = []
        insufficient = False
        if gen.uses_prompt:
            for piece in gen.stream(request, cancel):
                pieces.append(piece)
                yield piece
        else:
            digest = gen.digest(request)  # type: ignore[attr-defined]
            insufficient = digest.insufficient_evidence
            for piece in _pieces(digest.text):
                if cancel is not None and cancel.is_set():
                    break
                pieces.append(piece)
                yield piece
        timings["generation"] = time.perf_counter() - t
        text = "".join(pieces).strip()
        cancelled = cancel is not None and cancel.is_set()
        if mode == "evidence" and _says_insufficient(text):
            insufficient = True

        t = time.perf_counter()
        answer = Answer(
            question=question,
            mode=mode,
            generator=gen.name,
            model_label=gen.label,
            text=text,
            evidence=used if mode == "evidence" else retrieved,
            conflicts=conflicts,
            insufficient_evidence=insufficient,
        )
        if gen.is_demo:
            warnings.insert(0, AnswerWarning(code="demo_model", message=DEMO_WARNING.format(label=gen.label)))
        if mode == "plain":
            warnings = [w for w in warnings if w.code != "plain_mode"]
            warnings.append(AnswerWarning(code="plain_mode", message=PLAIN_WARNING))
        if cancelled:
            warnings.append(AnswerWarning(code="generation_cancelled", message="Generation was stopped before the answer was complete."))
        if request.finish_reason == "length" and not cancelled:
            warnings.append(
                AnswerWarning(
                    code="other",
                    message=f"The answer reached the limit of {request.max_new_tokens} new tokens and may be cut off (max_new_tokens).",
                )
            )
        if request.problem and not cancelled:  # e.g. a server stream cut before [DONE]
            warnings.append(AnswerWarning(code="other", message=request.problem))
        if insufficient and not any(w.code == "insufficient_evidence" for w in warnings):
            warnings.append(AnswerWarning(code="insufficient_evidence", message="The retrieved passages do not answer this question."))
        if mode == "evidence" and text:
            from evidence.citations import check_citations

            report = check_citations(text, used, embedder=self.embedder)
            answer.checks = report
            answer.citations = list(report.citations)
            warnings.extend(_check_warnings(report))
        elif mode == "evidence" and not text and not cancelled:
            warnings.append(AnswerWarning(code="other", message="The generator returned an empty answer."))
        if conflicts:
            warnings.append(
                AnswerWarning(
                    code="conflicting_evidence",
                    message="The evidence disagrees: "
                    + "; ".join(
                        f"{c.topic}: {', '.join(c.for_ids)} for, {', '.join(c.against_ids)} against" for c in conflicts
                    ),
                )
            )
        answer.warnings = _dedupe(warnings)
        timings["checks"] = time.perf_counter() - t
        timings["total"] = time.perf_counter() - started
        answer.timings = timings
        yield answer

    def _insufficient(self, question: str, gen: AnswerGenerator, filters: SearchFilters | None) -> Answer:
        filtered = filters is not None and any(v for v in filters.model_dump().values())
        if self._open() is None:
            text = EMPTY_INDEX_TEXT
        else:
            text = INSUFFICIENT_TEXT.format(
                filtered=" under the chosen filters" if filtered else "",
                loosen=" or loosen the filters" if filtered else "",
            )
        return Answer(
            question=question,
            mode="evidence",
            generator=gen.name,
            model_label="no generator was called",
            text=text,
            insufficient_evidence=True,
            warnings=[AnswerWarning(code="insufficient_evidence", message="No relevant evidence was found in the index.")],
        )

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


def _numbered(evidence: list[Evidence]) -> list[Evidence]:
    """Give evidence without an id the next `E<n>`; ids already set (by the retriever) are kept."""
    if all(e.evidence_id for e in evidence) and len({e.evidence_id for e in evidence}) == len(evidence):
        return evidence
    return [e.model_copy(update={"evidence_id": f"E{i}"}) for i, e in enumerate(evidence, 1)]


def _says_insufficient(text: str) -> bool:
    head = text.lstrip(" *_#>").lower()
    return head.startswith("insufficient evidence") or head.startswith("证据不足")


def _dedupe(warnings: list[AnswerWarning]) -> list[AnswerWarning]:
    seen: set[tuple[str, str]] = set()
    out = []
    for w in warnings:
        if (w.code, w.message) not in seen:
            seen.add((w.code, w.message))
            out.append(w)
    return out


def _pieces(text: str) -> Iterator[str]:
    for piece in re.split(r"(\s+)", text):
        if piece:
            yield piece


def _as_warnings(items: Iterable[Any]) -> list[AnswerWarning]:
    out = []
    for item in items or []:
        if isinstance(item, AnswerWarning):
            out.append(item)
        elif isinstance(item, str):
            out.append(AnswerWarning(code="other", message=item))
    return out


def _check_warnings(report: Any) -> list[AnswerWarning]:
    out = []
    if report.unknown_ids:
        out.append(
            AnswerWarning(
                code="unknown_citations",
                message=f"The answer cites evidence that was not given to the model: {', '.join(report.unknown_ids)}.",
            )
        )
    if report.unsupported_sentences:
        out.append(
            AnswerWarning(
                code="unsupported_claims",
                message=f"{len(report.unsupported_sentences)} cited sentence(s) are not supported by the passage they cite.",
            )
        )
    if report.uncited_claims:
        out.append(
            AnswerWarning(
                code="uncited_claims",
                message=f"{len(report.uncited_claims)} sentence(s) make a claim without citing any evidence.",
            )
        )
    return out
