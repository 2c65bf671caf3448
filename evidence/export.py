"""An answer as a Markdown document a clinician can keep, paste or print (`Answer.to_markdown`).

The answer text is kept as written (its [En] markers name rows of the evidence table); every
document-derived cell is made inert for Markdown (no links, HTML or table breaks), because
titles and passages come from files we did not write.
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evidence.schema import Answer, Evidence

_CELL_SPECIALS = re.compile(r"([\\`*_\[\]<>|])")


def location_label(item: "Evidence", total_pages: int | None = None) -> str:
    """Where in its source a passage is, in words that are true for the source's kind.

    Only a PDF has pages; a guideline read from a folder of markdown section files has sections
    ("section 2 of 4"), a single markdown file is one whole text, and a text file's form-feed
    parts are parts.
    """
    suffix = PurePath(item.path).suffix.lower() if item.path else ".pdf"
    span = item.pages
    if suffix == ".pdf":
        return f"p. {span}" if item.page_start == item.page_end else f"pp. {span}"
    of = f" of {total_pages}" if total_pages else ""
    if suffix in (".md", ".markdown"):
        return "whole file" if (total_pages or 1) == 1 and item.page_end == 1 else f"section {span}{of}"
    if suffix in (".txt", ".text"):
        return "whole file" if (total_pages or 1) == 1 and item.page_end == 1 else f"part {span}{of}"
    noun = "section" if item.page_start == item.page_end else "sections"
    return f"{noun} {span}{of}"


def inert(text: str) -> str:
    """Document text made literal in Markdown (and safe inside a table cell)."""
    return _CELL_SPECIALS.sub(r"\\\1", " ".join((text or "").split()))


def stated_grade_text(item: "Evidence") -> str:
    quotes = [g.quote or " ".join(x for x in (g.strength, g.certainty) if x) for g in item.stated_grades]
    quotes = [q for q in quotes if q]
    return "; ".join(dict.fromkeys(quotes)) if quotes else "—"


def answer_to_markdown(answer: "Answer", totals: dict[str, int] | None = None) -> str:
    """The answer, its evidence table (id, source type, level, stated grade, year, location,
    title, DOI), the cited passages, and its warnings. `totals` maps a document id to its number
    of pages or sections, for "section 2 of 4"."""
    totals = totals or {}
    text = (answer.text.strip() or "_(no answer text)_").replace("<", "\\<")  # model output: no live HTML
    lines = [f"# {inert(answer.question)}", "", text, ""]
    lines.append(f"_Answer by {inert(answer.model_label or answer.generator)}; mode: {answer.mode}._")
    if answer.warnings:
        lines += ["", "## Warnings", ""]
        lines += [f"- {inert(w.message)}" for w in answer.warnings]
    if answer.evidence:
        title = "Evidence" if answer.mode == "evidence" else "Related evidence (not given to the model)"
        lines += ["", f"## {title}", ""]
        lines.append("| ID | Source type | Level | Stated grade | Year | Location | Title | DOI |")
        lines.append("|---|---|---|---|---|---|---|---|")
        for e in answer.evidence:
            g = e.grade
            cells = [
                e.evidence_id,
                g.source_type.label if g else "ungraded",
                str(int(g.level)) if g else "—",
                stated_grade_text(e),
                str(e.year) if e.year else "—",
                location_label(e, totals.get(e.document_id)),
                e.title,
                e.doi or "—",
            ]
            lines.append("| " + " | ".join(inert(c) for c in cells) + " |")
        lines += ["", "## Passages", ""]
        for e in answer.evidence:
            lines.append(f"**{e.evidence_id}** · {inert(e.title)} · {inert(location_label(e, totals.get(e.document_id)))}")
            lines.append("")
            lines.append("> " + inert(e.text))
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"
