"""PDF parsing in a separate process, so a hostile file can neither hang nor exhaust the indexer.

pypdf is pure Python: a malformed file can make it loop for a very long time or allocate without
bound, and no thread can be interrupted from outside. Each parse therefore runs in a small
long-lived worker process (one per concurrent caller) with an address-space cap. The worker
reports each finished page; the caller kills it when a page takes longer than
`ReadLimits.max_page_seconds` or the document longer than `max_seconds`, and starts a new one on
demand. Requests, progress and replies are single JSON lines over the worker's stdin/stdout.

Run as `python -m indexing.readers.pdf_worker`; it is started by `parse_pdf_isolated`.
"""

from __future__ import annotations

import atexit
import hashlib
import io
import json
import os
import select
import subprocess
import sys
import threading
import time
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


def parse_pdf_isolated(path: Path, limits: ReadLimits, expected_sha256: str | None = None) -> PdfContent:
    """`read_pdf` in a worker process; ReadError on failure, timeout or crash. With
    `expected_sha256` the worker parses only bytes with that hash (the bytes the caller hashed),
    so a file rewritten in between is refused rather than stored under the wrong id."""
    worker = _acquire(limits)
    request = {
        "path": str(path),
        "sha256": expected_sha256,
        "max_pages": limits.max_pages,
        "max_page_chars": limits.max_page_chars,
        "max_seconds": limits.max_seconds,
    }
    healthy = False
    try:
        assert worker.stdin is not None and worker.stdout is not None
        worker.stdin.write((json.dumps(request) + "\n").encode("utf-8"))
        worker.stdin.flush()
        reply = _await_reply(worker, path, limits)
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


def _await_reply(worker: subprocess.Popen, path: Path, limits: ReadLimits) -> dict:
    """Wait for the final reply, allowing each page `max_page_seconds` (the worker reports each
    page as it finishes) and the whole document `max_seconds`. Reads the raw pipe: a buffered
    reader could hold a complete line that `select` no longer sees."""
    assert worker.stdout is not None
    fd = worker.stdout.fileno()
    deadline = time.monotonic() + limits.max_seconds + min(5.0, 1.0 + 0.2 * limits.max_seconds)
    pending = b""
    done = 0
    while True:
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            message = json.loads(line.decode("utf-8"))
            if "page" not in message:
                return message
            done = int(message["page"])
        wait = min(limits.max_page_seconds, deadline - time.monotonic())
        ready, _, _ = select.select([fd], [], [], max(0.0, wait))
        if not ready:
            if time.monotonic() >= deadline:
                raise ReadError(path, f"PDF took longer than {limits.max_seconds:g} s to read; stopped")
            raise ReadError(
                path, f"PDF page {done + 1} took longer than {limits.max_page_seconds:g} s to read; stopped"
            )
        data = os.read(fd, 1 << 20)
        if not data:
            raise ReadError(path, "PDF parser crashed on this file (out of memory or a parser fault)")
        pending += data


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
        env=env,
        close_fds=True,
        bufsize=0,
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


def _snapshot(path: Path, sha256: str | None) -> io.BytesIO:
    """The file's bytes, checked against the hash the indexer took of them."""
    with open(path, "rb") as handle:
        data = handle.read()
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise ReadError(path, "the file changed while it was being indexed; index it again")
    return io.BytesIO(data)


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
        def progress(number: int) -> None:
            out.write(json.dumps({"page": number}) + "\n")
            out.flush()

        try:
            content = read_pdf(path, _snapshot(path, request.get("sha256")), limits, on_page=progress)
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
