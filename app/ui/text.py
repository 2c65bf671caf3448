"""Turning untrusted text (documents, model output) into safe Streamlit markdown.

Document text is never rendered as HTML or live markdown: every markdown and HTML control
character is backslash-escaped, and only the citation markers we recognise become links.
"""

from __future__ import annotations

import re

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
