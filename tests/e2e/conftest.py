"""End-to-end fixtures: the real pieces (demo index, embedder, grader, retriever, generators)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture
def app_data(tmp_path: Path, demo_index_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data dir whose index is a private copy of the session's demo index."""
    data = tmp_path / "data"
    shutil.copytree(demo_index_dir, data / "index", ignore=shutil.ignore_patterns("writer.lock"))
    monkeypatch.setenv("M1E_DATA_DIR", str(data))
    for name in ("M1E_INDEX_DIR", "M1E_CONFIG", "M1E_GENERATOR", "M1E_MODELS_DIR"):
        monkeypatch.delenv(name, raising=False)
    return data
