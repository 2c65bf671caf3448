"""What the command line prints of foreign text, and its warnings (issue 13 items 8, 10, 14)."""

from __future__ import annotations

import pytest

from app import Assistant
from app.cli import main
from indexing.embedding import load_embedder
from indexing.labels import EvidenceLevel, SourceType
from tests.app.fakes import MemoryStore, attach

ESCAPES = "\x1b[2J\x1b[31m"
ESCAPED_TITLE = ESCAPES + "Hypertension targets\x07 \x1b]0;owned\x07"
ESCAPED_TEXT = ESCAPES + "A blood pressure target below 130/80 mmHg is recommended for most adults.\x1b[0m"


@pytest.fixture
def hostile_assistant(tmp_path, monkeypatch):
    """An assistant over an index (written before titles were cleaned) with escapes in a title
    and a passage; every command module gets it."""
    embedder = load_embedder("default")
    assistant = Assistant(data_dir=tmp_path / "data")
    store = MemoryStore(embedder)
    store.add_document("e" * 64, ESCAPED_TITLE, SourceType.GUIDELINE, EvidenceLevel(1), 2022, [ESCAPED_TEXT])
    attach(assistant, store, embedder)
    for name in ("documents", "search", "ask"):
        monkeypatch.setattr(f"app.commands.{name}.open_assistant", lambda: assistant)
    return assistant


@pytest.mark.parametrize(
    "argv",
    [
        ["documents"],
        ["search", "blood pressure target for adults", "--passages"],
        ["ask", "What blood pressure target is recommended for adults?"],
    ],
    ids=["documents", "search", "ask"],
)
def test_terminal_escapes_never_reach_the_terminal(hostile_assistant, capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Hypertension targets" in out
    assert not any(c in out + err for c in "\x1b\x07"), repr(out[:400])


def test_invalid_utf8_question_is_one_line(capsys, tmp_path, monkeypatch):
    """`m1e ask $'blood pressure \\xff\\xfe target?'`: Python hands the bytes over as surrogates."""
    monkeypatch.setenv("M1E_DATA_DIR", str(tmp_path))
    code = main(["ask", "blood pressure \udcff\udcfe target?"])
    out, err = capsys.readouterr()
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("m1e ask: error: the question is not valid text")


@pytest.mark.parametrize("host, warned", [("0.0.0.0", True), ("10.1.2.3", True), ("127.0.0.1", False), ("localhost", False)])
def test_ui_on_all_interfaces_warns_no_authentication(capsys, tmp_path, monkeypatch, host, warned):
    monkeypatch.setenv("M1E_DATA_DIR", str(tmp_path))
    assert main(["ui", "--host", host, "--print-command"]) == 0
    err = capsys.readouterr().err
    assert ("no authentication" in err and host in err and "proxy" in err) is warned, err


def test_ui_binds_127_0_0_1_by_default(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("M1E_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("M1E_UI_HOST", raising=False)
    assert main(["ui", "--print-command"]) == 0
    out, err = capsys.readouterr()
    assert "--server.address 127.0.0.1" in out and "no authentication" not in err
