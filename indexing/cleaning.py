"""Raw page text to clean page text: one block (paragraph, heading, list item, table row) per line.

What a PDF's text layer gets wrong and this fixes: words hyphenated across line ends, running
headers/footers and page numbers, ligatures and compatibility characters, stray whitespace, and
paragraphs broken into visual lines. Chinese text is kept as written: full-width punctuation
stays full-width, and no space is ever put between two CJK characters.

The line classification here (`heading_level`, `is_list_item`) is shared with the chunker.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

from indexing.schema import Document, Page
from indexing.text import display_width, has_full_width, is_cjk_char, join_lines

# ----------------------------------------------------------------------------- characters

# Compatibility mappings that would change meaning or drop CJK typography are not applied:
# superscripts/subscripts ("10⁹/L" must not become "109/L"), fractions, circled enumerators,
# and full-width punctuation (，。；：（） stay as printed). Full-width letters and digits do map.
_KEEP_TAGS = {"<super>", "<sub>", "<fraction>", "<circle>"}
_KEEP_CHARS = {"\u2026"}  # "…": Chinese writes "……"; "......" would read oddly
_EXTRA = {
    "\u00ad": "",  # soft hyphen: a line-break opportunity, never printed mid-line
    "\u200b": "",
    "\u200c": "",
    "\u200d": "",
    "\u2060": "",
    "\ufeff": "",
    "\u2010": "-",
    "\u2011": "-",
    "\t": " ",
    # Symbol/Wingdings bullets that Word PDFs leave in the private use area
    "\uf0b7": "•",
    "\uf0a7": "•",
    "\uf076": "•",
    "\uf0d8": "•",
    "\uf0fc": "•",
    "\uf0a8": "•",
    "\uf06c": "•",
    "\uf06e": "•",
}
_compat_cache: dict[str, str] = {}


def _normalise_char(char: str) -> str:
    cached = _compat_cache.get(char)
    if cached is not None:
        return cached
    out = char
    if char in _EXTRA:
        out = _EXTRA[char]
    elif char not in _KEEP_CHARS:
        decomposition = unicodedata.decomposition(char)
        if decomposition.startswith("<"):
            tag = decomposition.split(" ", 1)[0]
            mapped = unicodedata.normalize("NFKC", char)
            if tag in _KEEP_TAGS:
                out = char
            elif tag == "<wide>" and not mapped.isalnum() and not mapped.isspace():
                out = char  # full-width punctuation
            else:
                out = mapped
    if unicodedata.category(out[:1] or "a") == "Zs":
        out = " "
    _compat_cache[char] = out
    return out


def normalise_text(text: str, keep_indent: bool = False) -> str:
    """Careful NFKC (see above), ligatures, odd spaces and controls; line structure kept
    (and leading indentation, for markdown's nested lists, when `keep_indent`)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub("\u00ad[ \t]*\n[ \t]*", "", text)  # soft hyphen at a line end: one word across the break
    text = "".join(_normalise_char(c) if ord(c) > 126 or c == "\t" else c for c in text)
    text = "".join(c for c in text if c in "\n\f" or unicodedata.category(c) != "Cc")
    text = unicodedata.normalize("NFC", text)
    lines = []
    for line in text.split("\n"):
        indent = len(line) - len(line.lstrip(" ")) if keep_indent else 0
        line = re.sub(r" {2,}", " ", line).strip()
        line = _join_cjk_spaces(line)
        lines.append(" " * indent + line if line else "")
    return "\n".join(lines)


def _join_cjk_spaces(line: str) -> str:
    """Drop spaces between two CJK characters (extraction artefacts; Chinese has no spaces)."""
    if " " not in line:
        return line
    return re.sub(r"(?<=[^\x00-\x7f]) +(?=[^\x00-\x7f])", lambda m: _cjk_gap(line, m), line)


def _cjk_gap(line: str, m: re.Match) -> str:
    before, after = line[m.start() - 1], line[m.end()]
    return "" if is_cjk_char(before) and is_cjk_char(after) else m.group(0)


# ----------------------------------------------------------------------------- line classes

_BULLET = re.compile(r"^([•●○◦▪▫■□◆◇‣∙·➢➤►▶✓✔\-–—*+])\s+\S")
_NUMBERED_ITEM = re.compile(
    r"^(?:\(?\d{1,3}(?:[.．](?!\d)|[)、])|[（(]\d{1,3}[）)]|[a-zA-Z][.)]\s|\(?[ivxIVX]{1,5}\)|[①-⑳]|"
    r"(?:Recommendation|Rec\.|Statement|Key point)\s*\d+(?:\.\d+)*[.:)]?|推荐(?:意见)?\s*\d+(?:\.\d+)*[：:．.]?)\s*\S",
)
_UNITS = r"(?:mg|g|kg|µg|μg|mcg|ml|mL|l|L|mmol|mol|mmHg|mm|cm|m|kPa|IU|U|units?|%|years?|yrs?|months?|weeks?|days?|hours?|h|min|s|times|fold|x|×|vs|to|and|or|-)\b"
_MULTI_NUMBER = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){1,4})\.?\s+(?!" + _UNITS + r")\S")
_SECTION_NUMBER = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){0,4})\.?\s+(\S.*)$")
_ZH_CHAPTER = re.compile(r"^第[一二三四五六七八九十百零〇\d]+[章部篇](?:\s|$|[：:、])")
_ZH_SECTION = re.compile(r"^第[一二三四五六七八九十百零〇\d]+节(?:\s|$|[：:、])")
_ZH_ENUM1 = re.compile(r"^[一二三四五六七八九十]{1,3}[、．.]\s*\S")
_ZH_ENUM2 = re.compile(r"^[（(][一二三四五六七八九十]{1,3}[）)]\s*\S")
_KNOWN_SECTIONS = {
    "abstract", "summary", "introduction", "background", "methods", "method", "methodology",
    "results", "discussion", "conclusion", "conclusions", "references", "recommendations",
    "key recommendations", "recommendation", "acknowledgements", "acknowledgments",
    "limitations", "funding", "scope", "purpose", "definitions", "key points",
    "executive summary", "appendix", "supplementary material", "objectives", "objective",
    "design", "setting", "participants", "interventions", "main outcome measures", "findings",
    "interpretation",
    "摘要", "前言", "引言", "背景", "方法", "结果", "讨论", "结论", "参考文献", "推荐意见",
    "推荐", "要点", "概述", "定义", "诊断", "治疗", "随访", "预防", "附录", "总结",
}
_TERMINAL = tuple(".;,:!?。；，：！？、")
_SMALL_WORDS = {"a", "an", "and", "as", "at", "by", "for", "from", "in", "of", "on", "or", "the", "to", "with", "vs", "versus", "via"}


def is_list_item(line: str) -> bool:
    """A bullet or numbered item (a recommendation, usually) rather than running text."""
    return bool(_BULLET.match(line) or _NUMBERED_ITEM.match(line) or _MULTI_NUMBER.match(line))


def heading_level(line: str) -> tuple[int, bool] | None:
    """(level, numbered) if a line of PDF/plain text reads as a section heading, else None.

    `numbered` headings carry their own depth ("3.2.1" is level 3, "第一章" 1, "（一）" 2);
    unnumbered ones (known section names, ALL CAPS, short Title Case) report level 1 and the
    chunker places them below the nearest numbered heading.
    """
    line = line.strip()
    if not line or len(line) > 150:
        return None
    bare = line.rstrip(":：").strip()
    if bare.lower() in _KNOWN_SECTIONS:
        return 1, False
    if line.endswith(_TERMINAL) or display_width(bare) > 90:
        return None  # sentences, clauses and lead-ins are text
    if _CAPTION.match(bare) or _PAGE_NUMBER.match(bare):
        return None
    if _ZH_CHAPTER.match(bare):
        return 1, True
    if _ZH_SECTION.match(bare):
        return 2, True
    if (_ZH_ENUM1.match(bare) or _ZH_ENUM2.match(bare)) and _looks_like_title(bare):
        return (1 if _ZH_ENUM1.match(bare) else 2), True
    m = _SECTION_NUMBER.match(bare)
    if m:
        number, rest = m.group(1), m.group(2)
        if (
            _looks_like_title(rest)
            and not rest[0].isdigit()
            and not _RECOMMENDS.search(rest)
            and not re.search(r"[_=<>{}\[\]|]", rest)  # identifiers and formulas, not titles
            and re.search(r"[^\W\d_]{3,}", rest)
        ):
            return number.count(".") + 1, True
        return None
    if is_list_item(bare):
        return None
    letters = [c for c in bare if c.isalpha() and c.isascii()]
    words = bare.split()
    has_cjk = has_full_width(bare)
    if not has_cjk and len(letters) >= 4 and len(words) <= 10 and all(not c.islower() for c in letters):
        return 1, False  # ALL CAPS line
    if _looks_like_title(bare) and len(words) <= 8 and bare[0].isupper() and not _RECOMMENDS.search(bare):
        significant = [w for w in words if w.lower() not in _SMALL_WORDS and w[0].isalpha()]
        if len(words) >= 2 and significant and all(w[0].isupper() for w in significant):
            return 1, False  # Short Title Case line
    return None


_CAPTION = re.compile(r"^(table|figure|fig\.|box|panel|supplementary|表|图)\s*[\dA-Za-z一二三四五六七八九十]", re.I)

# Words that make a numbered line a statement (a recommendation), not a section title.
_RECOMMENDS = re.compile(
    r"\b(is|are|was|were|be|should|must|may|might|can|could|recommend\w*|suggest\w*|consider\w*)\b"
    r"|应当|应该|推荐|建议|可以|不宜|避免",
    re.IGNORECASE,
)


_TRAILING_FUNCTION_WORD = re.compile(
    r"\b(and|or|of|the|a|an|to|in|for|with|by|on|at|from|as|than|that|which|who|nor|but|vs)$", re.I
)


def _looks_like_title(text: str) -> bool:
    text = text.strip()
    if not text or text.endswith(_TERMINAL) or len(text) > 120:
        return False
    if _TRAILING_FUNCTION_WORD.search(text):
        return False  # "... electrolyte abnormalities, and": a wrapped line, never a title
    if has_full_width(text):
        return display_width(text) <= 60 and "。" not in text
    words = text.split()
    return 1 <= len(words) <= 14 and (text[0].isupper() or text[0].isdigit())


# ----------------------------------------------------------------------------- documents


def clean_document(doc: Document) -> Document:
    """The same document with clean page text (one block per line); ids and metadata unchanged."""
    markdown = doc.format == "markdown"
    texts = [normalise_text(p.text, keep_indent=markdown) for p in doc.pages]
    if markdown:
        cleaned = [reflow_markdown(t) for t in texts]
    else:
        page_lines = [[ln for ln in t.split("\n")] for t in texts]
        if sum(1 for lines in page_lines if any(lines)) >= 2:
            page_lines = remove_running_lines(page_lines, [p.number for p in doc.pages])
        else:
            page_lines = [_drop_page_number_lines(lines) for lines in page_lines]
        vocab = _vocabulary(texts)
        page_lines = [dehyphenate(lines, vocab) for lines in page_lines]
        _join_words_across_pages(page_lines, vocab)
        typical = typical_width([ln for lines in page_lines for ln in lines])
        cleaned = [reflow_lines(lines, typical) for lines in page_lines]
    pages = [Page(number=p.number, text=t) for p, t in zip(doc.pages, cleaned)]
    return doc.model_copy(update={"pages": pages})


# ----------------------------------------------------------------------------- running lines

_PAGE_NUMBER = re.compile(
    r"^(?:(?:page|p\.|pg\.?)\s*\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?|[-–—]?\s*\d{1,4}\s*[-–—]?|\d{1,4}\s*/\s*\d{1,4}"
    r"|[ivxlc]{1,6}|第\s*\d{1,4}\s*页(?:\s*[,，/]?\s*共\s*\d{1,4}\s*页)?|\d{1,4}\s*页)$",
    re.IGNORECASE,
)
_ZONE = 3  # lines at the top and at the bottom of a page where running lines live
_MAX_STRIP = 2  # running lines removed per page edge, at most (never a whole short page)


