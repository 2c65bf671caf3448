"""The batch indexer: files -> documents -> chunks -> labels -> vectors -> store commits.

The per-input work (read, clean, chunk, label, tokenise; indexing/work.py) runs in a runner
passed in (indexing/runners.py): by default a small thread pool ahead of the main thread, which
embeds and commits, so the embedder (the slow part) is kept busy and the whole run stays close
to the time of embedding alone; or Ray tasks on a cluster that embed too (indexing/ray_runner.py).
Either way results arrive in input order and only this loop writes to the store. Commits happen
every `commit_every` files, each atomic, so a crash loses at most the files since the last one
and a rerun skips everything already committed."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from indexing.labels import Annotator
from indexing.readers.limits import ReadLimits
from indexing.progress import (
    FileOutcome,
    IndexProgress,
    IndexReport,
    IndexTotals,
    StageSeconds,
)
from indexing.runners import LocalRunner, Runner
from indexing.schema import Document
from indexing.store import DenseOptions, FileState, IndexStore
from indexing.work import Prepared, Preparer, content_hash, document_hash, item_path

ProgressCallback = Callable[[IndexProgress], None]

__all__ = [
    "FileOutcome", "IndexPipeline", "IndexProgress", "IndexReport", "IndexTotals", "StageSeconds",
    "content_hash", "document_hash",
]


def _has_sidecar(path: str) -> bool:
    from indexing.readers.sidecar import sidecar_candidates

    return any(p.is_file() for p in sidecar_candidates(Path(path)))


def _unchanged_on_disk(state: FileState) -> bool:
    """The file still has the size and modification time it had when indexed."""
    try:
        stat = os.stat(state.path)
    except OSError:
        return False
    return stat.st_size == state.size and stat.st_mtime == state.mtime


def pubmed_document_id(pmid: str) -> str:
    """A PubMed article is identified by its PMID, not its bytes: a later version replaces it."""
    return hashlib.sha256(f"pubmed:{pmid}".encode()).hexdigest()


_LANGUAGES = {"eng": "en", "chi": "zh", "zho": "zh"}  # MEDLINE's three-letter codes we recognise


def pubmed_document(record, source: Path) -> Document:
    """One document per article: title and abstract (with its section labels) as the text; PMID,
    DOI, journal, year, MeSH terms and publication types as metadata the grader reads."""
    from indexing.schema import Page, SourceMeta
    from indexing.store.writer import RECORD_MARK

    abstract = record.abstract_text or ""
    text = "\n\n".join(part for part in (record.title, abstract) if part)
    language = _LANGUAGES.get((record.language or "").lower(), record.language or None)
    meta = SourceMeta(
        title=record.title or None,
        year=record.year,
        doi=record.doi,
        journal=record.journal,
        url=f"https://pubmed.ncbi.nlm.nih.gov/{record.pmid}/",
        language=language,
        publication_types=list(record.publication_types),
        mesh_terms=list(record.mesh_terms),
        abstract=abstract or None,
    )
    return Document(
        document_id=pubmed_document_id(record.pmid),
        path=f"{source}{RECORD_MARK}{record.pmid}",
        format="text",
        title=record.title or f"PMID {record.pmid}",
        pages=[Page(number=1, text=text or f"PMID {record.pmid}")],
        meta=meta,
    )


def is_pubmed_file(path: Path) -> bool:
    return path.name.lower().endswith((".xml", ".xml.gz"))


def expand_pubmed(files: list[Path]) -> tuple[list[Path | Document], dict[str, str], list[FileOutcome]]:
    """PubMed/MEDLINE XML files (`PubmedArticleSet`, plain or .gz) become one document per article;
    their DeleteCitation lists become removals (document id -> path to report). Other files pass.
    Articles arrive in file order, so an update file named after the baseline replaces its
    versions; a file that fails part way keeps the articles read before the failure."""
    items: list[Path | Document] = []
    deletions: dict[str, str] = {}
    failed: list[FileOutcome] = []
    for path in files:
        if not is_pubmed_file(path):
            items.append(path)
            continue
        try:
            from indexing.readers import pubmed
        except ModuleNotFoundError as exc:
            if exc.name != "indexing.readers.pubmed":
                raise
            items.append(path)  # no PubMed reader in this install: the file fails with the usual reason
            continue
        try:
            for record in pubmed.iter_pubmed(path):
                items.append(pubmed_document(record, path))
                deletions.pop(pubmed_document_id(record.pmid), None)  # deleted, then published again
            for pmid in pubmed.deleted_pmids(path):
                deletions[pubmed_document_id(pmid)] = f"{path}#pmid={pmid}"
        except pubmed.PubmedError as exc:
            failed.append(FileOutcome(path=str(path), status="failed", reason=str(exc)))
    # an article deleted by a later file is not read (its earlier version is removed instead)
    items = [i for i in items if not (isinstance(i, Document) and i.document_id in deletions)]
    return items, deletions, failed


def collect_files(paths: Iterable[str | Path], recursive: bool = True) -> tuple[list[Path], list[FileOutcome]]:
    """Files to index from files and folders, deduplicated, in a stable order; plus paths that
    do not exist. Folders contribute supported, non-hidden, non-sidecar files; a file named
    explicitly is always tried, so an unsupported one gets a clear reason instead of silence."""
    from indexing.readers import is_supported

    found: list[Path] = []
    missing: list[FileOutcome] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        p = p.resolve()
        if p not in seen:
            seen.add(p)
            found.append(p)

    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            walker = sorted(path.rglob("*")) if recursive else sorted(path.iterdir())
            for child in walker:
                rel = child.relative_to(path).parts
                if any(part.startswith(".") for part in rel):
                    continue
                if child.is_file() and is_supported(child):
                    add(child)
        elif path.exists():
            add(path)
        else:
            missing.append(FileOutcome(path=str(path), status="failed", reason="no such file or directory"))
    return found, missing


class IndexPipeline:
    def __init__(
        self,
        store_dir: str | Path,
        embedder=None,
        annotator: Annotator | None = None,
        chunk_tokens: int = 200,
        chunk_overlap: int = 40,
        workers: int = 1,
        commit_every: int = 32,
        embed_batch_chunks: int = 256,
        dense_options: DenseOptions | None = None,
        limits: ReadLimits | None = None,
        runner: Runner | None = None,
    ):
        if embedder is None:
            from indexing.embedding import load_embedder

            embedder = load_embedder()
        self.store_dir = Path(store_dir).expanduser()
        self.embedder = embedder
        self.annotator = annotator
        self.chunk_tokens = chunk_tokens
        self.chunk_overlap = chunk_overlap
        self.workers = max(1, int(workers))
        self.commit_every = max(1, int(commit_every))
        self.embed_batch_chunks = max(1, int(embed_batch_chunks))
        self.dense_options = dense_options  # when the dense side gets compressed codes (None: defaults)
        self.limits = limits  # per-file caps (None: ReadLimits() from the M1E_MAX_* variables)
        # Where reading..embedding runs (indexing/runners.py); the store is only touched here.
        self.runner: Runner = runner if runner is not None else LocalRunner(self.workers)

    @property
    def preparer(self) -> Preparer:
        """The per-input work with this pipeline's settings (what a runner ships to its workers).
        Limits are resolved here, so remote workers apply this machine's M1E_MAX_* variables."""
        limits = self.limits or ReadLimits()
        return Preparer(self.embedder, self.annotator, self.chunk_tokens, self.chunk_overlap, limits)

    # ---- public ------------------------------------------------------------------------------

    def run(
        self,
        paths: Iterable[str | Path],
        recursive: bool = True,
        progress: ProgressCallback | None = None,
        prune: bool = False,
    ) -> IndexReport:
        """Index files and folders; unchanged files are skipped, failures reported, never fatal."""
        files, missing = collect_files(paths, recursive)
        items, deletions, failed = expand_pubmed(files)
        return self._run(items, missing + failed, progress, prune, deletions)

    def run_demo(self, progress: ProgressCallback | None = None) -> IndexReport:
        """Index the bundled demo corpus (open-medicine guideline summaries + sample files)."""
        from indexing.readers import demo

        if hasattr(demo, "open_medicine_documents") and hasattr(demo, "demo_paths"):
            # Registry documents come pre-read; the sample files go through the normal per-file
            # path, so an unchanged one is not re-read and a failing one fails alone.
            items: list[Path | Document] = list(demo.open_medicine_documents())
            items += [p.resolve() for p in demo.demo_paths()]
        else:  # pragma: no cover - older readers module
            items = list(demo.demo_documents())
        return self._run(items, [], progress, prune=False)

    # ---- the main loop ---------------------------------------------------------------------------------

    def _run(
        self,
        items: list[Path | Document],
        missing: list[FileOutcome],
        progress: ProgressCallback | None,
        prune: bool,
        deletions: dict[str, str] | None = None,
    ) -> IndexReport:
        started = time.perf_counter()
        report = IndexReport(index_dir=str(self.store_dir), embedder=self.embedder.name, runner=str(self.runner))
        report.failed.extend(missing)
        report.totals.files = len(items) + len(missing)
        run = _IndexRun(self, report, progress, done=len(missing))
        run.tell("scanning")
        store = IndexStore.open(
            self.store_dir,
            create=True,
            embedder_name=self.embedder.name,
            dim=self.embedder.dim,
            dense_options=self.dense_options,
        )
        try:
            with store.writer() as writer:
                run.start(writer)
                jobs = [(item, run.known.get(item_path(item))) for item in items]
                for prepared in self.runner.prepared(run.preparer, jobs, ahead=self.commit_every):
                    run.settle(prepared)
                if deletions:
                    run.remove_deleted(deletions)
                if prune:
                    run.prune()
                run.flush(commit=True)
            report.generation = store.generation
            stats = store.stats()
            report.totals.documents_in_index, report.totals.chunks_in_index = stats.documents, stats.chunks
        finally:
            store.close()
        totals = report.totals
        totals.indexed, totals.unchanged = len(report.indexed), len(report.unchanged)
        totals.failed, totals.removed = len(report.failed), len(report.removed)
        report.seconds = time.perf_counter() - started
        run.tell("done")
        return report

    @staticmethod
    def _record_holder(writer, prepared: Prepared, known: dict[str, FileState], waiting: list[Prepared]) -> str | None:
        """The other path whose record must stay for this document, or None to index it normally.

        A file whose document is already live (or waiting in this run) under another name that
        still holds it is a second name for the same content. It becomes a link unless it brings
        a sidecar the first name lacks (curated metadata replaces guessed, never the reverse).
        """
        document_id = prepared.document.document_id
        if not Path(prepared.path).is_file():  # pre-read documents (the demo registry) keep their identity rules
            return None
        holder = next((p.path for p in waiting if p.document.document_id == document_id), None)
        if holder is None:
            holder = writer.document_path(document_id)
            state = known.get(holder) if holder else None
            if state is None or state.document_id != document_id or not _unchanged_on_disk(state):
                return None  # the first name changed or went away: this name takes the record over
        if holder == prepared.path or (_has_sidecar(prepared.path) and not _has_sidecar(holder)):
            return None
        return holder

    @staticmethod
    def _file_state(prepared: Prepared, document_id: str) -> FileState:
        return FileState(prepared.path, document_id, prepared.content_hash, prepared.size, prepared.mtime)

    def _file_states(self, prepared: Prepared) -> list[FileState]:
        return [self._file_state(prepared, prepared.document.document_id)]


