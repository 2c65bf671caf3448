"""The one error a reader raises: which input failed and, in one line, why."""

from __future__ import annotations

from pathlib import Path


class ReadError(Exception):
    """A file that cannot be indexed. `reason` is one line a user can act on."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = " ".join(str(reason).split())  # always one line
        super().__init__(f"{self.path}: {self.reason}")
