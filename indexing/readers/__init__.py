"""Files to `Document`s: PDF, markdown and plain text, chosen by content as well as name.

`read_document` gives raw page text plus metadata; `indexing.cleaning.clean_document` tidies it.
Every failure is a `ReadError` naming the file with one reason.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
from pathlib import Path

from indexing.errors import ReadError
from indexing.readers.limits import ReadLimits
from indexing.readers.markdown import parse_markdown
from indexing.readers.pdf import read_pdf
from indexing.readers.pdf_worker import isolation_available, parse_pdf_isolated
from indexing.readers.sidecar import find_sidecar, is_sidecar, load_sidecar, merge_meta
from indexing.readers.text import decode_text, first_line_title, split_pages, strip_controls
from indexing.schema import Document, Page, SourceMeta
from indexing.text import detect_language

__all__ = [
    "ReadError",
    "ReadLimits",
    "SUPPORTED_SUFFIXES",
    "is_sidecar",
    "is_supported",
    "read_document",
    "read_file_bytes",
]

SUPPORTED_SUFFIXES: dict[str, str] = {
    ".pdf": "pdf",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
}

_MAGIC = [
    (b"PK\x03\x04", "a ZIP or Office file"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"\xd0\xcf\x11\xe0", "an old Office file"),
    (b"{\\rtf", "an RTF file"),
    (b"\x1f\x8b", "a gzip file"),
    (b"<!DOCTYPE html", "an HTML page"),
    (b"<html", "an HTML page"),
]


def is_supported(path: Path) -> bool:
    """Whether a directory walk should hand this file to `read_document`."""
    return path.suffix.lower() in SUPPORTED_SUFFIXES and not is_sidecar(path)


def read_document(path: str | Path, limits: ReadLimits | None = None, data: bytes | None = None) -> Document:
    """Read one file into a Document (raw text per page, metadata, content-hash id).

    `data` is the file's bytes when the caller has read them already (`read_file_bytes`): the id
    is the hash of exactly the bytes parsed, so a file rewritten while it is indexed can never be
    stored under the other version's id. The format comes from the bytes first (`%PDF-` means
    PDF whatever the name), then the suffix. A sidecar beside the file (see
    `indexing.readers.sidecar`) overrides what the file says.
    """
    path = Path(path)
    limits = limits or ReadLimits()
    if data is None:
        data = read_file_bytes(path, limits)
    if is_sidecar(path):
        raise ReadError(path, "this is a metadata sidecar, not a document")
    sidecar = find_sidecar(path)
    sidecar_meta = load_sidecar(sidecar, path) if sidecar is not None else None
    if not data:
        raise ReadError(path, "empty file")
    fmt = _sniff(path, data[:1024])
    document_id = document_id_for(data)
    if fmt == "pdf":
        pages, found, title, warnings = _parse_pdf(path, data, document_id, limits)
    else:
        pages, found, title, warnings = _parse_text(path, fmt, data, limits)

    if not any(p.text.strip() for p in pages):
        raise ReadError(path, "no text in file" if fmt != "pdf" else "no text layer; OCR not available")
    sample = "\n".join(p.text for p in pages[:3])
    if found.doi is None:
        found.doi = find_doi(sample)
    found.language = detect_language(sample)
    meta = merge_meta(found, sidecar_meta)
    final_title = _shown_title(meta.title or title) or _title_from_name(path)
    meta = meta.model_copy(update={"title": final_title})
    return Document(
        document_id=document_id,
        path=str(path),
        format=fmt,
        title=final_title,
        pages=pages,
        meta=meta,
        warnings=list(warnings),
    )


def document_id_for(data: bytes) -> str:
    """A document's id: the sha256 of its file's bytes. A citation names it, so whoever opens the
    file again (`Assistant.source_pdf`) can tell whether it still holds the cited content."""
    return hashlib.sha256(data).hexdigest()


def read_file_bytes(path: Path, limits: ReadLimits) -> bytes:
    """All bytes of a regular file, read once; anything else (a FIFO, /dev/zero, a folder) or
    a file over the size limit is a ReadError. The kind is checked on the opened descriptor,
    opened non-blocking, so a FIFO cannot hang the open and a swap after the check is caught."""
    _check_file(path, limits)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except PermissionError:
        raise ReadError(path, "permission denied") from None
    except OSError as exc:
        raise ReadError(path, f"cannot open file ({exc.strerror or exc})") from None
    with os.fdopen(fd, "rb") as handle:
        _check_kind(path, os.fstat(fd))
        data = handle.read(limits.max_file_bytes + 1)
    if len(data) > limits.max_file_bytes:
        raise ReadError(path, _too_large(len(data), limits))
    return data


def _parse_pdf(path: Path, data: bytes, document_id: str, limits: ReadLimits) -> tuple:
    if limits.isolate and isolation_available():
        content = parse_pdf_isolated(path, limits, expected_sha256=document_id)
    else:
        content = read_pdf(path, io.BytesIO(data), limits)
    pages = [Page(number=n, text=t) for n, t in content.pages]
    found = SourceMeta(authors=content.authors, year=content.year, doi=content.doi)
    title = content.title if content.title is not None else _first_heading_line(content.pages)
    return pages, found, title, content.warnings


def _parse_text(path: Path, fmt: str, data: bytes, limits: ReadLimits) -> tuple:
    if len(data) > limits.max_text_bytes:
        mb = 1024 * 1024
        raise ReadError(
            path,
            f"text file too large ({len(data) / mb:.1f} MB; the limit for text and markdown is "
            f"{limits.max_text_bytes / mb:g} MB, raise it with M1E_MAX_TEXT_MB)",
        )
    text = decode_text(path, data)
    if fmt == "markdown":
        md = parse_markdown(text)
        found = SourceMeta(authors=md.authors, year=md.year, doi=md.doi)
        return [Page(number=1, text=md.text)], found, md.title, md.warnings
    pages = [Page(number=i + 1, text=t) for i, t in enumerate(split_pages(text))]
    return pages, SourceMeta(), first_line_title(pages[0].text), []


# A title is shown in every table and answer; a longer one (a runaway PDF /Title) is cut here.
MAX_TITLE_CHARS = 500


def _shown_title(title: str | None) -> str | None:
    """A title without control characters (terminal escapes) on one line, at most MAX_TITLE_CHARS."""
    title = strip_controls(title or "", one_line=True)
    if len(title) > MAX_TITLE_CHARS:
        title = title[: MAX_TITLE_CHARS - 1].rstrip() + "…"
    return title or None


def _check_file(path: Path, limits: ReadLimits) -> None:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ReadError(path, "file not found") from None
    except PermissionError:
        raise ReadError(path, "permission denied") from None
    except OSError as exc:
        raise ReadError(path, f"cannot access file ({exc.strerror or exc})") from None
    _check_kind(path, st)
    if st.st_size == 0:
        raise ReadError(path, "empty file")
    if st.st_size > limits.max_file_bytes:
        raise ReadError(path, _too_large(st.st_size, limits))
    if not os.access(path, os.R_OK):
        raise ReadError(path, "permission denied")


_KINDS = [
    (stat.S_ISFIFO, "a FIFO, a named pipe"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
]


def _check_kind(path: Path, st: os.stat_result) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise ReadError(path, "is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        what = next((name for test, name in _KINDS if test(st.st_mode)), "a special file")
        raise ReadError(path, f"not a regular file ({what}); only files can be indexed")


def _too_large(size: int, limits: ReadLimits) -> str:
    mb = 1024 * 1024
    return (
        f"file too large ({size / mb:.1f} MB; the limit is {limits.max_file_bytes / mb:.0f} MB, "
        "raise it with M1E_MAX_FILE_MB)"
    )


def _sniff(path: Path, head: bytes) -> str:
    suffix = path.suffix.lower()
    if b"%PDF-" in head:
        return "pdf"
    kind = SUPPORTED_SUFFIXES.get(suffix)
    looks_like = next((what for magic, what in _MAGIC if head.lstrip().startswith(magic)), None)
    if kind == "pdf":
        if not head:
            raise ReadError(path, "empty file")
        raise ReadError(path, f"not a PDF ({looks_like or 'no %PDF header'})")
    if looks_like is not None:
        raise ReadError(path, f"unsupported file type ({looks_like})")
    if kind is not None:
        return kind
    if suffix == "":
        return "text"
    supported = ", ".join(SUPPORTED_SUFFIXES)
    raise ReadError(path, f"unsupported file type '{suffix}' (supported: {supported})")


_DOI = re.compile(r"\b(10\.\d{4,9}/[^\s\"<>，。；）]+)")


def find_doi(text: str) -> str | None:
    m = _DOI.search(text)
    if not m:
        return None
    return m.group(1).rstrip(".,;:)]}")


def _first_heading_line(pages: list[tuple[int, str]]) -> str | None:
    """A title for a PDF without one in its metadata: the first substantial line of page 1
    that is not a running header (repeated at the top of page 2)."""
    texts = [t for _, t in pages if t.strip()]
    if not texts:
        return None
    next_top = {" ".join(ln.split()) for ln in texts[1].splitlines()[:3]} if len(texts) > 1 else set()
    sentence: str | None = None
    for line in texts[0].splitlines()[:15]:
        line = " ".join(line.split())
        if not line or line in next_top:
            continue
        if re.fullmatch(r"(page\s*)?\d+(\s*(of|/)\s*\d+)?|第\s*\d+\s*页.*", line, re.I):
            continue
        if re.match(r"^(https?://|www\.|doi:|10\.\d{4})", line, re.I):
            continue
        if 6 <= len(line) <= 200 and re.search(r"[^\W\d_]", line):
            if not line.endswith((".", "。", ";", "；", ",", "，")):
                return line
            sentence = sentence or line  # a sentence is a title only if nothing better is there
    return sentence


def _title_from_name(path: Path) -> str:
    stem = path.stem if path.suffix else path.name
    return " ".join(re.sub(r"[_]+", " ", stem).split()) or path.name
