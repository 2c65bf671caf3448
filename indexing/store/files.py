"""Durable little files: fsync'd writes, the CURRENT pointer and the writer lock; and handing
freed memory back after a merge."""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import fcntl
import os
import sys
from pathlib import Path

from indexing.store.records import IndexLockedError


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            fsync_file(Path(dirpath) / name)
        fsync_dir(Path(dirpath))


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` so a reader sees the old or the new content, never half."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def read_current(root: Path) -> int | None:
    """The published generation, or None before the first publish."""
    try:
        text = (root / "CURRENT").read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    try:
        return int(text)
    except ValueError:
        return None  # unreadable pointer: treated as absent, the database decides


class WriterLock:
    """An exclusive flock on <index>/writer.lock; the kernel drops it if the holder dies."""

    def __init__(self, root: Path):
        self.path = root / "writer.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = ""
            try:
                holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
            except OSError:
                pass
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                who = f" (pid {holder})" if holder else ""
                raise IndexLockedError(
                    f"index at {self.path.parent} is being written by another writer{who}; "
                    "wait for it to finish"
                ) from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None


def release_memory() -> bool:
    """Ask glibc to return freed heap pages to the system (`malloc_trim(0)`); True if it ran.

    A merge or optimize allocates and frees hundreds of MB in blocks (vector chunks, postings
    runs, the faiss index being filled); glibc keeps much of that in its arenas, so the writer's
    RSS stayed at its merge peak for the rest of a long `m1e index` run. Linux with glibc only:
    elsewhere (macOS, musl) the call is absent and this does nothing.
    """
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


@functools.cache
def _malloc_trim():
    """glibc's malloc_trim, looked up once: `find_library` runs `ldconfig -p` in a subprocess, too
    slow to repeat after every merge; None where the platform has none."""
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim
