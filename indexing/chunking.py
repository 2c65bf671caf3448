"""Clean pages to retrievable chunks that keep their section, pages and recommendations whole.

Rules, in order of priority:
- A chunk never crosses a section boundary; its `heading_path` is the section's headings and its
  text starts with the section heading the first time the section appears.
- A list item (a numbered or bulleted recommendation, "Recommendation 3", "3.2.1 ...") that fits
  is never split, and a lead-in ending in ":" goes with the item after it.
- Prose is packed by sentence (English . ! ?, Chinese 。！？；) up to `max_tokens` tokens of the
  embedding model; consecutive chunks of a section overlap by up to `overlap` tokens of prose.
  Items are not repeated as overlap (they are whole in their own chunk, and repeating a
  recommendation fragment would attach its grade to a half sentence).
- `page_start`/`page_end` cover every piece of text in the chunk, overlap included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from indexing.cleaning import heading_level, is_list_item
from indexing.schema import Chunk, Document
from indexing.text import HAN, display_width, is_cjk_char, split_sentences


@runtime_checkable
class TokenCounter(Protocol):
    def count(self, text: str) -> int: ...


@dataclass
class _Block:
    kind: str  # "heading" | "item" | "subitem" | "para" | "table"
    text: str
    page: int
    level: int = 0
    numbered: bool = True


@dataclass
class _Unit:
    text: str
    page_start: int
    page_end: int
    tokens: int
    kind: str  # "heading" | "title" (a heading too long to lead) | "item" | "prose" | "table" | "part"
    glue: str  # joins it to the unit before: "\n" between blocks, " " or "" inside a paragraph
    overlap: bool = False  # repeated from the previous chunk


@dataclass
class _Section:
    path: list[str]
    headings: list[_Block]  # headings to print at the start of the section's first chunk
    body: list[_Block]


def chunk_document(doc: Document, counter: TokenCounter, max_tokens: int = 200, overlap: int = 40) -> list[Chunk]:
    """Section-aware chunks of a cleaned document (see the module docstring for the rules)."""
    if max_tokens < 16:
        raise ValueError(f"max_tokens must be at least 16, got {max_tokens}")
    overlap = max(0, min(overlap, max_tokens // 2))
    sizer = _Sizer(counter)
    # Pieces are counted one by one; joined text can tokenize a little differently, so pack to
    # a slightly smaller budget and the rendered chunk stays within max_tokens.
    budget = max_tokens - max(2, max_tokens // 50)
    chunks: list[Chunk] = []
    for section in _sections(_blocks(doc)):
        for units in _pack(section, sizer, budget, overlap):
            text = _render(units)
            if not text.strip():
                continue
            ordinal = len(chunks)
            chunks.append(
                Chunk(
                    chunk_id=f"{doc.document_id[:16]}:{ordinal}",
                    document_id=doc.document_id,
                    ordinal=ordinal,
                    text=text,
                    page_start=min(u.page_start for u in units),
                    page_end=max(u.page_end for u in units),
                    heading_path=list(section.path),
                    n_tokens=counter.count(text),
                )
            )
    return chunks


class _Sizer:
    """Token counts without the special tokens a counter may add to every text."""

    def __init__(self, counter: TokenCounter) -> None:
        self.counter = counter
        self.overhead = max(0, counter.count(""))

    def __call__(self, text: str) -> int:
        return max(0, self.counter.count(text) - self.overhead)


# ----------------------------------------------------------------------------- blocks

_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+)$")
_MD_ITEM = re.compile(r"^(?:[-*+]|\d{1,3}[.)])\s+\S")


def _blocks(doc: Document) -> list[_Block]:
    blocks: list[_Block] = []
    for page in doc.pages:
        first_on_page = len(blocks)
        for raw in page.text.split("\n"):
            line = raw.strip()
            if not line:
                continue
            block = _classify(line, page.number, doc.format)
            if block.kind == "item" and raw.startswith("  "):
                block.kind = "subitem"  # a nested bullet: belongs with the item above it
            blocks.append(block)
        if doc.format != "markdown":
            _promote_headings(blocks, first_on_page)
    return blocks


_ENDS_CLAUSE = (".", "!", "?", ";", ",", ":", "。", "！", "？", "；", "，", "：", "、")


def _promote_headings(blocks: list[_Block], start: int) -> None:
    """A short unpunctuated line standing alone before a paragraph is a heading even in
    sentence case ("Treatment of hypertension"): the line-level rules cannot see that context."""
    for i in range(start, len(blocks) - 1):
        block, nxt = blocks[i], blocks[i + 1]
        if block.kind != "para" or nxt.kind not in ("para", "item"):
            continue
        text = block.text
        if text.endswith(_ENDS_CLAUSE) or not (text[0].isupper() or is_cjk_char(text[0])):
            continue
        width = display_width(text)
        if len(text.split()) > 10 or width > 60 or width < 4 or display_width(nxt.text) < 2 * width:
            continue
        if sum(c.isdigit() for c in text) > len(text) // 3:
            continue
        before = blocks[i - 1] if i > start else None
        if before is None or before.kind == "heading" or before.text.endswith(_ENDS_CLAUSE):
            block.kind, block.level, block.numbered = "heading", 1, False


def _classify(line: str, page: int, fmt: str) -> _Block:
    if fmt == "markdown":
        m = _MD_HEADING.match(line)
        if m:
            return _Block("heading", m.group(2).strip(), page, level=len(m.group(1)))
        if _MD_ITEM.match(line) or is_list_item(line):
            return _Block("item", line, page)
        if " | " in line:
            return _Block("table", line, page)
        return _Block("para", line, page)
    level = heading_level(line)
    if level is not None:
        return _Block("heading", line, page, level=level[0], numbered=level[1])
    if is_list_item(line):
        return _Block("item", line, page)
    return _Block("para", line, page)


def _sections(blocks: list[_Block]) -> list[_Section]:
    """Group blocks under their heading path. Unnumbered PDF headings sit one level below the
    nearest numbered heading; a heading with no text before the next heading is printed at the
    start of the next section's first chunk (never dropped: it may be half of a wrapped title)."""
    sections: list[_Section] = []
    stack: list[tuple[int, _Block]] = []
    pending: list[tuple[int, _Block]] = []
    body: list[_Block] = []

    def close() -> None:
        nonlocal body
        if body:
            sections.append(_Section([b.text for _, b in stack], [b for _, b in pending], body))
            pending.clear()
            body = []

    for block in blocks:
        if block.kind != "heading":
            body.append(block)
            continue
        number = _heading_number(block)
        current = next((_heading_number(b) for _, b in reversed(stack) if _heading_number(b) is not None), None)
        if number is not None and number == current:
            # "4 CARD32 A" right after "4 CARD32 B": the same section number twice in a row is a
            # numbered line of text (a table row, a list), not a new section
            body.append(_Block("para", block.text, block.page))
            continue
        close()
        level = block.level
        if not block.numbered:
            numbered_levels = [lvl for lvl, b in stack if b.numbered]
            level = (numbered_levels[-1] + 1) if numbered_levels else 1
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, block))
        pending.append((level, block))  # printed with the next text, even if not an ancestor: no text is lost
    close()
    return sections


