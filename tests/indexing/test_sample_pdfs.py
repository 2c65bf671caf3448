"""The bundled sample PDFs carry their fonts: a Chinese page must preview on a host with no CJK font.

The first Chinese samples only named reportlab's STSong-Light, so their page previews rendered
blank wherever the viewer had no CJK font (issue 11); data/build_samples.py now embeds a subset
of an openly licensed CJK font.
"""

from __future__ import annotations

from pathlib import Path

import pypdf
import pytest

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
BASE14 = {"/Helvetica", "/Helvetica-Bold", "/Times-Roman", "/Courier"}


def _fonts(page) -> list[tuple[str, bool]]:
    """(base font name, embedded) for each font a page uses."""
    out = []
    for font in page["/Resources"]["/Font"].values():
        font = font.get_object()
        descriptor = font.get("/FontDescriptor")
        if descriptor is None and "/DescendantFonts" in font:
            descriptor = font["/DescendantFonts"][0].get_object().get("/FontDescriptor")
        descriptor = descriptor.get_object() if descriptor is not None else {}
        out.append((str(font.get("/BaseFont")), any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3"))))
    return out


@pytest.mark.parametrize("pdf", sorted(SAMPLES.glob("zh-*.pdf")), ids=lambda p: p.name)
def test_chinese_samples_embed_their_cjk_font(pdf):
    reader = pypdf.PdfReader(pdf)
    for page in reader.pages:
        fonts = _fonts(page)
        missing = [name for name, embedded in fonts if not embedded and name not in BASE14]
        assert not missing, f"{pdf.name} names fonts it does not carry: {missing}"
        assert any(embedded for _, embedded in fonts)
    assert "糖尿病" in reader.pages[0].extract_text() or "指南" in reader.pages[0].extract_text()
