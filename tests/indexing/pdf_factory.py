"""Test PDFs built with reportlab, each shaped like a real-world problem the reader must handle.

Lines are drawn one by one with the canvas so each test controls exactly where lines break,
what the content stream order is, and what sits at the top and bottom of a page.
"""

from __future__ import annotations

import io
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

WIDTH, HEIGHT = A4
LEFT = 72
TOP = HEIGHT - 90
LEADING = 15

_cid_registered = False


def _cjk_font() -> str:
    global _cid_registered
    if not _cid_registered:
        pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
        _cid_registered = True
    return "STSong-Light"


def _canvas(path: Path, title: str | None = None, author: str | None = None) -> canvas.Canvas:
    c = canvas.Canvas(str(path), pagesize=A4, invariant=1)
    if title:
        c.setTitle(title)
    if author:
        c.setAuthor(author)
    return c


def lines_pdf(path: Path, pages: list[list[str]], *, font: str = "Helvetica", size: float = 11,
              header: str | None = None, footer: str | None = None, title: str | None = None,
              author: str | None = None) -> Path:
    """Each page's lines drawn top to bottom; `header`/`footer` may use {page} and {pages}."""
    c = _canvas(path, title, author)
    for number, lines in enumerate(pages, start=1):
        if header:
            c.setFont("Helvetica", 8)
            c.drawString(LEFT, HEIGHT - 45, header.format(page=number, pages=len(pages)))
        c.setFont(font, size)
        y = TOP
        for line in lines:
            if line:
                c.drawString(LEFT, y, line)
            y -= LEADING
        if footer:
            c.setFont("Helvetica", 8)
            c.drawCentredString(WIDTH / 2, 40, footer.format(page=number, pages=len(pages)))
        c.showPage()
    c.save()
    return path


def chinese_pdf(path: Path, pages: list[list[str]], footer: str | None = None) -> Path:
    """Chinese lines in reportlab's built-in CID font STSong-Light (no font files needed)."""
    font = _cjk_font()
    c = _canvas(path)
    for number, lines in enumerate(pages, start=1):
        c.setFont(font, 11)
        y = TOP
        for line in lines:
            if line:
                c.drawString(LEFT, y, line)
            y -= LEADING + 3
        if footer:
            c.setFont(font, 8)
            c.drawCentredString(WIDTH / 2, 40, footer.format(page=number, pages=len(pages)))
        c.showPage()
    c.save()
    return path


def two_column_pdf(path: Path, title: str, left: list[str], right: list[str], *, interleaved: bool = True,
                   chinese: bool = False) -> Path:
    """A full-width title over two text columns. With `interleaved` the content stream draws
    row by row across both columns (left line 1, right line 1, ...), the order that defeats a
    reader following the stream."""
    c = _canvas(path)
    c.setFont(_cjk_font() if chinese else "Helvetica-Bold", 13)
    c.drawString(LEFT, HEIGHT - 60, title)
    c.setFont(_cjk_font() if chinese else "Helvetica", 9)
    gap = 24
    col_width = (WIDTH - 2 * LEFT - gap) / 2
    x_right = LEFT + col_width + gap
    rows = max(len(left), len(right))
    if interleaved:
        for i in range(rows):
            y = TOP - i * 12
            if i < len(left):
                c.drawString(LEFT, y, left[i])
            if i < len(right):
                c.drawString(x_right, y, right[i])
    else:
        for i, line in enumerate(left):
            c.drawString(LEFT, TOP - i * 12, line)
        for i, line in enumerate(right):
            c.drawString(x_right, TOP - i * 12, line)
    c.showPage()
    c.save()
    return path


def table_pdf(path: Path, intro: str, rows: list[list[str]], column_x: list[float]) -> Path:
    c = _canvas(path)
    c.setFont("Helvetica", 11)
    c.drawString(LEFT, TOP, intro)
    for i, row in enumerate(rows):
        y = TOP - 30 - i * 16
        c.setFont("Helvetica-Bold" if i == 0 else "Helvetica", 10)
        for x, cell in zip(column_x, row):
            c.drawString(x, y, cell)
    c.showPage()
    c.save()
    return path


def image_page_pdf(path: Path, text_pages: dict[int, list[str]], n_pages: int) -> Path:
    """Pages listed in `text_pages` carry text; every other page is only an image (a scan)."""
    from PIL import Image
    from reportlab.lib.utils import ImageReader

    image = Image.new("L", (200, 260), color=200)
    for x in range(20, 180):
        for y in range(40, 44):
            image.putpixel((x, y), 20)  # a dark bar: something drawn, no text layer
    c = _canvas(path)
    for number in range(1, n_pages + 1):
        if number in text_pages:
            c.setFont("Helvetica", 11)
            y = TOP
            for line in text_pages[number]:
                c.drawString(LEFT, y, line)
                y -= LEADING
        else:
            c.drawImage(ImageReader(image), LEFT, 200, width=400, height=520)
        c.showPage()
    c.save()
    return path


def encrypt_pdf(source: Path, target: Path, user_password: str) -> Path:
    """A copy of `source` encrypted with AES; an empty user password opens without asking."""
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=str(source))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="AES-256")
    with open(target, "wb") as fh:
        writer.write(fh)
    return target


def zero_page_pdf(path: Path) -> Path:
    from pypdf import PdfWriter

    buffer = io.BytesIO()
    PdfWriter().write(buffer)
    path.write_bytes(buffer.getvalue())
    return path


def slow_pdf(path: Path, operations: int = 400_000) -> Path:
    """A small file whose one page holds a huge compressed content stream: cheap to write,
    slow to extract, like the pathological files that stall pdf parsers."""
    import zlib

    ops = b"BT /F1 1 Tf 1 0 0 1 10 10 Tm (a) Tj ET\n" * operations
    stream = zlib.compress(ops, 9)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))
    return path
