"""Render the project's sample documents (data/sources/*.txt) to PDF with sidecars in data/samples/.

Run from the repository root:  python data/build_samples.py
Needs reportlab (a test dependency). The output is deterministic (reportlab's invariant mode),
so rebuilding unchanged sources gives byte-identical PDFs and the same document ids.

Source format: a YAML front-matter block (`file`, `lang` and the sidecar keys: title,
organization, year, doi, authors, language, publication_types, keywords), then lines:
`# ` the document heading, `## ` a section heading, `1. ` a numbered recommendation,
`<<pagebreak>>` a new page, anything else a paragraph. Every page gets a footer saying it is a summary by this project and that the
original must be consulted.

Chinese text is set in WenQuanYi Micro Hei (Debian's fonts-wqy-microhei; Apache-2.0 or GPL-3+
with the font exception, so a subset may travel inside the PDFs), embedded as a subset: a PDF
that only names a CJK font (as the built-in STSong-Light did) renders blank wherever the viewer
has no CJK font, which is what a new user saw in the page previews (issue 11). Another TrueType
CJK font can be named with M1E_CJK_FONT=PATH[:INDEX].
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import yaml
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import BaseDocTemplate, Frame, PageBreak, PageTemplate, Paragraph, Spacer
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent
CJK_FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc:0"
CJK_NAME = "WenQuanYiMicroHei"
SOURCES = ROOT / "sources"
SAMPLES = ROOT / "samples"
RENDER_KEYS = {"file", "lang"}

FOOTERS = {
    "zh": "本摘要由 m1-evidence 项目整理，并非指南原文；临床使用请以原文为准。 第 {page} 页",
    "en": "Summary prepared by the m1-evidence project, not the original publication; consult the original. Page {page}",
}


def _register_cjk_font() -> None:
    """Register the embeddable CJK font once; a clear error names the file when it is missing."""
    if CJK_NAME in pdfmetrics.getRegisteredFontNames():
        return
    spec = os.environ.get("M1E_CJK_FONT", CJK_FONT)
    path, _, index = spec.partition(":")
    if not Path(path).is_file():
        raise SystemExit(f"CJK font {path} not found: install fonts-wqy-microhei or set M1E_CJK_FONT=PATH[:INDEX]")
    pdfmetrics.registerFont(TTFont(CJK_NAME, path, subfontIndex=int(index or 0)))


def _styles(lang: str) -> dict[str, ParagraphStyle]:
    if lang == "zh":
        _register_cjk_font()
        body_font = bold_font = CJK_NAME
        wrap = "CJK"
    else:
        body_font, bold_font, wrap = "Helvetica", "Helvetica-Bold", None
    base = dict(fontName=body_font, fontSize=11, leading=17, wordWrap=wrap)
    return {
        "title": ParagraphStyle("title", **{**base, "fontName": bold_font, "fontSize": 15, "leading": 22, "spaceAfter": 8}),
        "h2": ParagraphStyle("h2", **{**base, "fontName": bold_font, "fontSize": 12.5, "leading": 19, "spaceBefore": 8, "spaceAfter": 3}),
        "item": ParagraphStyle("item", **{**base, "leftIndent": 12, "spaceAfter": 3}),
        "para": ParagraphStyle("para", **{**base, "spaceAfter": 4}),
        "note": ParagraphStyle("note", **{**base, "fontSize": 9.5, "leading": 14, "spaceAfter": 6}),
    }


def parse_source(path: Path) -> tuple[dict, list[tuple[str, str]]]:
    text = path.read_text(encoding="utf-8")
    _, front, body = text.split("---\n", 2)
    meta = yaml.safe_load(front)
    blocks: list[tuple[str, str]] = []
    for line in body.splitlines():
        line = line.strip()
        if not line:
            continue
        if line == "<<pagebreak>>":
            blocks.append(("pagebreak", ""))
        elif line.startswith("## "):
            blocks.append(("h2", line[3:]))
        elif line.startswith("# "):
            blocks.append(("title", line[2:]))
        elif line[:1].isdigit() and ". " in line[:4]:
            blocks.append(("item", line))
        elif line.startswith(("说明：", "Note:")):
            blocks.append(("note", line))
        else:
            blocks.append(("para", line))
    return meta, blocks


def render(path: Path) -> Path:
    meta, blocks = parse_source(path)
    lang = meta["lang"]
    styles = _styles(lang)
    target = SAMPLES / f"{meta['file']}.pdf"
    footer = FOOTERS[lang]
    font = CJK_NAME if lang == "zh" else "Helvetica"

    def footer_at_page_end(canvas, doc) -> None:  # drawn after the text, as most PDFs do
        canvas.saveState()
        canvas.setFont(font, 8)
        canvas.drawCentredString(A4[0] / 2, 12 * mm, footer.format(page=doc.page))
        canvas.restoreState()

    doc = BaseDocTemplate(
        str(target), pagesize=A4, leftMargin=22 * mm, rightMargin=22 * mm, topMargin=20 * mm,
        bottomMargin=22 * mm, title=meta["title"], author=meta.get("organization", ""),
        subject="m1-evidence sample summary", invariant=1,
    )
    frame = Frame(doc.leftMargin, doc.bottomMargin, doc.width, doc.height, id="body")
    doc.addPageTemplates([PageTemplate(id="page", frames=[frame], onPageEnd=footer_at_page_end)])
    story = []
    for kind, text in blocks:
        if kind == "pagebreak":
            story.append(PageBreak())
            continue
        story.append(Paragraph(escape(text), styles[kind]))
        if kind == "title":
            story.append(Spacer(1, 2))
    doc.build(story)

    sidecar = {k: v for k, v in meta.items() if k not in RENDER_KEYS}
    target.with_name(target.name + ".meta.json").write_text(
        json.dumps(sidecar, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return target


def main() -> int:
    SAMPLES.mkdir(exist_ok=True)
    for source in sorted(SOURCES.glob("*.txt")):
        out = render(source)
        print(f"{source.name} -> {out.relative_to(ROOT.parent)} ({out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
