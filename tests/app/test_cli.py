"""`m1e ask|search|documents|info|ui`: output, --json shapes and one-line errors with exit 1."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest

from app.cli import main
from evidence.schema import Answer, Evidence

QUESTION = "What HbA1c target is recommended for adults with type 2 diabetes?"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_ask_prints_answer_evidence_table_and_source(app_data, capsys):
    code, out, err = run(capsys, "ask", QUESTION)
    assert code == 0, err
    cited = re.findall(r"\[(E\d+)\]", out)
    assert cited
    rows = {line.split()[0] for line in out.splitlines() if re.match(r"E\d+ ", line)}
    assert set(cited) <= rows  # every cited id has its row in the evidence table
    header = next(line for line in out.splitlines() if line.startswith("ID "))
    assert header.split() == ["ID", "Source", "type", "Level", "Stated", "grade", "Year", "Location", "Title"]
    assert "**" not in out  # no raw Markdown on a terminal
    assert re.search(r"section \d+ of \d+", out)  # demo guidelines are section files, not pages
    assert "Answer by: extractive digest" in out


def test_ask_json_is_an_answer_whose_citations_point_into_its_evidence(app_data, capsys):
    code, out, _ = run(capsys, "ask", QUESTION, "--json")
    assert code == 0
    answer = Answer.model_validate_json(out)
    ids = {e.evidence_id for e in answer.evidence}
    assert answer.evidence and answer.citations
    assert all(c.evidence_id in ids for c in answer.citations)
    assert all(e.grade is not None for e in answer.evidence)


def test_ask_filters_restrict_the_evidence(app_data, capsys):
    code, out, _ = run(capsys, "ask", QUESTION, "--json", "--source-type", "guideline", "--year-min", "2015", "--min-level", "1")
    assert code == 0
    answer = Answer.model_validate_json(out)
    for e in answer.evidence:
        assert e.grade.source_type.value == "guideline" and int(e.grade.level) == 1
        assert e.year is None or e.year >= 2015


def test_ask_off_topic_says_insufficient_evidence(app_data, capsys):
    code, out, _ = run(capsys, "ask", "Which football club won the 1998 cup final?", "--json")
    assert code == 0
    answer = Answer.model_validate_json(out)
    assert answer.insufficient_evidence and answer.evidence == []


def test_search_json_lists_graded_evidence(app_data, capsys):
    code, out, _ = run(capsys, "search", "statin therapy for high LDL cholesterol", "--json", "--k", "3")
    assert code == 0
    items = [Evidence.model_validate(x) for x in json.loads(out)]
    assert 0 < len(items) <= 3 and items[0].evidence_id == "E1"
    code, out, _ = run(capsys, "search", "statin therapy for high LDL cholesterol", "--passages")
    assert code == 0 and "[E1]" in out


def test_documents_list_and_remove(app_data, capsys):
    code, out, _ = run(capsys, "documents", "--json")
    docs = json.loads(out)
    assert code == 0 and len(docs) > 10
    victim = docs[0]
    code, out, _ = run(capsys, "documents", "remove", victim["document_id"][:10])
    assert code == 0 and out.startswith(f"removed {victim['document_id'][:12]}")
    code, out, _ = run(capsys, "documents", "list", "--json")
    assert victim["document_id"] not in {d["document_id"] for d in json.loads(out)}
    code, out, _ = run(capsys, "documents")
    assert code == 0 and f"{len(docs) - 1} document(s)" in out


def test_info_json(app_data, capsys):
    code, out, _ = run(capsys, "info", "--json")
    info = json.loads(out)
    assert code == 0 and info["index"]["documents"] > 10 and info["generator"]["name"] == "extractive"
    code, out, _ = run(capsys, "info")
    assert code == 0 and "documents" in out and "Generator:  extractive" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["ask", "   "], "the question is empty"),
        (["ask", QUESTION, "--year-min", "2020", "--year-max", "2010"], "--year-min 2020 is after --year-max 2010"),
        (["documents", "remove", "zzzzzzzz"], "no indexed document has the id 'zzzzzzzz'"),
        (["documents", "remove", "abcde"], "an id prefix needs at least 6 characters"),
        (["history", "show", "999"], "no history entry 999"),
        (["history", "clear"], "add --yes to confirm"),
        (["grade", "/"], "is a folder but not a guideline of section files"),
        (["ask", QUESTION, "--mode", "plain", "--generator", "extractive"], "plain mode needs a language model"),
    ],
)
def test_errors_are_one_line_with_exit_1(app_data, capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 1
    assert err.count("\n") == 1 and message in err and err.startswith(f"m1e {argv[0]}: error:")


def test_unreachable_server_is_a_clear_error(app_data, capsys, monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("M1E_SERVER_URL", f"http://127.0.0.1:{port}/v1")
    monkeypatch.setenv("M1E_SERVER_RETRIES", "0")
    code, _, err = run(capsys, "ask", QUESTION, "--generator", "openai")
    assert code == 1 and f"cannot reach the generation server at http://127.0.0.1:{port}/v1/chat/completions" in err


def test_malformed_config_names_the_file(app_data, capsys, monkeypatch, tmp_path):
    bad = tmp_path / "m1e.toml"
    bad.write_text("top_k = 'many'\n", encoding="utf-8")
    monkeypatch.setenv("M1E_CONFIG", str(bad))
    code, _, err = run(capsys, "info")
    assert code == 1 and str(bad) in err and "top_k" in err
    bad.write_text("top_k = [\n", encoding="utf-8")
    code, _, err = run(capsys, "search", "x")
    assert code == 1 and str(bad) in err


def test_ui_command_runs_the_streamlit_app_headless(app_data, capsys, monkeypatch):
    monkeypatch.setenv("M1E_UI_PORT", "8765")
    code, out, _ = run(capsys, "ui", "--print-command")
    assert code == 0
    assert "-m streamlit run" in out and "--server.headless true" in out and "--server.port 8765" in out
    script = Path(out.split(" run ")[1].split()[0])
    assert script.name == "streamlit_app.py" and script.is_file()


def test_help_exits_cleanly(capsys):
    for argv in (["--help"], ["ask", "--help"], ["documents", "--help"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 0
    assert "--min-level" in capsys.readouterr().out


def test_ask_markdown_is_kept_in_history_and_feedback_exports(app_data, capsys, tmp_path):
    code, out, err = run(capsys, "ask", QUESTION, "--format", "md")
    assert code == 0, err
    assert out.startswith("# What HbA1c target") and "| ID | Source type | Level | Stated grade |" in out
    code, out, _ = run(capsys, "history")
    assert code == 0 and QUESTION[:40] in out
    entry = int(out.split()[0])
    code, shown, _ = run(capsys, "history", "show", str(entry))
    assert code == 0 and "| E1 |" in shown
    assert run(capsys, "feedback", "add", str(entry), "wrong_citation", "--evidence", "E1", "--comment", "not this table")[0] == 0
    target = tmp_path / "feedback.jsonl"
    assert run(capsys, "feedback", "export", "-o", str(target))[0] == 0
    record = json.loads(target.read_text(encoding="utf-8").splitlines()[0])
    assert record["verdict"] == "wrong_citation" and record["evidence_id"] == "E1" and record["question"] == QUESTION
    assert record["history_id"] == entry and record["index_generation"] is not None
    code, out, _ = run(capsys, "history", "delete", str(entry))
    assert code == 0 and run(capsys, "history")[1].startswith("No answers kept yet")


def test_grade_reads_a_guideline_folder_of_section_files(capsys):
    from indexing.readers.demo import open_medicine_dir

    folder = sorted((open_medicine_dir() / "content").iterdir())[0]
    code, out, err = run(capsys, "grade", str(folder))
    assert code == 0, err
    assert "source type:" in out and "section" in out and "page" not in out.split("\n")[1]


def test_info_and_help_start_without_loading_the_embedder(app_data):
    """`m1e info` used to load torch and the embedder (25 s on a loaded 2-core machine); now 1.5 s."""
    import subprocess
    import sys

    probe = (
        "import sys; from app.cli import main; code = main(['info']); "
        "print('HEAVY', 'torch' in sys.modules, 'sentence_transformers' in sys.modules, code)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[2])
    assert "HEAVY False False 0" in done.stdout, done.stdout + done.stderr
    assert "documents" in done.stdout