def _heading_number(block: _Block) -> str | None:
    """The section number of a numbered PDF/text heading ("3.2" of "3.2 Drug therapy")."""
    if not block.numbered or block.level == 0 or block.text.startswith("#"):
        return None
    m = re.match(r"^(\d{1,2}(?:\.\d{1,2}){0,4})\.?\s", block.text)
    return m.group(1) if m else None


# ----------------------------------------------------------------------------- units

def _units(section: _Section, sizer: _Sizer, limit: int) -> list[_Unit]:
    units: list[_Unit] = []
    prev: _Block | None = None
    for block in section.body:
        continues = (
            prev is not None
            and block.kind == "para"
            and prev.kind == "para"
            and block.page != prev.page
            and not prev.text.endswith((".", "!", "?", "。", "！", "？", "；", ":", "："))
        )
        first_glue = _glue(prev.text, block.text) if continues else "\n"
        prev = block
        if block.kind == "subitem":
            tokens = sizer(block.text)
            if units and units[-1].kind == "item" and units[-1].tokens + tokens + 1 <= limit:
                parent = units[-1]
                parent.text += "\n" + block.text
                parent.tokens += tokens + 1
                parent.page_end = max(parent.page_end, block.page)
                continue
            block = _Block("item", block.text, block.page)
        if block.kind == "item":
            tokens = sizer(block.text)
            if tokens <= limit:
                units.append(_Unit(block.text, block.page, block.page, tokens, "item", first_glue))
                continue
            kind = "part"
        elif block.kind == "table":
            units.extend(_fit(block.text, block.page, "table", first_glue, sizer, limit))
            continue
        else:
            kind = "prose"
        glue = first_glue
        previous_sentence = ""
        for sentence in split_sentences(block.text, semicolons="full-width"):
            if previous_sentence:
                glue = _glue(previous_sentence, sentence)
            units.extend(_fit(sentence, block.page, kind, glue, sizer, limit))
            previous_sentence = sentence
    return units


# The smallest pieces a too-long text is cut into: a Han character, a word with its space, a space.
_WORDS = re.compile(f"[{HAN}]|[^\\s{HAN}]+\\s*|\\s+")


def _glue(left: str, right: str) -> str:
    return "" if left and right and (is_cjk_char(left[-1]) or is_cjk_char(right[0])) else " "


