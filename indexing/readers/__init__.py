"""Files to `Document`s: PDF, markdown and plain text, chosen by content as well as name.

`read_document` gives raw page text plus metadata; `indexing.cleaning.clean_document` tidies it.
Every failure is a `ReadError` naming the file with one reason.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path

from indexing.errors import ReadError
from indexing.readers.limits import DEFAULT_LIMITS, ReadLimits
from indexing.readers.markdown import parse_markdown
from indexing.readers.pdf import read_pdf
from indexing.readers.pdf_worker import isolation_available, parse_pdf_isolated
from indexing.readers.sidecar import find_sidecar, is_sidecar, load_sidecar, merge_meta
from indexing.readers.text import decode_text, first_line_title, split_pages
from indexing.schema import Document, Page, SourceMeta
from indexing.text import detect_language

__all__ = [
    "ReadError",
    "ReadLimits",
    "SUPPORTED_SUFFIXES",
    "is_sidecar",
    "is_supported",
    "read_document",
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
_READ_BLOCK = 1 << 20


def is_supported(path: Path) -> bool:
    """Whether a directory walk should hand this file to `read_document`."""
    return path.suffix.lower() in SUPPORTED_SUFFIXES and not is_sidecar(path)


def read_document(path: str | Path, limits: ReadLimits | None = None) -> Document:
    """Read one file into a Document (raw text per page, metadata, content-hash id).

    The format comes from the bytes first (`%PDF-` means PDF whatever the name), then the suffix.
    A sidecar beside the file (see `indexing.readers.sidecar`) overrides what the file says.
    """
    path = Path(path)
    limits = limits or (ReadLimits() if "M1E_MAX_FILE_MB" in os.environ else DEFAULT_LIMITS)
    _check_file(path, limits)
    if is_sidecar(path):
        raise ReadError(path, "this is a metadata sidecar, not a document")
    sidecar = find_sidecar(path)
    sidecar_meta = load_sidecar(sidecar, path) if sidecar is not None else None

    try:
        handle = open(path, "rb")
    except PermissionError:
        raise ReadError(path, "permission denied") from None
    except OSError as exc:
        raise ReadError(path, f"cannot open file ({exc.strerror or exc})") from None
    with handle:
        head = handle.read(1024)
        fmt = _sniff(path, head)
        digest = hashlib.sha256(head)
        read = len(head)
        while block := handle.read(_READ_BLOCK):
            read += len(block)
            if read > limits.max_file_bytes:
                raise ReadError(path, _too_large(read, limits))
            digest.update(block)
        if read == 0:
            raise ReadError(path, "empty file")
        document_id = digest.hexdigest()
        handle.seek(0)
        if fmt == "pdf":
            if limits.isolate and isolation_available():
                content = parse_pdf_isolated(path, limits)
            else:
                content = read_pdf(path, handle, limits)
            pages = [Page(number=n, text=t) for n, t in content.pages]
            found = SourceMeta(authors=content.authors, year=content.year, doi=content.doi)
            title = content.title
            warnings = content.warnings
            if title is None:
                title = _first_heading_line(content.pages)
        else:
            text = decode_text(path, handle.read())
            if fmt == "markdown":
                md = parse_markdown(text)
                pages = [Page(number=1, text=md.text)]
                found = SourceMeta(authors=md.authors, year=md.year, doi=md.doi)
                title, warnings = md.title, md.warnings
            else:
                pages = [Page(number=i + 1, text=t) for i, t in enumerate(split_pages(text))]
                found = SourceMeta()
                title, warnings = first_line_title(pages[0].text), []

    if not any(p.text.strip() for p in pages):
        raise ReadError(path, "no text in file" if fmt != "pdf" else "no text layer; OCR not available")
    sample = "\n".join(p.text for p in pages[:3])
    if found.doi is None:
        found.doi = find_doi(sample)
    found.language = detect_language(sample)
    meta = merge_meta(found, sidecar_meta)
    final_title = meta.title or title or _title_from_name(path)
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


def _check_file(path: Path, limits: ReadLimits) -> None:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ReadError(path, "file not found") from None
    except PermissionError:
        raise ReadError(path, "permission denied") from None
    except OSError as exc:
        raise ReadError(path, f"cannot access file ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ReadError(path, "is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise ReadError(path, "not a regular file")
    if st.st_size == 0:
        raise ReadError(path, "empty file")
    if st.st_size > limits.max_file_bytes:
        raise ReadError(path, _too_large(st.st_size, limits))
    if not os.access(path, os.R_OK):
        raise ReadError(path, "permission denied")


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