def _running_key(line: str) -> str:
    return re.sub(r"\d+", "#", " ".join(line.lower().split()))


def remove_running_lines(pages: list[list[str]], numbers: list[int] | None = None) -> list[list[str]]:
    """Drop headers/footers from the top and bottom of each page: lines repeated across pages
    (digits ignored, so "Page 3 of 10" matches "Page 4 of 10"), bare page numbers, and lines
    carrying the printed page number ("Chapter 2: Methods 13") where that number keeps a steady
    offset from the physical page across the document."""
    numbers = numbers or list(range(1, len(pages) + 1))
    nonblank = [[ln for ln in lines if ln.strip()] for lines in pages]
    with_text = [lines for lines in nonblank if lines]
    top: Counter[str] = Counter()
    bottom: Counter[str] = Counter()
    for lines in with_text:
        top.update({_running_key(ln) for ln in lines[:_ZONE]})
        bottom.update({_running_key(ln) for ln in lines[-_ZONE:]})
    # Verbatim (digits aside) at the top or bottom of 3 pages is a running line; in short
    # documents 2 pages and 40% of them.
    needed = 3 if len(with_text) > 4 else max(2, round(0.4 * len(with_text)))
    repeated_top = {k for k, n in top.items() if n >= needed and k}
    repeated_bottom = {k for k, n in bottom.items() if n >= needed and k}
    offset = _page_number_offset(nonblank, numbers, needed)
    # A numbered line is a running header only if its words recur on another page's edge
    # ("Chapter 2: Methods 13", "Chapter 2: Methods 14"); a lone "2 Methods" is a heading.
    edge_words: Counter[str] = Counter()
    for lines in with_text:
        edge_words.update({_without_edge_number(ln) for ln in lines[:2] + lines[-2:]})

    def running(line: str, keys: set[str], number: int) -> bool:
        if _running_key(line) in keys or _PAGE_NUMBER.match(line.strip()):
            return True
        return (
            offset is not None
            and _edge_number(line) == number + offset
            and edge_words[_without_edge_number(line)] >= 2
        )

    out = []
    for lines, number in zip(pages, numbers):
        def at_top(line: str, n: int = number) -> bool:
            return running(line, repeated_top, n)

        def at_bottom(line: str, n: int = number) -> bool:
            return running(line, repeated_bottom, n)

        out.append(_strip_edges(lines, at_top, at_bottom))
    return out


def _strip_edges(lines: list[str], at_top, at_bottom) -> list[str]:
    """Remove up to _MAX_STRIP running lines from each edge of a page (blank lines in between
    are kept: they mark paragraph breaks), never the page's last line of text."""
    text_rows = [i for i, ln in enumerate(lines) if ln.strip()]
    drop: set[int] = set()
    for i in text_rows[:_MAX_STRIP]:
        if len(text_rows) - len(drop) > 1 and at_top(lines[i]):
            drop.add(i)
        else:
            break
    for i in reversed(text_rows[-_MAX_STRIP:]):
        if i not in drop and len(text_rows) - len(drop) > 1 and at_bottom(lines[i]):
            drop.add(i)
        else:
            break
    kept = [ln for i, ln in enumerate(lines) if i not in drop]
    while kept and not kept[0].strip():
        kept.pop(0)
    while kept and not kept[-1].strip():
        kept.pop()
    return kept


def _edge_number(line: str) -> int | None:
    line = line.strip()
    if len(line) > 120:
        return None
    m = re.match(r"^(\d{1,4})\s", line) or re.search(r"\s(\d{1,4})$", line)
    return int(m.group(1)) if m else None


def _without_edge_number(line: str) -> str:
    return _running_key(re.sub(r"^\d{1,4}\s+|\s+\d{1,4}$", "", line.strip()))


