"""Turning untrusted text (documents, model output) into safe Streamlit markdown.

Document text is never rendered as HTML or live markdown: every markdown and HTML control
character is backslash-escaped, and only the citation markers we recognise become links.
"""

from __future__ import annotations

import re

from indexing.text import is_table_row, is_table_rule, table_cells

_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:^=&\"'])")
_CITATION = re.compile(r"\\\[(E\d+)\\\]")


def escape_markdown(text: str) -> str:
    """Literal text for st.markdown: no emphasis, links, HTML, LaTeX or emoji shortcodes."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", text or "")


def anchor_id(evidence_id: str) -> str:
    """The HTML id of an evidence card; only [A-Za-z0-9-] so it is safe in a link and an id."""
    return "evidence-" + re.sub(r"[^A-Za-z0-9-]", "", evidence_id).lower()


_BOLD_LINE = re.compile(r"^\*\*(.+)\*\*$")
_BULLET = re.compile(r"^(\s*)[-*•]\s+(.*)$")
_NUMBERED = re.compile(r"^(\s*)(\d{1,3})[.)]\s+(.*)$")


def answer_markdown(text: str, known_ids: set[str]) -> str:
    """Answer text as markdown with only its structure live: whole-line **headings**, bullet
    and numbered lists, and [En] links to known evidence. Everything else is escaped text."""
    lines = []
    for raw in (text or "").splitlines():
        line = raw.rstrip()
        if not line.strip():
            lines.append("")
        elif m := _BOLD_LINE.match(line.strip()):
            lines.append(f"**{escape_markdown(m.group(1))}**")
        elif m := _BULLET.match(line):
            lines.append(f"{m.group(1)}- {escape_markdown(m.group(2))}")
        elif m := _NUMBERED.match(line):
            lines.append(f"{m.group(1)}{m.group(2)}. {escape_markdown(m.group(3))}")
        else:
            lines.append(escape_markdown(line) + "  ")  # a hard line break, as written
    return _link_citations("\n".join(lines), known_ids)


def _link_citations(markdown: str, known_ids: set[str]) -> str:
    def link(match: re.Match[str]) -> str:
        evidence_id = match.group(1)
        if evidence_id not in known_ids:
            return match.group(0)
        return f"[\\[{evidence_id}\\]](#{anchor_id(evidence_id)})"

    return _CITATION.sub(link, markdown)


def passage_markdown(text: str) -> str:
    """A document passage with its structure visible (bullets, numbered lists, line breaks and
    pipe tables as real tables) while every word stays escaped text: document text is never
    live markdown or HTML. Bold lines are not promoted here; only the answer has headings."""
    out: list[str] = []
    table: list[list[str]] = []

    def flush_table() -> None:
        if not table:
            return
        width = max(len(r) for r in table)
        rows = [r + [""] * (width - len(r)) for r in table]
        out.append("")  # a table does not continue a list item or paragraph
        out.append("| " + " | ".join(escape_markdown(c) for c in rows[0]) + " |")
        out.append("|" + "---|" * width)
        out.extend("| " + " | ".join(escape_markdown(c) for c in r) + " |" for r in rows[1:])
        out.append("")
        table.clear()

    for raw in (text or "").splitlines():
        line = raw.rstrip()
        if is_table_rule(line) and table:
            continue
        if is_table_row(line):
            table.append(table_cells(line))
            continue
        flush_table()
        if not line.strip():
            out.append("")
        elif m := _BULLET.match(line):
            out.append(f"{m.group(1)}- {escape_markdown(m.group(2))}")
        elif m := _NUMBERED.match(line):
            out.append(f"{m.group(1)}{m.group(2)}. {escape_markdown(m.group(3))}")
        else:
            out.append(escape_markdown(line) + "  ")
    flush_table()
    return "\n".join(out).strip()


def generation_line(count: int, elapsed_s: float, writing_s: float, unit: str = "tokens") -> str:
    """"Writing: 57 tokens · 9.8 tokens/s · 6.1 s": the rate is over the writing time only (from
    the first piece), so the wait for retrieval and model loading does not hide the decode speed."""
    rate = count / writing_s if writing_s > 0 else 0.0
    return f"Writing: {count} {unit} · {rate:.1f} {unit}/s · {elapsed_s:.1f} s"


def index_line(files_done: int, files_total: int, chunks: int, elapsed_s: float, stage: str = "", current: str = "") -> str:
    """One live line for an index batch: files, passages, elapsed time and passages per second."""
    rate = chunks / elapsed_s if elapsed_s > 0 else 0.0
    where = f" · {stage} {current}".rstrip() if stage or current else ""
    return f"{files_done}/{files_total} files · {chunks} passages · {elapsed_s:.0f} s · {rate:.1f} passages/s{where}"
