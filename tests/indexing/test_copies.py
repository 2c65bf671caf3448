"""Curated metadata is never lost to a copy: a byte-identical copy indexed without its sidecar is
a second name (a link), not a replacement of the record the sidecar described."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from indexing.pipeline import IndexPipeline
from indexing.store import IndexStore
from tests.indexing.store_fakes import HashEmbedder

GUIDE = """# Anticoagulation in atrial fibrillation

Oral anticoagulation is recommended for a CHA2DS2-VASc score of 2 or more in men.
Apixaban 2.5 mg twice daily when two dose-reduction criteria are met.
"""
SIDECAR = {"title": "AF guideline 2021", "year": 2021, "organization": "Example Society", "source_type": "guideline"}


def pipeline(tmp_path: Path) -> IndexPipeline:
    return IndexPipeline(tmp_path / "index", embedder=HashEmbedder(), chunk_tokens=40, chunk_overlap=8)


def curated(tmp_path: Path) -> Path:
    original = tmp_path / "library" / "af-guideline.md"
    original.parent.mkdir(parents=True)
    original.write_text(GUIDE, encoding="utf-8")
    (original.parent / "af-guideline.md.meta.json").write_text(json.dumps(SIDECAR), encoding="utf-8")
    return original


def the_record(tmp_path: Path):
    store = IndexStore.open(tmp_path / "index")
    try:
        (record,) = store.documents()
        return record
    finally:
        store.close()


def test_a_copy_without_sidecar_is_a_link_not_a_downgrade(tmp_path):
    original = curated(tmp_path)
    p = pipeline(tmp_path)
    p.run([original])
    copy = tmp_path / "uploads" / "upload-1234.md"  # e.g. the same file uploaded through the UI
    copy.parent.mkdir()
    shutil.copyfile(original, copy)

    report = p.run([copy])
    assert report.totals.indexed == 0 and report.unchanged[0].reason.startswith(f"same document as {original}")
    record = the_record(tmp_path)
    assert record.path == str(original)
    assert (record.title, record.meta.year, record.meta.organization) == ("AF guideline 2021", 2021, "Example Society")
    assert sorted(record.paths) == sorted([str(original), str(copy)])

    # neither name is read again, and the record stays the curated one
    again = p.run([original, copy])
    assert again.totals.indexed == 0 and again.totals.unchanged == 2
    assert the_record(tmp_path).meta.year == 2021

    # re-indexing the original after its sidecar changed still updates the record, copy still linked
    (original.parent / "af-guideline.md.meta.json").write_text(json.dumps({**SIDECAR, "year": 2022}), encoding="utf-8")
    assert p.run([original]).totals.indexed == 1
    record = the_record(tmp_path)
    assert record.meta.year == 2022 and record.path == str(original) and str(copy) in record.paths


@pytest.mark.parametrize("copy_name", ["a-copy.md", "z-copy.md"])  # read before / after the original
def test_a_copy_in_the_same_run_never_wins_over_the_sidecar(tmp_path, copy_name):
    original = curated(tmp_path)
    shutil.copyfile(original, original.parent / copy_name)
    pipeline(tmp_path).run([original.parent])
    record = the_record(tmp_path)
    assert (record.meta.year, record.meta.organization) == (2021, "Example Society")
    assert record.path == str(original)
    assert sorted(Path(p).name for p in record.paths) == sorted(["af-guideline.md", copy_name])


def test_a_copy_that_brings_a_sidecar_upgrades_an_uncurated_record(tmp_path):
    plain = tmp_path / "inbox" / "af.md"
    plain.parent.mkdir()
    plain.write_text(GUIDE, encoding="utf-8")
    p = pipeline(tmp_path)
    p.run([plain])
    assert the_record(tmp_path).meta.year is None
    original = curated(tmp_path)
    p.run([original])
    record = the_record(tmp_path)
    assert record.meta.year == 2021 and record.path == str(original) and str(plain) in record.paths


def test_when_the_first_name_changed_the_copy_takes_the_record(tmp_path):
    original = curated(tmp_path)
    p = pipeline(tmp_path)
    p.run([original])
    moved = tmp_path / "elsewhere" / "af.md"
    moved.parent.mkdir()
    shutil.copyfile(original, moved)
    original.write_text("# Something else entirely\n\nUnrelated text about fractures.\n", encoding="utf-8")
    p.run([moved, original])
    store = IndexStore.open(tmp_path / "index")
    paths = {d.path for d in store.documents()}
    store.close()
    assert paths == {str(moved), str(original)}  # the old content lives on under its new name
