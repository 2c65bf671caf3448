"""`m1e ui` starts the demo indexing at server start; the page shows its live line and the finish."""

from __future__ import annotations

import os
from pathlib import Path

from streamlit.testing.v1 import AppTest

from app.assistant import Assistant
from app.commands import ui
from app.startup import DemoIndexStatus, index_demo_now, read_status, write_status

SCRIPT = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")


def test_server_start_indexes_an_empty_index_once(tmp_path, monkeypatch, app_data):
    started = []
    monkeypatch.setattr("app.startup.start_demo_indexing", lambda env: started.append(env))
    assert not ui.start_demo_if_empty({})  # the demo index is there: nothing to do
    monkeypatch.setenv("M1E_DATA_DIR", str(tmp_path / "empty"))
    assert ui.start_demo_if_empty({}) and len(started) == 1
    write_status(tmp_path / "empty", DemoIndexStatus(pid=os.getpid(), state="running", line="1/51 files"))
    assert not ui.start_demo_if_empty({})  # one indexer at a time


def test_the_indexer_prints_a_live_line_and_a_finish(tmp_path, monkeypatch, capsys):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "note.md").write_text("# Fever guideline\n\nParacetamol is recommended for fever in adults.\n", encoding="utf-8")
    monkeypatch.setenv("M1E_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(Assistant, "index_demo", lambda self, progress=None: self.index([corpus], progress=progress))
    assert index_demo_now() == 0
    err = capsys.readouterr().err
    assert "files ·" in err and "passages/s" in err  # the live line: files, passages, elapsed, rate
    assert "m1e ui: demo corpus indexed: 1 file(s)" in err
    status = read_status(tmp_path / "data")
    assert status.state == "done" and "1 file(s)" in status.line


def test_page_shows_the_running_indexer_and_does_not_start_another(tmp_path, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("M1E_DATA_DIR", str(data))
    monkeypatch.setattr(Assistant, "index_demo", lambda self, progress=None: (_ for _ in ()).throw(AssertionError("second indexer")))
    write_status(data, DemoIndexStatus(pid=os.getpid(), state="running", line="12/51 files · 300 passages · 40 s · 7.5 passages/s"))
    at = AppTest.from_file(SCRIPT, default_timeout=180)
    at.run()
    assert not at.exception
    assert any("started with the server" in i.value and "300 passages" in i.value for i in at.info)
    write_status(data, DemoIndexStatus(pid=os.getpid(), state="done", line="demo corpus indexed: 51 file(s), 1200 passages in 300 s; 0 failed"))
    at.run()
    assert any("Demo corpus indexed" in s.value for s in at.success)
    assert not any("started with the server" in i.value for i in at.info)
