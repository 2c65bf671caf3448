"""Markdown files: one page of text with its headings kept for the chunker.

A leading YAML front-matter block (`---` ... `---`) is metadata, not text: its title/authors/
year/doi are taken (leniently; a sidecar overrides them) and the block is removed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.M)


@dataclass
class MarkdownContent:
    text: str
    title: str | None = None
    authors: list[str] = field(default_factory=list)
    year: int | None = None
    doi: str | None = None
    warnings: list[str] = field(default_factory=list)


def parse_markdown(text: str) -> MarkdownContent:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    content = MarkdownContent(text=text)
    m = _FRONT_MATTER.match(text)
    if m:
        content.text = text[m.end():]
        try:
            front = yaml.safe_load(m.group(1))
        except yaml.YAMLError:
            front = None
            content.warnings.append("front matter is not valid YAML; ignored")
        if isinstance(front, dict):
            _take_front_matter(front, content)
    heading = _HEADING.search(content.text)
    if content.title is None and heading:
        content.title = _strip_inline(heading.group(2))
    return content


def _take_front_matter(front: dict, content: MarkdownContent) -> None:
    title = front.get("title")
    if isinstance(title, str) and title.strip():
        content.title = title.strip()
    authors = front.get("authors") or front.get("author")
    if isinstance(authors, str):
        content.authors = [a.strip() for a in re.split(r";|\band\b", authors) if a.strip()]
    elif isinstance(authors, list):
        content.authors = [str(a).strip() for a in authors if str(a).strip()]
    year = front.get("year") or front.get("date")
    m = re.match(r"^\s*(\d{4})", str(year)) if year is not None else None
    if m and 1800 <= int(m.group(1)) <= 2100:
        content.year = int(m.group(1))
    doi = front.get("doi")
    if isinstance(doi, str) and re.fullmatch(r"\s*10\.\d{4,9}/\S+\s*", doi):
        content.doi = doi.strip()


def _strip_inline(text: str) -> str:
    """Heading text without emphasis/code/link markup."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[*_`]+", "", text)
    return " ".join(text.split())
