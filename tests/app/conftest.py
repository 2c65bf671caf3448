"""App test fixtures: a private copy of the session's demo index behind M1E_* variables."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture
def app_data(tmp_path: Path, demo_index_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data dir whose index is a copy of the demo index (tests may change it freely)."""
    data = tmp_path / "data"
    shutil.copytree(demo_index_dir, data / "index", ignore=shutil.ignore_patterns("writer.lock"))
    monkeypatch.setenv("M1E_DATA_DIR", str(data))
    monkeypatch.delenv("M1E_INDEX_DIR", raising=False)
    monkeypatch.delenv("M1E_CONFIG", raising=False)
    monkeypatch.delenv("M1E_GENERATOR", raising=False)
    return data
