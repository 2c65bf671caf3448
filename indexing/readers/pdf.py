"""PDF text per physical page with pypdf, guarded against the files pypdf struggles with.

Metadata: /Title (unless it is a placeholder, a file name or a manuscript id), /Author, a DOI
key if the producer wrote one, and the year of /CreationDate as a stand-in for the publication
year (a sidecar's `year` overrides it; the reader cannot know when a PDF was re-exported).

Reading order: pypdf's plain mode follows the content stream, which is column by column for most
producers. Pages whose stream runs row by row across two columns come out interleaved, so every
page is also laid out (pypdf's layout mode) and, where a clear gutter splits the page into two
columns, the layout text is read left column then right column instead.
"""

from __future__ import annotations

import logging
import re
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Callable

from indexing.errors import ReadError
from indexing.readers.limits import ReadLimits
from indexing.text import display_width

logging.getLogger("pypdf").setLevel(logging.ERROR)  # pypdf warns loudly about harmless quirks

NO_TEXT_LAYER = "no text layer; OCR not available"


@dataclass
class PdfContent:
    pages: list[tuple[int, str]]  # (1-based physical page number, raw text)
    title: str | None = None
    authors: list[str] = field(default_factory=list)
    year: int | None = None
    doi: str | None = None
    warnings: list[str] = field(default_factory=list)


def read_pdf(path, handle: IO[bytes], limits: ReadLimits, on_page: Callable[[int], None] | None = None) -> PdfContent:
    """Text of every page of an open PDF; raises ReadError with one reason when it cannot.
    `on_page(number)` is called after each page (the worker reports progress with it)."""
    reader = _open_reader(path, handle)
    n_pages = _page_count(path, reader, limits)
    content = PdfContent(pages=[])
    _read_info(reader, content)
    started = time.monotonic()
    trouble = _PageTrouble()
    for index in range(n_pages):
        number = index + 1
        if time.monotonic() - started > limits.max_seconds:
            raise ReadError(
                path, f"PDF took longer than {limits.max_seconds:g} s to read (stopped at page {number} of {n_pages})"
            )
        try:
            page = reader.pages[index]
            text = _page_text(page)
        except Exception:  # (RecursionError and MemoryError too) one broken page must not lose the rest
            trouble.failed.append(number)
            content.pages.append((number, ""))
            continue
        if len(text) > limits.max_page_chars:
            content.warnings.append(f"page {number}: text cut to {limits.max_page_chars} characters")
            text = text[: limits.max_page_chars]
        if not text.strip():
            if _has_images(page):
                trouble.scanned.append(number)
        elif _is_garbled(text):
            trouble.unreadable.append(number)
            text = ""
        content.pages.append((number, text))
        if on_page is not None:
            on_page(number)
    trouble.report(path, content)
    return content


def _open_reader(path, handle: IO[bytes]):
    """A pypdf reader of the handle, decrypted when an empty password opens it."""
    import pypdf
    from pypdf.errors import DependencyError, PdfReadError

    try:
        reader = pypdf.PdfReader(handle, strict=False)
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, AssertionError) as exc:
        raise ReadError(path, f"corrupt PDF ({_short(exc)})") from None
    except RecursionError:
        raise ReadError(path, "corrupt PDF (object structure nests too deeply)") from None
    except MemoryError:
        raise ReadError(path, "corrupt PDF (ran out of memory parsing it)") from None
    except Exception as exc:  # pypdf raises many types on hostile input; all mean "cannot parse"
        raise ReadError(path, f"corrupt PDF ({type(exc).__name__}: {_short(exc)})") from None
    if _is_encrypted(reader):
        try:
            opened = reader.decrypt("")
        except DependencyError:
            raise ReadError(path, "encrypted PDF (needs the 'cryptography' package to decrypt)") from None
        except Exception as exc:
            raise ReadError(path, f"encrypted PDF (cannot decrypt: {_short(exc)})") from None
        if not opened:
            raise ReadError(path, "encrypted PDF (password required)")
    return reader


def _page_count(path, reader, limits: ReadLimits) -> int:
    from pypdf.errors import FileNotDecryptedError

    try:
        n_pages = len(reader.pages)
    except FileNotDecryptedError:
        raise ReadError(path, "encrypted PDF (password required)") from None
    except RecursionError:
        raise ReadError(path, "corrupt PDF (page tree nests too deeply)") from None
    except Exception as exc:
        raise ReadError(path, f"corrupt PDF (page tree unreadable: {_short(exc)})") from None
    if n_pages == 0:
        raise ReadError(path, "PDF has no pages")
    if n_pages > limits.max_pages:
        raise ReadError(path, f"PDF has {n_pages} pages, more than the limit of {limits.max_pages}")
    return n_pages


