"""The batch indexer: files -> documents -> chunks -> labels -> vectors -> store commits.

Reading, cleaning, chunking, labelling and lexical tokenising run in a small thread pool ahead
of the main thread, which embeds and commits; so the embedder (the slow part) is kept busy
and the whole run stays close to the time of embedding alone. Commits happen every
`commit_every` files, each atomic, so a crash loses at most the files since the last one and a
rerun skips everything already committed.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from indexing.errors import ReadError
from indexing.labels import Annotator
from indexing.readers.limits import ReadLimits
from indexing.lexical import lexical_tokens
from indexing.progress import (
    FileOutcome,
    IndexProgress,
    IndexReport,
    IndexTotals,
    StageSeconds,
)
from indexing.schema import Chunk, Document
from indexing.store import DenseOptions, FileState, IndexStore

ProgressCallback = Callable[[IndexProgress], None]

__all__ = ["FileOutcome", "IndexPipeline", "IndexProgress", "IndexReport", "IndexTotals", "StageSeconds"]


@dataclass
class _Prepared:
    """One input after the worker is done with it (plain dataclass: lives only in this loop)."""

    path: str
    content_hash: str = ""
    size: int = 0
    mtime: float = 0.0
    status: str = "read"  # read | unchanged | failed
    reason: str | None = None
    document: Document | None = None
    chunks: list[Chunk] = field(default_factory=list)
    lexical: list[list[str]] = field(default_factory=list)
    read_s: float = 0.0
    clean_chunk_s: float = 0.0
    annotate_s: float = 0.0


def _hash_file(path: Path, digest) -> None:
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)


def content_hash(path: Path, data: bytes | None = None) -> str:
    """Hash of the file and of any metadata sidecar beside it: a change to either re-indexes.
    Give `data` (the bytes about to be parsed) so the hash is of exactly those bytes."""
    return _hashes(path, data if data is not None else path.read_bytes())[1]


def _hashes(path: Path, data: bytes) -> tuple[str, str]:
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
        self.dense_options = dense_options  # flat vs HNSW choice for the index (None: by size)
        self.limits = limits  # per-file caps (None: ReadLimits() from the M1E_MAX_* variables)

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
        return self._run(files, missing, progress, prune)

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

    # ---- the worker side ---------------------------------------------------------------------------

    def _prepare(self, item: Path | Document, known: dict[str, FileState]) -> _Prepared:
        try:
            return self._prepare_one(item, known)
        except ReadError as exc:
            reason = exc.reason
        except OSError as exc:
            reason = f"cannot read file ({exc.strerror or exc})"
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the batch; say what broke
            reason = f"unexpected {type(exc).__name__}: {exc}".splitlines()[0]
        path = item.path if isinstance(item, Document) else str(item)
        return _Prepared(path=path, status="failed", reason=reason)

    def _prepare_one(self, item: Path | Document, known: dict[str, FileState]) -> _Prepared:
        """Read a file's bytes once: hash them, skip them when the store already holds exactly
        them, else parse those same bytes (a file rewritten meanwhile cannot mix versions)."""
        started = time.perf_counter()
        if isinstance(item, Document):
            prepared = _Prepared(path=item.path, content_hash=document_hash(item))
            document_id, data, document = item.document_id, b"", item
        else:
            from indexing.readers import read_file_bytes

            limits = self.limits or ReadLimits()
            prepared = _Prepared(path=str(item))
            data = read_file_bytes(item, limits)
            stat = item.stat()
            prepared.size, prepared.mtime = len(data), stat.st_mtime
            document_id, prepared.content_hash = _hashes(item, data)
            document = None
        state = known.get(prepared.path)
        if state is not None and state.content_hash == prepared.content_hash and state.document_id == document_id:
            prepared.status = "unchanged"  # same bytes and sidecar as last time: not read again
            return prepared
        if document is None:
            from indexing.readers import read_document

            document = read_document(item, limits, data=data)
        prepared.read_s = time.perf_counter() - started
        self._clean_chunk_label(document, prepared)
        return prepared

    def _clean_chunk_label(self, document: Document, prepared: _Prepared) -> None:
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

    # ---- the main loop ---------------------------------------------------------------------------------

    def _run(
        self,
        items: list[Path | Document],
        missing: list[FileOutcome],
        progress: ProgressCallback | None,
        prune: bool,
    ) -> IndexReport:
        started = time.perf_counter()
        report = IndexReport(index_dir=str(self.store_dir), embedder=self.embedder.name)
        report.failed.extend(missing)
        times = report.stage_seconds
        totals = report.totals
        totals.files = len(items) + len(missing)
        done = len(missing)

        def tell(stage: str, current: str | None = None) -> None:
            if progress is not None:
                progress(
                    IndexProgress(
                        files_done=done,
                        files_total=totals.files,
                        pages=totals.pages,
                        chunks=totals.chunks,
                        current_path=current,
                        stage=stage,
                    )
                )

        tell("scanning")
        store = IndexStore.open(
            self.store_dir,
            create=True,
            embedder_name=self.embedder.name,
            dim=self.embedder.dim,
            dense_options=self.dense_options,
        )
        try:
            with store.writer() as writer:
                known = writer.known_files()
                by_hash = {s.content_hash: s.document_id for s in known.values()}
                holder = {s.document_id: s.path for s in known.values()}
                waiting: list[_Prepared] = []  # read, not yet embedded
                staged_files = 0

                def flush(commit: bool) -> None:
                    nonlocal staged_files
                    if waiting:
                        tell("embedding", waiting[-1].path)
                        t0 = time.perf_counter()
                        texts = [c.text for p in waiting for c in p.chunks]
                        vectors = self.embedder.embed_passages(texts) if texts else np.zeros((0, self.embedder.dim))
                        times.embed += time.perf_counter() - t0
                        t0 = time.perf_counter()
                        offset = 0
                        for p in waiting:
                            n = len(p.chunks)
                            writer.add_document(
                                p.document, p.chunks, vectors[offset : offset + n], self._file_states(p), p.lexical
                            )
                            offset += n
                            totals.chunks += n
                        times.write += time.perf_counter() - t0
                        staged_files += len(waiting)
                        waiting.clear()
                    if commit and writer.pending:
                        tell("committing")
                        t0 = time.perf_counter()
                        report.generation = writer.commit()
                        times.write += time.perf_counter() - t0
                        staged_files = 0

                def is_live(document_id: str) -> bool:
                    """Committed, staged, or waiting to be embedded in this run."""
                    return any(p.document.document_id == document_id for p in waiting) or writer.has_document(document_id)

                for prepared in self._prepared(items, known):
                    done += 1
                    times.read += prepared.read_s
                    times.clean_chunk += prepared.clean_chunk_s
                    times.annotate += prepared.annotate_s
                    outcome = FileOutcome(path=prepared.path, status="unchanged", document_id=None)
                    if prepared.status == "failed":
                        outcome.status, outcome.reason = "failed", prepared.reason
                        report.failed.append(outcome)
                    elif prepared.status == "unchanged":
                        outcome.document_id = known[prepared.path].document_id
                        report.unchanged.append(outcome)
                    elif by_hash.get(prepared.content_hash) == prepared.document.document_id and is_live(
                        prepared.document.document_id
                    ):
                        # Same bytes (and sidecar) as a file already indexed or staged: store once.
                        # (The id check refuses a stale record whose hash is not of its bytes.)
                        document_id = by_hash[prepared.content_hash]
                        writer.link_file(self._file_state(prepared, document_id))
                        staged_files += 1
                        outcome.document_id = document_id
                        outcome.reason = f"same content as {holder.get(document_id, 'another file')}"
                        report.unchanged.append(outcome)
                    else:
                        document = prepared.document
                        by_hash[prepared.content_hash] = document.document_id
                        holder.setdefault(document.document_id, prepared.path)
                        outcome.status = "indexed"
                        outcome.document_id = document.document_id
                        outcome.pages, outcome.chunks = len(document.pages), len(prepared.chunks)
                        report.indexed.append(outcome)
                        totals.pages += len(document.pages)
                        waiting.append(prepared)
                    tell("reading", prepared.path)
                    n_waiting = sum(len(p.chunks) for p in waiting)
                    if n_waiting >= self.embed_batch_chunks or staged_files + len(waiting) >= self.commit_every:
                        flush(commit=staged_files + len(waiting) >= self.commit_every)
                if prune:
                    tell("pruning")
                    before = {s.document_id: s.path for s in known.values()}
                    for document_id in writer.prune():
                        report.removed.append(
                            FileOutcome(path=before.get(document_id, ""), status="removed", document_id=document_id)
                        )
                flush(commit=True)
            report.generation = store.generation
            stats = store.stats()
            totals.documents_in_index, totals.chunks_in_index = stats.documents, stats.chunks
        finally:
            store.close()
        totals.indexed, totals.unchanged = len(report.indexed), len(report.unchanged)
        totals.failed, totals.removed = len(report.failed), len(report.removed)
        report.seconds = time.perf_counter() - started
        tell("done")
        return report

    def _prepared(self, items: list[Path | Document], known: dict[str, FileState]) -> Iterator[_Prepared]:
        """Worker results in input order, with a bounded number in flight (flat memory)."""
        ahead = self.commit_every + 2 * self.workers
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="m1e-read") as pool:
            pending: deque[Future] = deque()
            queue = iter(items)
            for item in queue:
                pending.append(pool.submit(self._prepare, item, known))
                if len(pending) >= ahead:
                    break
            while pending:
                result = pending.popleft().result()
                nxt = next(queue, None)
                if nxt is not None:
                    pending.append(pool.submit(self._prepare, nxt, known))
                yield result

    @staticmethod
    def _file_state(prepared: _Prepared, document_id: str) -> FileState:
        return FileState(prepared.path, document_id, prepared.content_hash, prepared.size, prepared.mtime)

    def _file_states(self, prepared: _Prepared) -> list[FileState]:
        return [self._file_state(prepared, prepared.document.document_id)]
