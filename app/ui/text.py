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


def answer_markdown(text: str, known_ids: set[str]) -> str:
    """Escaped answer text whose [En] markers for known evidence link to their cards."""
    escaped = escape_markdown(text).replace("\n", "  \n")

    def link(match: re.Match[str]) -> str:
        evidence_id = match.group(1)
        if evidence_id not in known_ids:
            return match.group(0)
        return f"[\\[{evidence_id}\\]](#{anchor_id(evidence_id)})"

    return _CITATION.sub(link, escaped)
