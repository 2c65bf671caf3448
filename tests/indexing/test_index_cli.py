"""`m1e index`: exit codes, the closing summary, the JSON report, and the evidence grader wired in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main
from indexing.store import IndexStore


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "af.md").write_text(
        "# AF anticoagulation (2023 guideline)\n\nOral anticoagulation is recommended for atrial "
        "fibrillation with a CHA2DS2-VASc score of 2 or more (Class I, LOE A).\n",
        encoding="utf-8",
    )
    (root / "sub" / "dm.txt").write_text("Metformin is first-line therapy for type 2 diabetes.\n", encoding="utf-8")
    return root


def test_folder_with_a_corrupt_file(folder, tmp_path, capsys):
    (folder / "scan.pdf").write_bytes(b"%PDF-1.7\n garbage without any objects")
    report_path = tmp_path / "report.json"
    code = main(["index", str(folder), "--index", str(tmp_path / "idx"), "--json-report", str(report_path)])
    out = capsys.readouterr().out
    assert code == 1
    assert "indexed 2 file(s)" in out and "failed 1" in out
    failed_lines = [line for line in out.splitlines() if line.strip().startswith("FAILED")]
    assert len(failed_lines) == 1 and "scan.pdf: " in failed_lines[0] and len(failed_lines[0].split(": ", 1)[1]) > 3
    report = json.loads(report_path.read_text())
    assert [Path(f["path"]).name for f in report["failed"]] == ["scan.pdf"]
    assert report["failed"][0]["reason"] and report["totals"]["indexed"] == 2

    # the evidence grader labelled what was indexed
    store = IndexStore.open(tmp_path / "idx")
    records = store.documents()
    assert len(records) == 2 and all(r.grade is not None for r in records)
    store.close()

    # a clean rerun of the good files: everything unchanged, exit 0
    (folder / "scan.pdf").unlink()
    assert main(["index", str(folder), "--index", str(tmp_path / "idx")]) == 0
    assert "unchanged 2" in capsys.readouterr().out


def test_no_recursive_and_prune(folder, tmp_path, capsys):
    index = str(tmp_path / "idx")
    assert main(["index", str(folder), "--index", index, "--no-recursive", "--workers", "2"]) == 0
    assert "indexed 1 file(s)" in capsys.readouterr().out
    assert main(["index", str(folder), "--index", index]) == 0
    assert "indexed 1 file(s)" in capsys.readouterr().out  # only sub/dm.txt was new
    (folder / "af.md").unlink()
    assert main(["index", str(folder), "--index", index, "--prune"]) == 0
    out = capsys.readouterr().out
    assert "removed 1" in out and "af.md" in out
    store = IndexStore.open(index)
    assert [Path(r.path).name for r in store.documents()] == ["dm.txt"]
    store.close()


def test_usage_errors(tmp_path, capsys):
    assert main(["index", "--index", str(tmp_path / "idx")]) == 1
    assert "name at least one file or folder" in capsys.readouterr().err
    assert main(["index", str(tmp_path), "--workers", "0"]) == 1
    assert "--workers" in capsys.readouterr().err
    assert main(["index", str(tmp_path / "missing.pdf"), "--index", str(tmp_path / "idx")]) == 1
    assert "no such file or directory" in capsys.readouterr().out


def test_demo_on_an_existing_demo_index(demo_index_dir, tmp_path, capsys, monkeypatch):
    import shutil

    import indexing.embedding
    from tests.demo_index import demo_embedder

    monkeypatch.setattr(indexing.embedding, "load_embedder", lambda *a, **kw: demo_embedder())
    index = tmp_path / "idx"
    shutil.copytree(demo_index_dir, index)
    store = IndexStore.open(index)
    n_documents = len(store.documents())
    store.close()
    code = main(["index", "--demo", "--index", str(index)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "indexed 0 file(s)" in out and "failed 0" in out
    assert f"{n_documents} documents" in out and n_documents >= 40


def test_demo_and_a_path_report_both_runs_as_one(demo_index_dir, tmp_path, capsys, monkeypatch):
    """`m1e index --demo PATH`: the demo corpus (already indexed: all unchanged) and then the
    user's file, summed into one report; the JSON's index-wide counts are the end state."""
    import json
    import shutil

    import indexing.embedding
    from tests.demo_index import demo_embedder

    monkeypatch.setattr(indexing.embedding, "load_embedder", lambda *a, **kw: demo_embedder())
    index = tmp_path / "idx"
    shutil.copytree(demo_index_dir, index)
    note = tmp_path / "note.txt"
    note.write_text("Warfarin dosing in adults is adjusted to an INR target of 2.0 to 3.0.\n", encoding="utf-8")
    report_path = tmp_path / "report.json"
    code = main(["index", "--demo", str(note), "--index", str(index), "--json-report", str(report_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert [Path(o["path"]).name for o in report["indexed"]] == ["note.txt"]
    assert report["totals"]["indexed"] == 1 and report["totals"]["unchanged"] >= 40
    assert report["totals"]["files"] == report["totals"]["unchanged"] + 1
    assert report["totals"]["documents_in_index"] == report["totals"]["unchanged"] + 1


def test_progress_off_a_terminal_is_plain_lines(folder, tmp_path, capsys):
    """An admin's cron job or log file gets readable lines, not a bar's carriage returns."""
    assert main(["index", str(folder), "--index", str(tmp_path / "idx")]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = [line for line in err.splitlines() if line.startswith("m1e index: ")]
    assert lines and lines[-1].startswith("m1e index: 2/2 files") and "done" in lines[-1]


def test_progress_lines_are_rate_limited():
    import io

    from app.commands.index import _ProgressLines
    from indexing.progress import IndexProgress

    now = [0.0]
    out = io.StringIO()
    lines = _ProgressLines(every=30, clock=lambda: now[0], stream=out)
    for done in range(100):  # 100 events over 99 s: a line at 0, 30, 60, 90 s, and the last on close
        now[0] = float(done)
        lines(IndexProgress(files_done=done, files_total=100, pages=done, chunks=3 * done, stage="reading"))
    lines.close()
    printed = out.getvalue().splitlines()
    assert [p.split()[2] for p in printed] == ["0/100", "30/100", "60/100", "90/100", "99/100"]
    lines.close()  # nothing new since: no repeated line
    assert len(out.getvalue().splitlines()) == 5
