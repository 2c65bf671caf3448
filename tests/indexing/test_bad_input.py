"""Every file that cannot be read gives one clear reason naming it; partial problems are warnings."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from indexing.errors import ReadError
from indexing.readers import ReadLimits, read_document
from tests.indexing.pdf_factory import encrypt_pdf, image_page_pdf, lines_pdf, slow_pdf, zero_page_pdf

_BODY = [["Beta-blockers reduce mortality after myocardial infarction."], ["Page two has more text."]]


def _reason(path: Path, limits: ReadLimits | None = None) -> str:
    with pytest.raises(ReadError) as err:
        read_document(path, limits)
    assert err.value.path == path
    assert str(path) in str(err.value)
    assert "\n" not in err.value.reason
    return err.value.reason


@pytest.fixture()
def good_pdf(tmp_path: Path) -> Path:
    return lines_pdf(tmp_path / "good.pdf", _BODY)


def test_truncated_pdf_is_corrupt(tmp_path: Path, good_pdf: Path) -> None:
    data = good_pdf.read_bytes()
    for fraction in (0.3, 0.7):
        broken = tmp_path / f"truncated-{fraction}.pdf"
        broken.write_bytes(data[: int(len(data) * fraction)])
        assert _reason(broken).startswith("corrupt PDF")


def test_garbage_after_pdf_header_is_corrupt(tmp_path: Path) -> None:
    bad = tmp_path / "garbage.pdf"
    bad.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 40)
    assert _reason(bad).startswith("corrupt PDF")


def test_encrypted_pdf_with_empty_user_password_is_read(tmp_path: Path, good_pdf: Path) -> None:
    opened = encrypt_pdf(good_pdf, tmp_path / "owner-only.pdf", user_password="")
    doc = read_document(opened)
    assert "Beta-blockers reduce mortality" in doc.pages[0].text
    assert "Page two" in doc.pages[1].text


def test_encrypted_pdf_needing_a_password_is_refused(tmp_path: Path, good_pdf: Path) -> None:
    locked = encrypt_pdf(good_pdf, tmp_path / "locked.pdf", user_password="s3cret")
    assert _reason(locked) == "encrypted PDF (password required)"


def test_zero_page_pdf(tmp_path: Path) -> None:
    assert _reason(zero_page_pdf(tmp_path / "empty-doc.pdf")) == "PDF has no pages"


def test_scanned_pdf_without_text_layer(tmp_path: Path) -> None:
    scanned = image_page_pdf(tmp_path / "scan.pdf", {}, n_pages=2)
    assert _reason(scanned) == "no text layer; OCR not available"


def test_partly_scanned_pdf_is_read_and_scanned_pages_reported(tmp_path: Path) -> None:
    mixed = image_page_pdf(
        tmp_path / "mixed.pdf",
        {1: ["Typed first page about insulin titration."], 3: ["Typed third page about metformin."]},
        n_pages=4,
    )
    doc = read_document(mixed)
    assert [p.number for p in doc.pages] == [1, 2, 3, 4]
    assert "insulin" in doc.pages[0].text and "metformin" in doc.pages[2].text
    assert doc.pages[1].text == "" and doc.pages[3].text == ""
    assert doc.warnings == ["pages 2, 4: no text layer; OCR not available (scanned image), not indexed"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"<html><body>A web page saved as PDF</body></html>", "not a PDF (an HTML page)"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "not a PDF (a PNG image)"),
        (b"Just some words, not a PDF at all.", "not a PDF (no %PDF header)"),
    ],
)
def test_non_pdf_named_pdf(tmp_path: Path, content: bytes, reason: str) -> None:
    fake = tmp_path / "fake.pdf"
    fake.write_bytes(content)
    assert _reason(fake) == reason


def test_empty_files(tmp_path: Path) -> None:
    for name in ("empty.pdf", "empty.md", "empty.txt"):
        path = tmp_path / name
        path.write_bytes(b"")
        assert _reason(path) == "empty file"
    blank = tmp_path / "blank.txt"
    blank.write_text("   \n\n  \n")
    assert _reason(blank) == "no text in file"


def test_binary_file_named_txt(tmp_path: Path) -> None:
    binary = tmp_path / "data.txt"
    binary.write_bytes(b"\x00\x01\x02\x03" * 100)
    assert _reason(binary) == "not a text file (binary content)"


def test_file_over_the_size_limit(tmp_path: Path, good_pdf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small = ReadLimits(max_file_bytes=1000)
    reason = _reason(good_pdf, small)
    assert reason.startswith("file too large (")
    assert "M1E_MAX_FILE_MB" in reason
    monkeypatch.setenv("M1E_MAX_FILE_MB", "0.001")  # the setting users change
    assert _reason(good_pdf).startswith("file too large")


def test_pdf_with_more_pages_than_the_limit(tmp_path: Path) -> None:
    pdf = lines_pdf(tmp_path / "long.pdf", [["page"]] * 5)
    assert _reason(pdf, ReadLimits(max_pages=3)) == "PDF has 5 pages, more than the limit of 3"


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert _reason(tmp_path / "nope.pdf") == "file not found"
    folder = tmp_path / "folder.pdf"
    folder.mkdir()
    assert _reason(folder) == "is a directory, not a file"


def test_fifo_is_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    assert _reason(fifo).startswith("not a regular file (a FIFO")


def test_permission_denied(tmp_path: Path, good_pdf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    locked = tmp_path / "locked-perms.pdf"
    locked.write_bytes(good_pdf.read_bytes())
    locked.chmod(0)
    try:
        if os.geteuid() == 0:  # root reads anything: make the OS answer as it would for a user
            import indexing.readers as readers

            monkeypatch.setattr(readers.os, "access", lambda *_: False)
        assert _reason(locked) == "permission denied"
    finally:
        locked.chmod(0o644)


def test_sidecar_of_a_bad_file_does_not_hide_the_bad_file(tmp_path: Path) -> None:
    fake = tmp_path / "fake.pdf"
    fake.write_bytes(b"not a pdf")
    (tmp_path / "fake.pdf.meta.json").write_text('{"year": 2020}')
    assert _reason(fake) == "not a PDF (no %PDF header)"


def test_a_pdf_that_stalls_the_parser_is_stopped_and_the_next_file_still_reads(tmp_path: Path, good_pdf: Path) -> None:
    slow = slow_pdf(tmp_path / "stall.pdf", operations=40_000)  # ~7 s of parsing in pypdf
    started = time.monotonic()
    reason = _reason(slow, ReadLimits(max_page_seconds=0.5))
    assert reason == "PDF page 1 took longer than 0.5 s to read; stopped"
    assert time.monotonic() - started < 4
    assert "Beta-blockers" in read_document(good_pdf).pages[0].text  # a fresh worker takes over


@pytest.mark.parametrize("isolate", [True, False])
def test_reading_in_process_and_in_the_worker_agree(tmp_path: Path, isolate: bool) -> None:
    mixed = image_page_pdf(tmp_path / "mixed.pdf", {1: ["Typed page about statins."]}, n_pages=2)
    doc = read_document(mixed, ReadLimits(isolate=isolate))
    assert "statins" in doc.pages[0].text
    assert doc.warnings == ["page 2: no text layer; OCR not available (scanned image), not indexed"]
    locked = encrypt_pdf(mixed, tmp_path / "locked.pdf", user_password="pw")
    assert _reason(locked, ReadLimits(isolate=isolate)) == "encrypted PDF (password required)"
