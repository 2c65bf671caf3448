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
    markdown) to $M1E_MAX_TEXT_MB (8 MB). With `isolate` (the
    default on POSIX), PDFs are parsed in a worker process capped at `max_memory_bytes` and
    killed when one page takes longer than `max_page_seconds` or the document longer than
    `max_seconds`, so one hostile file cannot hang or exhaust a batch. In-process reading can
    only check the clock between pages.
    """

    max_file_bytes: int = field(default_factory=lambda: int(_env_mb("M1E_MAX_FILE_MB", 256) * 1024 * 1024))
    # Text and markdown are cleaned and chunked in the indexer's own process at ~17 s per MB
    # (measured on this project's 2-core VM under load: 8 MB took 137 s, 670 MB peak; a 200 MB
    # file sat for 9 minutes at 3 GB); 8 MB is ~4,000 pages of plain text, above any guideline.
    max_text_bytes: int = field(default_factory=lambda: int(_env_mb("M1E_MAX_TEXT_MB", 8) * 1024 * 1024))
    max_pages: int = 20_000
    max_page_chars: int = 2_000_000  # a real page holds ~10k; more is a runaway extraction
    max_seconds: float = 1800.0  # wall clock for one document
    max_page_seconds: float = 60.0  # wall clock for one page (a real page takes well under 1 s)
    isolate: bool = True
    max_memory_bytes: int = 4 * 1024**3


# The defaults without the variables (reading them at import would fail the import on a bad value).
DEFAULT_LIMITS = ReadLimits(max_file_bytes=256 * 1024 * 1024, max_text_bytes=8 * 1024 * 1024)
