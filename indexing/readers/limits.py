"""How much a reader is willing to take from one file."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _env_mb(name: str, default: float) -> float:
    """Megabytes from a variable; a value that is not a positive number is an error naming it
    (app.settings checks the same variables when it loads, so the CLI fails before indexing)."""
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (0 < value < float("inf")):
        raise ValueError(f"{name}={raw!r} is not a positive number of megabytes")
    return value


@dataclass(frozen=True)
class ReadLimits:
    """Guards against files that would stall or exhaust the indexer.

    `max_file_bytes` defaults to $M1E_MAX_FILE_MB (256 MB when unset), `max_text_bytes` (text and
    markdown) to $M1E_MAX_TEXT_MB (32 MB). With `isolate` (the
    default on POSIX), PDFs are parsed in a worker process capped at `max_memory_bytes` and
    killed when one page takes longer than `max_page_seconds` or the document longer than
    `max_seconds`, so one hostile file cannot hang or exhaust a batch. In-process reading can
    only check the clock between pages.
    """

    max_file_bytes: int = field(default_factory=lambda: int(_env_mb("M1E_MAX_FILE_MB", 256) * 1024 * 1024))
    # Text and markdown are cleaned and chunked in the indexer's own process, which holds about
    # 15 copies of the text at once (measured: a 200 MB file took 3 GB and 9 minutes without
    # finishing); 32 MB is ~15,000 pages of plain text, far above any guideline.
    max_text_bytes: int = field(default_factory=lambda: int(_env_mb("M1E_MAX_TEXT_MB", 32) * 1024 * 1024))
    max_pages: int = 20_000
    max_page_chars: int = 2_000_000  # a real page holds ~10k; more is a runaway extraction
    max_seconds: float = 1800.0  # wall clock for one document
    max_page_seconds: float = 60.0  # wall clock for one page (a real page takes well under 1 s)
    isolate: bool = True
    max_memory_bytes: int = 4 * 1024**3


DEFAULT_LIMITS = ReadLimits()