@dataclass
class _PageTrouble:
    """Pages left out of a PDF, by why: no text layer (scanned), unmapped fonts, or a parse failure."""

    scanned: list[int] = field(default_factory=list)
    unreadable: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)

    def report(self, path, content: PdfContent) -> None:
        """One warning per kind of trouble; a ReadError naming the cause when no page has text."""
        if not any(t.strip() for _, t in content.pages):
            if self.failed and not self.scanned:
                raise ReadError(path, "corrupt PDF (no page could be read)")
            if self.unreadable and not self.scanned:
                raise ReadError(path, "text layer unreadable (fonts without a Unicode mapping); OCR not available")
            raise ReadError(path, NO_TEXT_LAYER)
        if self.scanned:
            content.warnings.append(f"{_pages_phrase(self.scanned)}: {NO_TEXT_LAYER} (scanned image), not indexed")
        if self.unreadable:
            content.warnings.append(
                f"{_pages_phrase(self.unreadable)}: text layer unreadable (fonts without a Unicode mapping), not indexed"
            )
        if self.failed:
            content.warnings.append(f"{_pages_phrase(self.failed)}: could not be parsed, not indexed")


def _is_encrypted(reader) -> bool:
    try:
        return bool(reader.is_encrypted)
    except Exception:
        return False


def _page_text(page) -> str:
    """Plain (content-stream) text, which keeps superscripts in place ("10⁹/L"), corrected with
    the laid-out page where the stream order is wrong: interleaved columns, table cells."""
    plain = page.extract_text() or ""
    if not plain.strip():
        return ""
    if not _may_need_layout(plain):
        return plain
    try:
        layout = page.extract_text(extraction_mode="layout") or ""
    except Exception:
        return plain
    columns = two_column_text(layout, plain)
    if columns is not None:
        return columns
    return merge_table_rows(plain, layout)


def _may_need_layout(plain: str) -> bool:
    """Laying a page out costs more than reading it, so only pages that could hold side-by-side
    columns (narrow lines) or table cells (runs of short lines) are laid out."""
    lines = [ln.strip() for ln in plain.splitlines() if ln.strip()]
    if len(lines) < 3:
        return False
    widths = sorted(display_width(ln) for ln in lines)
    if widths[int(0.8 * (len(widths) - 1))] <= 75:
        return True  # no line reaches a full single-column measure
    run = 0
    for ln in lines:
        run = run + 1 if display_width(ln) <= 25 else 0
        if run >= 3:
            return True
    return False


def merge_table_rows(plain: str, layout: str) -> str:
    """Where the stream gives one line per table cell, put each row back on one line
    ("Amlodipine | 5 mg | once daily"), using the rows the layout shows. Only exact runs of
    cells are merged, so prose is never touched."""
    rows: dict[str, list[list[str]]] = {}
    for line in layout.splitlines():
        cells = [c.strip() for c in re.split(r"\s{3,}", line.strip()) if c.strip()]
        if len(cells) >= 2:
            rows.setdefault(cells[0], []).append(cells)
    if not rows:
        return plain
    lines = plain.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        for cells in rows.get(lines[i].strip(), ()):
            n = len(cells)
            if [ln.strip() for ln in lines[i : i + n]] == cells:
                out.append(" | ".join(cells))
                i += n
                break
        else:
            out.append(lines[i])
            i += 1
    return "\n".join(out)


# ----------------------------------------------------------------------------- two columns

_MIN_SIDE_CHARS = 15  # a text column, not a table cell


def two_column_text(layout: str, plain: str | None = None) -> str | None:
    """Reading-order text of a laid-out page with two text columns whose content stream runs
    across them; None for one column, or when `plain` (the stream order) already reads column
    by column (then the stream text is better: it keeps superscripts in line)."""
    lines = [ln.rstrip() for ln in layout.splitlines()]
    text_lines = [ln for ln in lines if ln.strip()]
    if len(text_lines) < 8:
        return None
    width = max(len(ln) for ln in text_lines)
    if width < 40:
        return None
    gutter = _find_gutter(text_lines, width)
    if gutter is None:
        return None
    lo, hi = gutter
    if plain is not None and not _interleaved(lines, lo, hi, plain):
        return None
    out: list[str] = []
    left: list[str] = []
    right: list[str] = []

    def flush() -> None:
        out.extend(left)
        out.extend(right)
        left.clear()
        right.clear()

    for ln in lines:
        if not ln.strip():
            if left and left[-1] != "":
                left.append("")
            if right and right[-1] != "":
                right.append("")
            continue
        if ln[lo:hi].strip():  # text crosses the gutter: a full-width line (title, wide table)
            flush()
            out.append(_squash(ln))
            continue
        lpart, rpart = _squash(ln[:lo]), _squash(ln[hi:])
        if lpart:
            left.append(lpart)
        if rpart:
            right.append(rpart)
    flush()
    text = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


def _interleaved(lines: list[str], lo: int, hi: int, plain: str) -> bool:
    """Whether the stream text alternates between the columns instead of reading one then the other."""
    flat = re.sub(r"\s+", "", plain)

    def position(part: str) -> int:
        key = re.sub(r"\s+", "", part)[:24]
        return flat.find(key) if len(key) >= 8 else -1

    left = [position(ln[:lo]) for ln in lines if ln[lo:hi].strip() == "" and ln[:lo].strip()]
    right = [position(ln[hi:]) for ln in lines if ln[lo:hi].strip() == "" and ln[hi:].strip()]
    left = [p for p in left if p >= 0]
    right = [p for p in right if p >= 0]
    if not left or not right:
        return False
    # in column order, most right-column lines come after the last left-column line they follow
    before = sum(1 for r in right if r < max(left))
    return before > 0.3 * len(right)


