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


# Playwright's expect() waits 5 s by default, which a loaded 2-core machine can miss while
# Streamlit reruns the script (issue 11); every expect in tests/e2e gets this instead.
EXPECT_TIMEOUT_MS = 60_000


@pytest.fixture(autouse=True)
def slow_machine_expect_timeout() -> None:
    try:
        from playwright.sync_api import expect
    except ImportError:  # the browser tests skip themselves without playwright
        return
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