def _fit(text: str, page: int, kind: str, glue: str, sizer: _Sizer, limit: int) -> list[_Unit]:
    """One unit, or several if the text alone is over the limit (split at clauses, then words,
    then characters)."""
    tokens = sizer(text)
    if tokens <= limit:
        return [_Unit(text, page, page, tokens, kind, glue)]
    pieces = [p for p in re.split(r"(?<=[，,、：:;；])", text) if p]
    fine: list[str] = []
    for piece in pieces:
        if sizer(piece) <= limit:
            fine.append(piece)
        else:
            fine.extend(_WORDS.findall(piece))
    texts: list[str] = []
    current = ""
    for piece in fine:
        if current and sizer(current + piece) > limit:
            texts.append(current.strip())
            current = piece
        else:
            current += piece
    if current.strip():
        texts.append(current.strip())
    out: list[_Unit] = []
    for part in texts:
        part_glue = glue if not out else _glue(out[-1].text, part)
        out.append(_Unit(part, page, page, sizer(part), kind, part_glue))
    return out


# ----------------------------------------------------------------------------- packing


def _pack(section: _Section, sizer: _Sizer, max_tokens: int, overlap: int) -> list[list[_Unit]]:
    heads = [_Unit(h.text, h.page, h.page, sizer(h.text), "heading", "\n") for h in section.headings]
    chunks: list[list[_Unit]] = []
    # Headings open the section's first chunk while they take at most a third of it; earlier
    # ones beyond that become a chunk of their own (their text is kept, never dropped).
    spill: list[_Unit] = []
    while heads and sum(u.tokens for u in heads) > max_tokens // 3:
        spill.append(heads.pop(0))
    for unit in spill:
        for piece in _fit(unit.text, unit.page_start, "title", "\n", sizer, max_tokens):
            if chunks and _total(chunks[-1]) + piece.tokens <= max_tokens:
                chunks[-1].append(piece)
            else:
                chunks.append([piece])
    head_tokens = sum(u.tokens for u in heads)
    units = _units(section, sizer, max_tokens - head_tokens)
    if not units:
        return chunks
    current: list[_Unit] = list(heads)
    i = 0
    while i < len(units):
        unit = units[i]
        body = [u for u in current if u.kind != "heading"]
        fresh = [u for u in body if not u.overlap]
        if fresh and _total(current) + unit.tokens > max_tokens:
            carried: list[_Unit] = []
            # a lead-in ("... as follows:") belongs with the items after it
            if (
                unit.kind == "item"
                and len(fresh) >= 2
                and current[-1].kind == "prose"
                and current[-1].text.endswith((":", "："))
                and current[-1].tokens + unit.tokens <= max_tokens
            ):
                carried = [current.pop()]
            chunks.append(current)
            current = carried or _overlap_tail(current, sizer, overlap, max_tokens - unit.tokens)
            continue
        if not fresh and current and _total(current) + unit.tokens > max_tokens:
            # overlap (and headings) leave no room for this unit: drop the overlap first
            current = [u for u in current if not u.overlap]
            while current and _total(current) + unit.tokens > max_tokens:
                current.pop(0)
        current.append(unit)
        i += 1
    if any(u.kind != "heading" and not u.overlap for u in current):
        chunks.append(current)
    return chunks


def _total(units: list[_Unit]) -> int:
    return sum(u.tokens for u in units) + max(0, len(units) - 1) // 4  # glue can add a token now and then


def _overlap_tail(units: list[_Unit], sizer: _Sizer, overlap: int, room: int) -> list[_Unit]:
    """The last prose sentences of a chunk (whole, else the tail words of the last one)."""
    budget = min(overlap, room)
    if budget <= 0:
        return []
    tail: list[_Unit] = []
    used = 0
    for unit in reversed(units):
        if unit.kind != "prose":
            break
        if used + unit.tokens > budget:
            if not tail:
                piece = _tail_words(unit.text, sizer, budget)
                if piece:
                    tail.append(_Unit(piece, unit.page_start, unit.page_end, sizer(piece), "prose", unit.glue))
            break
        tail.append(_Unit(unit.text, unit.page_start, unit.page_end, unit.tokens, "prose", unit.glue))
        used += unit.tokens
    tail.reverse()
    for unit in tail:
        unit.overlap = True
    return tail


def _tail_words(text: str, sizer: _Sizer, budget: int) -> str:
    words = _WORDS.findall(text)
    lo, hi = 0, len(words)  # find the longest suffix within budget
    best = ""
    while lo < hi:
        mid = (lo + hi) // 2
        candidate = "".join(words[mid:]).strip()
        if sizer(candidate) <= budget:
            best = candidate
            hi = mid
        else:
            lo = mid + 1
    return best


def _render(units: list[_Unit]) -> str:
    text = ""
    for unit in units:
        if not text:
            text = unit.text
        elif unit.glue == "\n":
            text += "\n" + unit.text
        else:
            text += unit.glue + unit.text
    return text.strip()


__all__ = ["TokenCounter", "chunk_document"]
