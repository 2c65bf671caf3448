"""`m1e index`: build or update the index from files and folders (or the bundled demo corpus)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.rendering import printable


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "index",
        help="index guideline PDFs, markdown and text files (or the demo corpus)",
        description=(
            "Read, chunk, grade and embed documents into the index. Unchanged files are skipped, "
            "changed ones replaced; every file that cannot be read is reported with its reason. "
            "Exit status 1 if any file failed."
        ),
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="files and folders to index")
    parser.add_argument("--demo", action="store_true", help="index the bundled demo corpus")
    parser.add_argument("--index", metavar="DIR", help="index directory (default: index_dir setting)")
    parser.add_argument(
        "--recursive",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="descend into subfolders (default: yes)",
    )
    parser.add_argument("--workers", type=int, metavar="N", help="reader threads (default: index_workers setting)")
    parser.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="read, grade and embed as Ray Data tasks on the Ray cluster at ADDRESS (HOST:PORT, "
        "ray://HOST:PORT, auto, or local to start one here; off: this process); commits stay here. "
        "Needs pip install 'm1-evidence[ray]'; the nodes must see the same file paths (default: ray setting)",
    )
    parser.add_argument("--ray-workers", type=int, metavar="N", help="Ray actors (default: one per cluster CPU)")
    parser.add_argument("--json-report", metavar="FILE", help="also write the full report as JSON to FILE")
    parser.add_argument("--prune", action="store_true", help="remove documents whose files no longer exist")
    parser.add_argument(
        "--optimize",
        action="store_true",
        help="merge the index's segments into one (dropping removed rows) and retrain the compressed "
        "dense codes; alone, or after indexing the given paths",
    )
    parser.set_defaults(func=run)


def _annotator():
    """The evidence grader, if this install has it (indexing itself never imports evidence/)."""
    try:
        from evidence.annotator import EvidenceAnnotator
    except ModuleNotFoundError as exc:
        if exc.name not in ("evidence.annotator", "evidence"):
            raise
        print("m1e index: warning: evidence grader not available; documents are stored without grades", file=sys.stderr)
        return None
    return EvidenceAnnotator()


class _ProgressBar:
    """tqdm on stderr: files done of total, with pages and chunks so far."""

    def __init__(self) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=0, unit="file", file=sys.stderr, dynamic_ncols=True, mininterval=0.3, leave=False)

    def __call__(self, event) -> None:
        if self._bar.total != event.files_total:
            self._bar.total = event.files_total
        self._bar.n = event.files_done
        self._bar.set_postfix_str(f"{event.pages} pages, {event.chunks} chunks, {event.stage}", refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        self._bar.close()


class _ProgressLines:
    """Progress for a log file or a cron job's mail, where a bar's carriage returns make one
    unreadable line: a plain line at most every `every` seconds, and one when the run ends.
    30 s keeps an overnight run of 100k files to about a thousand lines."""

    def __init__(self, every: float = 30.0, clock=None, stream=None) -> None:
        import time

        self._clock = clock or time.monotonic
        self._stream = stream or sys.stderr
        self._every = every
        self._started = self._clock()
        self._last_print: float | None = None
        self._last_event = None
        self._printed = None

    def __call__(self, event) -> None:
        self._last_event = event
        now = self._clock()
        if self._last_print is None or now - self._last_print >= self._every:
            self._print(event, now)

    def _print(self, event, now: float) -> None:
        self._last_print, self._printed = now, event
        print(
            f"m1e index: {event.files_done}/{event.files_total} files, {event.pages} pages, "
            f"{event.chunks} chunks, {event.stage} ({now - self._started:.0f} s)",
            file=self._stream,
            flush=True,
        )

    def close(self) -> None:
        if self._last_event is not None and self._printed is not self._last_event:
            self._print(self._last_event, self._clock())


def _progress():
    """A bar on a terminal, plain lines otherwise (a pipe, a log file, cron)."""
    return _ProgressBar() if sys.stderr.isatty() else _ProgressLines()


def summary_lines(report) -> list[str]:
    t = report.totals
    lines = [
        f"indexed {t.indexed} file(s) ({t.pages} pages, {t.chunks} chunks); "
        f"unchanged {t.unchanged}; failed {t.failed}" + (f"; removed {t.removed}" if t.removed else ""),
    ]
    for outcome in report.unchanged:
        if outcome.reason:
            lines.append(f"  unchanged {outcome.path}: {outcome.reason}")
    for outcome in report.failed:
        lines.append(f"  FAILED {outcome.path}: {outcome.reason}")
    for outcome in report.removed:
        lines.append(f"  removed {outcome.path or outcome.document_id}")
    lines.append(
        f"index {report.index_dir}: {t.documents_in_index} documents, {t.chunks_in_index} chunks "
        f"(generation {report.generation}, {report.embedder}"
        + (f", {report.runner}" if report.runner != "local" else "")
        + f") in {report.seconds:.1f} s"
    )
    return lines


def run(args: argparse.Namespace) -> int:
    from app.cli import CommandError
    from app.settings import load_settings
    from indexing.embedding import load_embedder
    from indexing.pipeline import IndexPipeline

    if not args.paths and not args.demo and not args.optimize:
        raise CommandError("name at least one file or folder to index, or use --demo or --optimize")
    if args.workers is not None and args.workers < 1:
        raise CommandError(f"--workers must be at least 1, got {args.workers}")
    if args.ray_workers is not None and args.ray_workers < 1:
        raise CommandError(f"--ray-workers must be at least 1, got {args.ray_workers}")
    settings = load_settings(index_dir=args.index, index_workers=args.workers, ray=args.ray,
                             ray_workers=args.ray_workers)
    if not args.paths and not args.demo:
        return _optimize(settings)
    runner = _runner(settings)
    try:
        embedder = load_embedder(settings.embedding_model, batch_size=settings.embedding_batch_size)
        pipeline = IndexPipeline(
            settings.resolved_index_dir,
            embedder=embedder,
            annotator=_annotator(),
            chunk_tokens=settings.chunk_tokens,
            chunk_overlap=settings.chunk_overlap,
            workers=settings.index_workers,
            dense_options=settings.dense_options,
            runner=runner,
        )
        report = _index(pipeline, args)
    finally:
        if runner is not None:
            runner.close()
    if args.json_report:
        path = Path(args.json_report).expanduser()
        try:
            path.write_text(report.model_dump_json(indent=2), encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot write JSON report {path}: {exc.strerror or exc}") from None
    print(printable("\n".join(summary_lines(report))))  # file names and reasons may hold escapes
    if args.optimize:
        _optimize(settings)
    return 1 if report.failed else 0


def _runner(settings):
    """A connected RayRunner when the ray setting (or --ray) names a cluster, else None (this
    process). Connecting first makes a missing package or an unreachable address fail at once."""
    address = settings.ray_address
    if address is None:
        return None
    from app.cli import CommandError
    from indexing.ray_runner import RayRunner, RayRunnerError

    runner = RayRunner(address, workers=settings.ray_workers)
    try:
        runner.connect()
    except RayRunnerError as exc:
        raise CommandError(str(exc)) from None
    return runner


def _index(pipeline, args):
    from app.cli import CommandError
    from indexing.ray_runner import RayRunnerError

    bar = _progress()
    try:
        if args.demo:
            report = pipeline.run_demo(progress=bar)
            if args.paths:
                more = pipeline.run(args.paths, recursive=args.recursive, progress=bar, prune=args.prune)
                report = report.then(more)
        else:
            report = pipeline.run(args.paths, recursive=args.recursive, progress=bar, prune=args.prune)
    except RayRunnerError as exc:  # what was committed before stays; a rerun finishes the job
        raise CommandError(f"{exc}; files committed before the failure stay indexed, rerun to finish") from None
    finally:
        bar.close()
    return report


def _optimize(settings) -> int:
    """Merge every segment into one; the index stays readable throughout (readers keep theirs)."""
    import time

    from app.cli import CommandError
    from indexing.store import IndexStore, IndexStoreError

    started = time.perf_counter()
    try:
        store = IndexStore.open(settings.resolved_index_dir, dense_options=settings.dense_options)
    except IndexStoreError as exc:
        raise CommandError(str(exc)) from None
    try:
        before = store.stats().segments
        store.optimize()
        stats = store.stats()
    finally:
        store.close()
    print(
        f"optimized {stats.path}: {before} segment(s) -> {stats.segments}, {stats.chunks} chunks, "
        f"dense {stats.dense_kind}, {stats.size_bytes / 2**20:.0f} MB in {time.perf_counter() - started:.1f} s"
    )
    return 0
