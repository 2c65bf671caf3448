"""PDF parsing in a separate process, so a hostile file can neither hang nor exhaust the indexer.

pypdf is pure Python: a malformed file can make it loop for a very long time or allocate without
bound, and no thread can be interrupted from outside. Each parse therefore runs in a small
long-lived worker process (one per concurrent caller) with an address-space cap; the caller
waits at most `ReadLimits.max_seconds` and kills the worker if it overruns. A new worker is
started on demand. Requests and replies are single JSON lines over the worker's stdin/stdout.

Run as `python -m indexing.readers.pdf_worker`; it is started by `parse_pdf_isolated`.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import sys
import threading
from dataclasses import asdict
from pathlib import Path

from indexing.errors import ReadError
from indexing.readers.limits import ReadLimits
from indexing.readers.pdf import PdfContent, read_pdf

_idle: list[subprocess.Popen] = []
_all: set[subprocess.Popen] = set()
_lock = threading.Lock()


def isolation_available() -> bool:
    return os.name == "posix"


def parse_pdf_isolated(path: Path, limits: ReadLimits) -> PdfContent:
    """`read_pdf` in a worker process; ReadError on failure, timeout or crash."""
    worker = _acquire(limits)
    request = {
        "path": str(path),
        "max_pages": limits.max_pages,
        "max_page_chars": limits.max_page_chars,
        "max_seconds": limits.max_seconds,
    }
    healthy = False
    try:
        assert worker.stdin is not None and worker.stdout is not None
        worker.stdin.write(json.dumps(request) + "\n")
        worker.stdin.flush()
        # the worker stops itself between pages at max_seconds; this catches a stuck page
        grace = min(5.0, 1.0 + 0.2 * limits.max_seconds)
        ready, _, _ = select.select([worker.stdout], [], [], limits.max_seconds + grace)
        if not ready:
            raise ReadError(path, f"PDF took longer than {limits.max_seconds:g} s to read; stopped")
        line = worker.stdout.readline()
        if not line:
            raise ReadError(path, "PDF parser crashed on this file (out of memory or a parser fault)")
        reply = json.loads(line)
        healthy = True
    except (BrokenPipeError, OSError, ValueError) as exc:
        raise ReadError(path, f"PDF parser failed ({type(exc).__name__})") from None
    finally:
        _release(worker, healthy)
    if "error" in reply:
        raise ReadError(path, reply["error"])
    content = PdfContent(**reply["content"])
    content.pages = [(int(n), t) for n, t in content.pages]
    return content


def _acquire(limits: ReadLimits) -> subprocess.Popen:
    with _lock:
        while _idle:
            worker = _idle.pop()
            if worker.poll() is None:
                return worker
            _all.discard(worker)
    return _start(limits)


def _release(worker: subprocess.Popen, healthy: bool) -> None:
    if healthy and worker.poll() is None:
        with _lock:
            _idle.append(worker)
        return
    _stop(worker)


def _start(limits: ReadLimits) -> subprocess.Popen:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["M1E_PDF_WORKER_MEMORY"] = str(limits.max_memory_bytes)
    worker = subprocess.Popen(
        [sys.executable, "-m", "indexing.readers.pdf_worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        encoding="utf-8",
        env=env,
        close_fds=True,
    )
    with _lock:
        _all.add(worker)
    return worker


def _stop(worker: subprocess.Popen) -> None:
    with _lock:
        _all.discard(worker)
    if worker.poll() is None:
        worker.kill()
    try:
        worker.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    for stream in (worker.stdin, worker.stdout):
        try:
            if stream is not None:
                stream.close()
        except OSError:
            pass


@atexit.register
def _stop_all() -> None:
    for worker in list(_all):
        _stop(worker)


def _serve() -> None:
    """Worker loop: one JSON request per line in, one JSON reply per line out."""
    memory = int(os.environ.get("M1E_PDF_WORKER_MEMORY", "0") or 0)
    if memory > 0:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    out = sys.stdout
    for line in sys.stdin:
        request = json.loads(line)
        path = Path(request["path"])
        limits = ReadLimits(
            max_pages=request["max_pages"],
            max_page_chars=request["max_page_chars"],
            max_seconds=request["max_seconds"],
        )
        try:
            with open(path, "rb") as handle:
                content = read_pdf(path, handle, limits)
            reply: dict = {"content": asdict(content)}
        except ReadError as exc:
            reply = {"error": exc.reason}
        except MemoryError:
            reply = {"error": "PDF needs more memory than the reader allows; stopped"}
        except OSError as exc:
            reply = {"error": f"cannot read file ({exc.strerror or exc})"}
        except Exception as exc:  # a parser fault must become a reason, not a dead worker
            reply = {"error": f"corrupt PDF ({type(exc).__name__})"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    _serve()
