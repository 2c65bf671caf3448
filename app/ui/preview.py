"""A picture of one PDF page, so a clinician can see the cited passage in its original layout."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class PreviewError(ValueError):
    pass


# A page image is width x height x 4 bytes (RGBA) in pdfium, then copied into PIL: 25 million
# pixels is ~100 MB per copy. An A4 page at 900 px wide is 1.1 million; the largest real
# drawings (A0 at the minimum scale of 0.5) are ~12 million.
MAX_PREVIEW_PIXELS = 25_000_000
MIN_SCALE, MAX_SCALE = 0.5, 3.0


PdfSource = str | Path | bytes  # a PDF file, or the bytes of one (`Assistant.source_pdf`)


def source_name(source: PdfSource) -> str:
    """How a message names the PDF: its path, or "the cited PDF" for bytes (never the bytes)."""
    return "the cited PDF" if isinstance(source, bytes) else str(source)


@contextmanager
def open_pdf_page(source: PdfSource, page_number: int, error: type[PreviewError] = PreviewError) -> Iterator[Any]:
    """The 1-based page of a PDF file or PDF bytes, closed with its document afterwards; `error`
    (a PreviewError) names the file when it is missing, cannot be opened or has no such page.
    The one place the UI opens a PDF page: the plain preview and the highlighted one
    (highlight.py) both use it; the evidence card gives the bytes `Assistant.source_pdf`
    vouched for, so the page shown is the indexed content."""
    import pypdfium2 as pdfium

    name = source_name(source)
    if not isinstance(source, bytes):
        if not Path(source).is_file():
            raise error(f"{name}: no such file")
        source = str(source)
    try:
        pdf = pdfium.PdfDocument(source)
    except Exception as exc:  # noqa: BLE001 - pdfium raises its own error types
        raise error(f"{name}: cannot open the PDF ({exc})") from exc
    try:
        if not 1 <= page_number <= len(pdf):
            raise error(f"{name}: has no page {page_number} (it has {len(pdf)})")
        page = pdf[page_number - 1]
        try:
            yield page
        finally:
            page.close()
    finally:
        pdf.close()


def render_pdf_page(path: str | Path, page_number: int, width_px: int = 900) -> Any:
    """The 1-based page of a PDF as a PIL image about `width_px` wide (pypdfium2 only reads it)."""
    path = Path(path)
    if path.suffix.lower() != ".pdf" or not path.is_file():
        raise PreviewError(f"{path}: not a readable PDF file")
    with open_pdf_page(path, page_number) as page:
        try:
            return _render(page, page_number, width_px, path)
        except PreviewError:
            raise
        except Exception as exc:  # noqa: BLE001 - pdfium and PIL fail in their own ways on hostile pages
            raise PreviewError(f"{path}: cannot render page {page_number} ({type(exc).__name__}: {exc})") from exc


def _render(page: Any, page_number: int, width_px: int, path: Path) -> Any:
    """Render at about `width_px` wide, refusing pages whose image would exceed MAX_PREVIEW_PIXELS
    before any pixel is allocated (a 1800 x 1,800,000 pt MediaBox once took 5 GB)."""
    width_pt, height_pt = max(page.get_width(), 1.0), max(page.get_height(), 1.0)
    scale = max(MIN_SCALE, min(MAX_SCALE, width_px / width_pt))
    scale = min(scale, (MAX_PREVIEW_PIXELS / (width_pt * height_pt)) ** 0.5)
    if scale < MIN_SCALE:
        raise PreviewError(
            f"{path}: page {page_number} is too large to preview ({width_pt:,.0f} x {height_pt:,.0f} points; "
            f"the limit is {MAX_PREVIEW_PIXELS:,} pixels at half scale)"
        )
    return page.render(scale=scale).to_pil()