def _find_gutter(lines: list[str], width: int) -> tuple[int, int] | None:
    """A vertical band of >= 2 blank columns in the middle third that splits many long lines."""
    best: tuple[int, int, int] | None = None  # (score, lo, hi)
    start, stop = int(width * 0.3), int(width * 0.7)
    for lo in range(start, stop):
        hi = lo + 2
        split = 0
        crossing = 0
        for ln in lines:
            band = ln[lo:hi]
            if band.strip():
                crossing += 1
                continue
            if len(ln[:lo].strip()) >= _MIN_SIDE_CHARS and len(ln[hi:].strip()) >= _MIN_SIDE_CHARS:
                split += 1
        if split >= max(5, 0.4 * len(lines)) and crossing <= 0.35 * len(lines):
            if best is None or split > best[0]:
                best = (split, lo, hi)
    if best is None:
        return None
    return best[1], best[2]


def _squash(text: str) -> str:
    return re.sub(r"[ \t]{2,}", " ", text).strip()


# ----------------------------------------------------------------------------- page checks

def _has_images(page) -> bool:
    try:
        resources = page.get("/Resources")
        resources = resources.get_object() if resources is not None else None
        return _resources_have_images(resources, depth=0)
    except Exception:
        return False


def _resources_have_images(resources, depth: int) -> bool:
    if resources is None or depth > 4:
        return False
    xobjects = resources.get("/XObject")
    if xobjects is None:
        return False
    xobjects = xobjects.get_object()
    for ref in list(xobjects.values())[:200]:
        obj = ref.get_object()
        subtype = obj.get("/Subtype")
        if subtype == "/Image":
            return True
        if subtype == "/Form":
            inner = obj.get("/Resources")
            if inner is not None and _resources_have_images(inner.get_object(), depth + 1):
                return True
    return False


def _is_garbled(text: str) -> bool:
    """Text from fonts without a Unicode map: mostly control, private-use or replacement chars."""
    chars = [c for c in text if not c.isspace()]
    if not chars:
        return False
    bad = sum(1 for c in chars if c == "\ufffd" or unicodedata.category(c) in ("Cc", "Co", "Cn"))
    return bad / len(chars) > 0.3


def _pages_phrase(numbers: list[int]) -> str:
    if len(numbers) == 1:
        return f"page {numbers[0]}"
    return "pages " + ", ".join(str(n) for n in numbers)


# ----------------------------------------------------------------------------- metadata

_BAD_TITLES = re.compile(
    r"^\(?(untitled|anonymous|unknown|unspecified|none|title|document\d*|microsoft word|"
    r"powerpoint presentation|slide \d+|layout \d+)\)?$",
    re.I,
)
_BAD_AUTHORS = re.compile(r"^\(?(anonymous|unknown|unspecified|none|admin|user|author)\)?$", re.I)


def _read_info(reader, content: PdfContent) -> None:
    try:
        info = reader.metadata
    except Exception:
        info = None
    if not info:
        return
    try:
        title = _clean_title(str(info.get("/Title") or ""))
        if title:
            content.title = title
        author = str(info.get("/Author") or "").strip()
        if author and not _BAD_AUTHORS.match(author):
            content.authors = split_authors(author)
        for key in ("/CreationDate", "/ModDate"):
            year = _pdf_year(str(info.get(key) or ""))
            if year:
                content.year = year
                break
        for key in ("/doi", "/DOI", "/prism:doi"):
            doi = str(info.get(key) or "").strip()
            if re.fullmatch(r"10\.\d{4,9}/\S+", doi):
                content.doi = doi
                break
    except Exception:
        return


def _clean_title(raw: str) -> str | None:
    title = " ".join(raw.replace("\x00", "").split())
    title = re.sub(r"^Microsoft (Word|PowerPoint) - ", "", title)
    if re.search(r"\.(pdf|docx?|tex|dvi|indd|pptx?|rtf|odt)$", title, re.I):
        return None
    if len(title) < 4 or _BAD_TITLES.match(title) or not re.search(r"[^\W\d_]", title):
        return None
    if re.fullmatch(r"[\w.\-/:]+", title) and re.search(r"\d", title):
        return None  # a manuscript or file id ("NEJMoa1511939", "CIR-2023-0112"), not a title
    return title[:300]


def _pdf_year(value: str) -> int | None:
    m = re.match(r"^(?:D:)?(\d{4})", value.strip())
    if not m:
        return None
    year = int(m.group(1))
    return year if 1900 <= year <= datetime.now().year + 1 else None


def split_authors(value: str) -> list[str]:
    """'A; B' or 'A, B, C' into names; a single 'Surname, Given' stays whole."""
    if ";" in value:
        parts = value.split(";")
    elif value.count(",") >= 2 or " and " in value:
        parts = re.split(r",|\band\b", value)
    else:
        parts = [value]
    return [p.strip() for p in parts if p.strip()][:100]


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:160]
