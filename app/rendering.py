"""Plain-text tables and labels for the command line (no colours, safe to pipe).

Everything printed passes through `printable`: document titles, passages and answers are
foreign text, and a terminal escape in one (`\x1b[2J` clears the screen) must not reach the
terminal. Titles are also cleaned when indexed; this covers older indexes and answer text.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from evidence.schema import Answer, Evidence
from indexing.readers.text import strip_controls

DASH = "-"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], max_widths: Sequence[int] | None = None) -> str:
    """Left-aligned columns; cells longer than their max width are cut with an ellipsis."""
    cells = [[_one_line(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(c))
    if max_widths:
        widths = [min(w, m) for w, m in zip(widths, max_widths)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        lines.append("  ".join(_cut(c, w).ljust(w) for c, w in zip(row, widths)).rstrip())
    return "\n".join(lines)


def printable(text: object, one_line: bool = False) -> str:
    """Foreign text without terminal escapes or other control characters."""
    return strip_controls(str(text), one_line=one_line)


def _one_line(value: object) -> str:
    return printable(DASH if value is None or value == "" else value, one_line=True)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def stated_grade_text(item: Evidence) -> str:
    grades = item.stated_grades
    if not grades:
        return DASH
    first = grades[0].quote or " ".join(x for x in (grades[0].strength, grades[0].certainty) if x)
    return first + (f" (+{len(grades) - 1})" if len(grades) > 1 else "")


def evidence_table(evidence: Sequence[Evidence], with_passage: bool = False) -> str:
    headers = ["ID", "Source type", "Level", "Stated grade", "Year", "Pages", "Title"]
    widths = [4, 24, 5, 24, 4, 7, 60]
    rows = []
    for e in evidence:
        grade = e.grade
        rows.append(
            [
                e.evidence_id,
                grade.source_type.label if grade else "ungraded",
                int(grade.level) if grade else DASH,
                stated_grade_text(e),
                e.year,
                e.pages,
                e.title,
            ]
        )
    out = table(headers, rows, widths)
    if with_passage:
        parts = [out, ""]
        for e in evidence:
            parts.append(printable(f"[{e.evidence_id}] {e.title} (p. {e.pages})", one_line=True))
            parts.append(textwrap.indent(textwrap.fill(printable(e.text, one_line=True), 100), "    "))
        out = "\n".join(parts)
    return out


def warnings_text(answer: Answer) -> str:
    if not answer.warnings:
        return ""
    return "Warnings:\n" + "\n".join(f"  ! {printable(w.message, one_line=True)}" for w in answer.warnings)