class _IndexRun:
    """The state of one `IndexPipeline._run` between its files: what the store already holds,
    the documents read but not yet embedded (`waiting`), and the files staged since the last
    commit. Each prepared file is settled here in input order; only this object writes."""

    def __init__(self, pipeline: IndexPipeline, report: IndexReport, progress: ProgressCallback | None, done: int):
        self.pipeline = pipeline
        self.report = report
        self.progress = progress
        self.done = done  # files finished (read, skipped or failed), for the progress line
        self.preparer = pipeline.preparer
        self.waiting: list[Prepared] = []  # read, not yet embedded
        self.staged_files = 0  # files written or linked since the last commit

    def start(self, writer) -> None:
        self.writer = writer
        self.known: dict[str, FileState] = writer.known_files()
        self.by_hash = {s.content_hash: s.document_id for s in self.known.values()}
        self.holder = {s.document_id: s.path for s in self.known.values()}

    def tell(self, stage: str, current: str | None = None) -> None:
        if self.progress is not None:
            totals = self.report.totals
            self.progress(
                IndexProgress(
                    files_done=self.done,
                    files_total=totals.files,
                    pages=totals.pages,
                    chunks=totals.chunks,
                    current_path=current,
                    stage=stage,
                )
            )

    def settle(self, prepared: Prepared) -> None:
        """Record one prepared file's outcome, and embed/commit when a batch is full."""
        self.done += 1
        times = self.report.stage_seconds
        times.read += prepared.read_s
        times.clean_chunk += prepared.clean_chunk_s
        times.annotate += prepared.annotate_s
        if prepared.status == "failed":
            self.report.failed.append(FileOutcome(path=prepared.path, status="failed", reason=prepared.reason))
        elif prepared.status == "unchanged":
            document_id = self.known[prepared.path].document_id
            self.report.unchanged.append(FileOutcome(path=prepared.path, status="unchanged", document_id=document_id))
        elif self.by_hash.get(prepared.content_hash) == prepared.document.document_id and self._is_live(
            prepared.document.document_id
        ):
            # Same bytes (and sidecar) as a file already indexed or staged: store once.
            # (The id check refuses a stale record whose hash is not of its bytes.)
            document_id = self.by_hash[prepared.content_hash]
            self._link(prepared, document_id, f"same content as {self.holder.get(document_id, 'another file')}")
        elif (kept := IndexPipeline._record_holder(self.writer, prepared, self.known, self.waiting)) is not None:
            # The same document under a second name: a link, never a replacement that would
            # drop what the first name's sidecar stated (year, organisation, ...).
            self._link(prepared, prepared.document.document_id, f"same document as {kept}; its record and metadata kept")
        else:
            self._add(prepared)
        self.tell("reading", prepared.path)
        n_waiting = sum(len(p.chunks) for p in self.waiting)
        files = self.staged_files + len(self.waiting)
        if n_waiting >= self.pipeline.embed_batch_chunks or files >= self.pipeline.commit_every:
            self.flush(commit=files >= self.pipeline.commit_every)

    def _link(self, prepared: Prepared, document_id: str, reason: str) -> None:
        self.writer.link_file(IndexPipeline._file_state(prepared, document_id))
        self.staged_files += 1
        outcome = FileOutcome(path=prepared.path, status="unchanged", document_id=document_id, reason=reason)
        self.report.unchanged.append(outcome)

    def _add(self, prepared: Prepared) -> None:
        document = prepared.document
        self.by_hash[prepared.content_hash] = document.document_id
        self.holder.setdefault(document.document_id, prepared.path)
        self.report.indexed.append(
            FileOutcome(
                path=prepared.path,
                status="indexed",
                document_id=document.document_id,
                pages=len(document.pages),
                chunks=len(prepared.chunks),
            )
        )
        self.report.totals.pages += len(document.pages)
        self.waiting.append(prepared)

    def _is_live(self, document_id: str) -> bool:
        """Committed, staged, or waiting to be embedded in this run."""
        return any(p.document.document_id == document_id for p in self.waiting) or self.writer.has_document(document_id)

    def flush(self, commit: bool) -> None:
        """Embed and stage what is waiting; with `commit`, commit the staged files, then merge
        segments (merging is not part of the commit: a crash there costs nothing committed)."""
        times, writer = self.report.stage_seconds, self.writer
        if self.waiting:
            self.tell("embedding", self.waiting[-1].path)
            todo = [p for p in self.waiting if p.vectors is None]  # a remote runner embedded the rest
            if todo:
                self.preparer.embed(todo)
            times.embed += sum(p.embed_s for p in self.waiting)
            t0 = time.perf_counter()
            for p in self.waiting:
                writer.add_document(p.document, p.chunks, p.vectors, self.pipeline._file_states(p), p.lexical)
                self.report.totals.chunks += len(p.chunks)
            times.write += time.perf_counter() - t0
            self.staged_files += len(self.waiting)
            self.waiting.clear()
        if commit and writer.pending:
            self.tell("committing")
            t0 = time.perf_counter()
            self.report.generation = writer.commit()
            self.staged_files = 0
            writer.maybe_merge()
            times.write += time.perf_counter() - t0

    def remove_deleted(self, deletions: dict[str, str]) -> None:
        """Remove the articles a PubMed deleted-citation list names (staged earlier ones too)."""
        self.flush(commit=False)
        for document_id, path in deletions.items():
            if self.writer.has_document(document_id):
                self.writer.remove_document(document_id)
                self.report.removed.append(FileOutcome(path=path, status="removed", document_id=document_id))

    def prune(self) -> None:
        """Remove documents whose files are gone (`m1e index --prune`)."""
        self.tell("pruning")
        before = {s.document_id: s.path for s in self.known.values()}
        for document_id in self.writer.prune():
            self.report.removed.append(FileOutcome(path=before.get(document_id, ""), status="removed", document_id=document_id))
