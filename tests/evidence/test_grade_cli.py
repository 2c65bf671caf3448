"""`m1e grade`: text and JSON output, and one-line errors for bad paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main

GUIDELINE_MD = """# 2024 Guideline for the Management of Widget Disease

## Treatment

- Widgetostatin is recommended for all adults with widget disease (Class I, LOE A).
- Routine imaging is not recommended (Class III: No Benefit, LOE B-R).
"""


@pytest.fixture()
def guideline(tmp_path: Path) -> Path:
    path = tmp_path / "widget.md"
    path.write_text(GUIDELINE_MD, encoding="utf-8")
    return path


def test_text_output_shows_type_level_reasons_and_stated_grades(guideline, capsys):
    assert main(["grade", str(guideline)]) == 0
    out = capsys.readouterr().out
    assert "source type: guideline" in out
    assert "Level 1" in out
    assert "graded recommendations found" in out
    assert '"Class I, LOE A"' in out and '"Class III: No Benefit, LOE B-R"' in out
    assert "sec. 1" in out and "p. 1" not in out and "against" in out  # a markdown file has no pages


def test_json_output_is_one_pydantic_object(guideline, capsys):
    assert main(["grade", str(guideline), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["grade"]["source_type"] == "guideline" and data["grade"]["level"] == 1
    assert data["grade"]["origin"] in ("cues", "metadata", "override")
    quotes = [g["quote"] for g in data["stated_grades"]]
    assert quotes == ["Class I, LOE A", "Class III: No Benefit, LOE B-R"]
    assert all(g["page"] == 1 for g in data["stated_grades"])


def test_sidecar_override_is_reported(tmp_path, capsys):
    path = tmp_path / "note.txt"
    path.write_text("Some notes about widget disease.\n", encoding="utf-8")
    (tmp_path / "note.txt.meta.json").write_text(json.dumps({"source_type": "cohort", "evidence_level": 3}))
    assert main(["grade", str(path), "--json"]) == 0
    grade = json.loads(capsys.readouterr().out)["grade"]
    assert (grade["source_type"], grade["level"], grade["origin"]) == ("cohort", 3, "override")


@pytest.mark.parametrize("make,expect", [
    (lambda d: d / "missing.pdf", "no such file"),
    (lambda d: d, "is a folder"),
])
def test_bad_paths_give_one_line_errors(tmp_path, capsys, make, expect):
    assert main(["grade", str(make(tmp_path))]) == 1
    err = capsys.readouterr().err.strip()
    assert expect in err and "\n" not in err and err.startswith("m1e grade: error:")


def test_unreadable_file_names_the_reason(tmp_path, capsys):
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"\x00\x01 not a pdf")
    assert main(["grade", str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert str(bad) in err and "\n" not in err


def test_pdf_stated_grades_carry_their_page(tmp_path, capsys):
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    path = tmp_path / "af-guideline.pdf"
    pdf = canvas.Canvas(str(path), pagesize=A4)
    pdf.setTitle("2024 Guideline for Atrial Fibrillation")
    pdf.drawString(72, 760, "2024 Guideline for Atrial Fibrillation")
    pdf.drawString(72, 740, "This guideline was written by the writing committee after a systematic review.")
    pdf.showPage()
    pdf.drawString(72, 760, "Oral anticoagulation is recommended in patients with a high stroke risk (Class I, LOE A).")
    pdf.drawString(72, 740, "Aspirin alone is not recommended for stroke prevention (Class III: Harm, LOE B-R).")
    pdf.showPage()
    pdf.save()
    assert main(["grade", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["format"] == "pdf" and data["pages"] == 2
    assert [(g["quote"], g["page"], g["direction"]) for g in data["stated_grades"]] == [
        ("Class I, LOE A", 2, "for"), ("Class III: Harm, LOE B-R", 2, "against")]
    assert (data["grade"]["source_type"], data["grade"]["level"]) == ("guideline", 1)
