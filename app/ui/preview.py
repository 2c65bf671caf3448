"""A picture of one PDF page, so a clinician can see the cited passage in its original layout."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class PreviewError(ValueError):
    pass


def render_pdf_page(path: str | Path, page_number: int, width_px: int = 900) -> Any:
    """The 1-based page of a PDF as a PIL image about `width_px` wide (pypdfium2 only reads it)."""
    import pypdfium2 as pdfium

    path = Path(path)
    if path.suffix.lower() != ".pdf" or not path.is_file():
        raise PreviewError(f"{path}: not a readable PDF file")
    try:
        pdf = pdfium.PdfDocument(str(path))
    except Exception as exc:  # noqa: BLE001 - pdfium raises its own error types
        raise PreviewError(f"{path}: cannot open the PDF ({exc})") from exc
    try:
        if not 1 <= page_number <= len(pdf):
            raise PreviewError(f"{path}: has no page {page_number} (it has {len(pdf)})")
        page = pdf[page_number - 1]
        scale = max(0.5, min(3.0, width_px / max(page.get_width(), 1.0)))
        image = page.render(scale=scale).to_pil()
        page.close()
        return image
    finally:
        pdf.close()