def _page_number_offset(pages: list[list[str]], numbers: list[int], needed: int) -> int | None:
    """The steady difference between printed and physical page numbers, if edge lines show one."""
    offsets: Counter[int] = Counter()
    for lines, number in zip(pages, numbers):
        seen = set()
        for line in lines[:2] + lines[-2:]:
            printed = _edge_number(line)
            if printed is not None:
                seen.add(printed - number)
        offsets.update(seen)
    if not offsets:
        return None
    best, count = offsets.most_common(1)[0]
    return best if count >= max(needed, 3) else None


def _drop_page_number_lines(lines: list[str]) -> list[str]:
    def is_number(line: str) -> bool:
        return bool(_PAGE_NUMBER.match(line.strip()))

    return _strip_edges(lines, is_number, is_number)


# ----------------------------------------------------------------------------- hyphenation

# Prefixes whose hyphen is part of the word even at a line end ("beta-\nblocker").
# (Not "anti", "pre", "post", "intra", "multi": medical English closes those up:
# "antihypertensive", "postoperative", "intravenous", "multicentre".)
_HYPHEN_PREFIXES = {
    "alpha", "beta", "gamma", "delta", "kappa", "self", "non", "ex", "all", "well", "low",
    "high", "long", "short", "first", "second", "third", "dose", "age", "sex", "time", "risk",
    "evidence", "placebo", "x", "t", "b", "n", "p", "l", "d", "s", "e", "c", "k", "h", "i",
    "ii", "iii", "iv", "half", "double", "single", "triple", "open", "follow", "end",
}
_WORD_RE = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)*")


def _vocabulary(texts: list[str]) -> Counter[str]:
    """Words of the whole document, hyphenated forms included, to decide line-end hyphens."""
    vocab: Counter[str] = Counter()
    for text in texts:
        for word in _WORD_RE.findall(text):
            vocab[word.lower()] += 1
    return vocab


def dehyphenate(lines: list[str], vocab: Counter[str] | None = None) -> list[str]:
    """Join words split at a line end: "treat-" + "ment" -> "treatment". The hyphen stays when
    it is a real one: before a digit or capital ("COVID-" + "19"), after a known prefix
    ("beta-" + "blocker"), or when the document writes the hyphenated word elsewhere."""
    vocab = vocab or Counter()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        while i + 1 < len(lines) and re.search(r"[A-Za-z]-$", line) and not line.endswith("--") and lines[i + 1][:1].isalnum():
            nxt = lines[i + 1]
            left = re.search(r"([A-Za-z]+)-$", line).group(1)
            right_m = re.match(r"([A-Za-z]+)", nxt)
            right = right_m.group(1) if right_m else ""
            keep_hyphen = (
                not right
                or not nxt[0].islower()
                or left.lower() in _HYPHEN_PREFIXES
                or (
                    vocab[f"{left}-{right}".lower()] > 0
                    and vocab[f"{left}-{right}".lower()] >= vocab[(left + right).lower()]
                )
            )
            if keep_hyphen:
                line = line + nxt  # "COVID-" + "19 pandemic" -> "COVID-19 pandemic"
            else:
                line = line[:-1] + nxt
            i += 1
        out.append(line)
        i += 1
    return out


def _join_words_across_pages(pages: list[list[str]], vocab: Counter[str]) -> None:
    """A word hyphenated over a page break ("treat-" | "ment") is made whole on the first page;
    the rest of the next page's first line stays where it is."""
    for before, after in zip(pages, pages[1:]):
        last = next((i for i in range(len(before) - 1, -1, -1) if before[i].strip()), None)
        first = next((i for i, ln in enumerate(after) if ln.strip()), None)
        if last is None or first is None or not re.search(r"[A-Za-z]-$", before[last]):
            continue
        m = re.match(r"([a-z][A-Za-z]*[,.;:]?)\s*(.*)$", after[first])
        if not m:
            continue
        joined = dehyphenate([before[last], m.group(1)], vocab)
        if len(joined) == 1:
            before[last] = joined[0]
            after[first] = m.group(2)


# ----------------------------------------------------------------------------- reflow


