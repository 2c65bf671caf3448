"""App test fixtures: a private copy of the session's demo index behind M1E_* variables, and an
Assistant over the in-memory store (tests/app/fakes.py) with the real default embedder."""

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


@pytest.fixture(scope="session")
def embedder():
    from indexing.embedding import load_embedder

    return load_embedder("default")


@pytest.fixture
def assistant(tmp_path: Path, embedder):
    """An Assistant whose store is the in-memory stand-in; retrieval and checks are real."""
    from app import Assistant
    from tests.app.fakes import MemoryStore, attach

    a = Assistant(data_dir=tmp_path / "data")
    attach(a, MemoryStore(embedder), embedder)
    return a
