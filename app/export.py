"""A printable PDF of an answer: the same content as `Answer.to_markdown()`, laid out on A4.

reportlab writes it (a runtime dependency since this export; BSD licence, pure Python with an
optional C speed-up, already used by the tests to make sample PDFs). It needs no font files:
Latin text uses the PDF base font Helvetica, and an answer with Chinese text uses reportlab's
built-in CID font STSong-Light, which every PDF reader maps to an installed Song/Ming font.
"""

from __future__ import annotations

import io
import re
from xml.sax.saxutils import escape

from evidence.export import location_label, stated_grade_text
from evidence.schema import Answer
from indexing.text import has_full_width

_CITATION = re.compile(r"\[(E\d+)\]")


def _font_for(answer: Answer) -> str:
    sample = answer.question + answer.text + "".join(e.text + e.title for e in answer.evidence)
    if has_full_width(sample):  # Helvetica has neither ideographs nor full-width marks
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.cidfonts import UnicodeCIDFont

        pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
        return "STSong-Light"
    return "Helvetica"


def _styles(font: str) -> dict:
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet

    base = getSampleStyleSheet()
    wrap = "CJK" if font != "Helvetica" else None
    return {
        "title": ParagraphStyle("t", parent=base["Heading1"], fontName=font, fontSize=15, leading=19, wordWrap=wrap),
        "h2": ParagraphStyle("h", parent=base["Heading2"], fontName=font, fontSize=12, leading=15, wordWrap=wrap),
        "body": ParagraphStyle("b", parent=base["BodyText"], fontName=font, fontSize=10, leading=13, wordWrap=wrap),
        "small": ParagraphStyle("s", parent=base["BodyText"], fontName=font, fontSize=8, leading=10, wordWrap=wrap),
    }


def _para(text: str, style) -> object:
    from reportlab.platypus import Paragraph

    return Paragraph(escape(text).replace("\n", "<br/>"), style)


def answer_to_pdf(answer: Answer, totals: dict[str, int] | None = None) -> bytes:
    """The answer, warnings, evidence table (id, source type, level, stated grade, year,
    location, title, DOI) and the cited passages as PDF bytes."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import SimpleDocTemplate, Spacer, Table, TableStyle

    totals = totals or {}
    font = _font_for(answer)
    st = _styles(font)
    story: list = [_para(answer.question, st["title"])]
    for block in (answer.text.strip() or "(no answer text)").split("\n\n"):
        story.append(_para(block.replace("**", ""), st["body"]))
        story.append(Spacer(1, 3 * mm))
    story.append(_para(f"Answer by {answer.model_label or answer.generator}; mode: {answer.mode}.", st["small"]))
    if answer.warnings:
        story.append(_para("Warnings", st["h2"]))
        story += [_para("• " + w.message, st["body"]) for w in answer.warnings]
    if answer.evidence:
        story.append(_para("Evidence", st["h2"]))
        header = ["ID", "Source type", "Level", "Stated grade", "Year", "Location", "Title", "DOI"]
        rows = [[_para(h, st["small"]) for h in header]]
        for e in answer.evidence:
            g = e.grade
            cells = [e.evidence_id, g.source_type.label if g else "ungraded", str(int(g.level)) if g else "—",
                     stated_grade_text(e), str(e.year or "—"), location_label(e, totals.get(e.document_id)),
                     e.title, e.doi or "—"]
            rows.append([_para(c, st["small"]) for c in cells])
        widths = [w * mm for w in (10, 24, 11, 26, 11, 20, 50, 28)]
        table = Table(rows, colWidths=widths, repeatRows=1)
        table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                                   ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
                                   ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        story.append(table)
        story.append(_para("Passages", st["h2"]))
        for e in answer.evidence:
            where = location_label(e, totals.get(e.document_id))
            story.append(_para(f"{e.evidence_id} · {e.title} · {where}", st["small"]))
            story.append(_para(" ".join(e.text.split()), st["body"]))
            story.append(Spacer(1, 2 * mm))
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=14 * mm, rightMargin=14 * mm,
                            topMargin=14 * mm, bottomMargin=14 * mm, title=answer.question[:200],
                            author="m1-evidence")
    doc.build(story)
    return buffer.getvalue()