@dataclass
class _Line:
    text: str
    heading: bool
    item: bool


def typical_width(lines: list[str]) -> int:
    """The width of a full line of running text (80th percentile), from the whole document so
    a page holding only a table is not measured against itself."""
    widths = sorted(display_width(ln) for ln in lines if ln.strip())
    return widths[int(0.8 * (len(widths) - 1))] if widths else 0


def reflow_lines(lines: list[str], typical: int | None = None) -> str:
    """Visual lines to blocks: a paragraph's lines joined; headings, list items and short
    table-like lines kept on their own lines."""
    rows = [ln.strip() for ln in lines]
    if not any(rows):
        return ""
    typical = typical or typical_width(rows)
    blocks: list[str] = []
    current = ""
    prev: _Line | None = None
    for row in rows:
        if not row:  # a blank line always ends the block
            if current:
                blocks.append(current)
            current, prev = "", None
            continue
        info = _Line(row, heading_level(row) is not None, is_list_item(row))
        if prev is None:
            current = info.text
        elif _breaks(prev, info, typical):
            blocks.append(current)
            current = info.text
        else:
            current = join_lines(current, info.text)
        prev = info
    if current:
        blocks.append(current)
    return "\n".join(blocks)


def _breaks(prev: _Line, line: _Line, typical: int) -> bool:
    if prev.heading and line.text[:1].islower():
        prev.heading = False  # a "heading" continued in lower case was a wrapped line of text
        return False
    if prev.heading or line.heading or line.item:
        return True
    if " | " in prev.text or " | " in line.text:
        return True  # table rows
    width = display_width(prev.text)
    ends_sentence = prev.text.endswith((".", "!", "?", "。", "！", "？", ":", "：", "；", ";"))
    if ends_sentence and width < 0.8 * typical:
        return True  # short last line of a paragraph
    if width < 0.6 * typical:
        return True  # a line that stops well short of the margin ends its block (labels, rows, headings)
    return False


_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_MD_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+")


def reflow_markdown(text: str) -> str:
    """Markdown to blocks: headings as '#' lines, paragraphs and list items joined onto one line,
    table rows and fenced code kept line by line, inline emphasis and link targets removed."""
    blocks: list[str] = []
    current = ""
    in_fence = False

    def flush() -> None:
        nonlocal current
        if current.strip():
            indent = len(current) - len(current.lstrip(" "))
            blocks.append(" " * indent + _strip_inline(current.strip()))
        current = ""

    for raw in text.split("\n"):
        line = raw.rstrip()
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            flush()
            in_fence = not in_fence
            continue
        if in_fence:
            if stripped:
                blocks.append(stripped)
            continue
        if not stripped:
            flush()
            continue
        heading = _MD_HEADING.match(stripped)
        if heading:
            flush()
            title = _strip_inline(heading.group(2))
            if title:
                blocks.append(f"{heading.group(1)} {title}")
            continue
        if re.fullmatch(r"[-*_=]{3,}", stripped):
            flush()
            continue
        if stripped.startswith("|"):
            flush()
            if not re.fullmatch(r"\|?[\s:|-]+\|?", stripped):  # skip |---|---| separators
                cells = [c.strip() for c in stripped.strip("|").split("|")]
                blocks.append(" | ".join(_strip_inline(c) for c in cells))
            continue
        if stripped.startswith(">"):
            stripped = stripped.lstrip("> ").strip()
        if _MD_ITEM.match(line):
            flush()
            depth = min(3, (len(line) - len(line.lstrip())) // 2)
            current = "  " * depth + re.sub(r"^\s*[-*+]\s+", "- ", line).strip()
            continue
        current = join_lines(current, stripped) if current else stripped
    flush()
    return "\n".join(b for b in blocks if b)


def _strip_inline(text: str) -> str:
    text = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"(\*\*|__)(.+?)\1", r"\2", text)
    text = re.sub(r"(?<![\w*])\*(?!\s)([^*]+?)(?<!\s)\*(?![\w*])", r"\1", text)
    text = re.sub(r"`([^`]+)`", r"\1", text)
    return text.strip()
