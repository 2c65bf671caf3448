"""The cited span shown in its source: the quoted sentence's boxes on a PDF page, or the span
marked in a markdown/text section.

How the UI uses it (pure functions; nothing is cached here: cache on (document id, page, quote)):

    boxes = span_boxes(pdf_path, page_number, quote)             # [] when the quote is not found
    image = render_with_highlight(pdf_path, page_number, boxes)  # RGB PIL image, boxes marked
    image, boxes = highlight_page(pdf_path, page_number, quote)  # the two in one call
    pieces = mark_span(section_text, quote)                      # [(text, is_quoted), ...]

- PDF evidence: `pdf_path` = the PDF's bytes from `Assistant.source_pdf(item)` (a file path also
  works), `page_number` = the page the preview shows (`item.page_start`). Errors are `HighlightError`, a subclass of `app.ui.preview.PreviewError`,
  so the preview's `except PreviewError` already shows them. When `boxes` is empty, show the plain
  page with a caption such as "the quoted sentence could not be located on this page".
- Markdown evidence: `section_text` = the section file's text (page N of an open-medicine
  document is its N-th section file); escape each piece and wrap the flagged ones, e.g. in
  `<mark>…</mark>` (escape first, then wrap).
- `quote`: for a citation, the answer sentence that cites the evidence (`Citation.sentence`);
  the extractive digest writes the passage's own sentences, so they are found. A language
  model's paraphrase is not (the match is of the quote's own words): fall back to the passage
  text (`item.text`), with `min_coverage=1.0` when the passage lies on one page and about 0.3
  when it runs over two (only the part on the shown page is marked).
  Citation markers such as "[E2]" in the quote are ignored.

Matching tolerates what differs between a stored passage and a page's text layer: white space
and line breaks, words hyphenated across lines ("treat-\\nment"), ligatures ("ﬁ"), full-width
and half-width forms, case, punctuation, and Chinese with or without spaces. Both sides are
reduced to a key of letters and digits (`matching_key`), with a map from each key character back
to the source character, so a match in the keys is a span of the page's characters.
When the page's text order differs from the passage's (two columns drawn row by row across the
page), the quote is found in pieces that break only where the page's lines break
(`find_fragments`); words, numbers and negations are never skipped.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from app.ui.preview import MAX_PREVIEW_PIXELS, PdfSource, PreviewError, open_pdf_page, source_name
from evidence.sentences import CITATION, strip_markup
from indexing.text import passage_sentences

DEFAULT_MAX_PIXELS = MAX_PREVIEW_PIXELS  # the page preview's own cap
MARKER_RGBA = (255, 200, 0, 110)  # a yellow marker pen; alpha 110/255 keeps the text readable


class HighlightError(PreviewError):
    """A PDF that cannot be opened or rendered, or a page it does not have. A PreviewError, so
    the preview's existing `except PreviewError` shows it as a caption."""


@dataclass(frozen=True)
class Box:
    """A rectangle on the page as it is displayed (crop box, page rotation applied), in PDF
    points, origin at the TOP-LEFT corner, y growing downwards: multiply by the render scale to
    get pixels of `render_with_highlight`/`page.render(scale=...)`."""

    left: float
    top: float
    right: float
    bottom: float

    def scaled(self, scale: float) -> tuple[float, float, float, float]:
        """(left, top, right, bottom) in pixels of a page rendered at `scale` pixels per point."""
        return (self.left * scale, self.top * scale, self.right * scale, self.bottom * scale)


# ----------------------------------------------------------------------------- matching keys



@lru_cache(maxsize=8192)
def _key_chars(char: str) -> str:
    """What one source character contributes to the key: NFKC (ligatures, full-width forms,
    superscript digits), case-folded, letters and digits only (Han ideographs are letters)."""
    if char == "\u00ad":  # soft hyphen
        return ""
    folded = unicodedata.normalize("NFKC", char).casefold()
    return "".join(c for c in folded if unicodedata.category(c)[0] in "LN")


def matching_key(text: str) -> tuple[str, list[int]]:
    """`text` reduced to lower-case letters and digits, and for each key character the index of
    the character of `text` it came from.

    Dropping spaces, line breaks, hyphens and punctuation makes "treat-\\nment" and "treatment",
    "ﬁrst" and "first", "，" and ",", "高 血 压" and "高血压" the same key. Everything that
    tells a sentence apart from another (its words, numbers, Chinese characters) stays.
    (A text primitive: it belongs in indexing/text.py once that module is on main.)"""
    key: list[str] = []
    index: list[int] = []
    for i, char in enumerate(text):
        for k in _key_chars(char):
            key.append(k)
            index.append(i)
    return "".join(key), index


def _quote_key(quote: str) -> str:
    return matching_key(CITATION.sub(" ", quote))[0]  # "[E2]" is the answer's, not the source's


def _min_fragment(fragment: str) -> int:
    """Shortest piece placed on the strength of its own letters: 12 letters or digits (two or
    three words), or 5 Han characters (each carries about a word); shorter ones are too common."""
    han = sum(1 for c in fragment if unicodedata.category(c) == "Lo")
    return 5 if han * 2 >= len(fragment) else 12


def _unreadable(char: str) -> bool:
    """A character the text layer could not map to Unicode: U+FFFD, private use, unassigned, or
    a control other than white space (what a glyph without a ToUnicode entry comes out as)."""
    return char == "\ufffd" or unicodedata.category(char) in ("Co", "Cn") or (char < " " and char not in "\t\r\n\f")


@dataclass(frozen=True)
class KeyedText:
    """A source text's matching key (see `matching_key`) with where its lines start and where the
    source has an unreadable character, both as key offsets."""

    key: str
    index: list[int]  # key offset -> source character index
    line_starts: frozenset[int]
    unreadable: frozenset[int]  # key offsets with an unreadable source character right before them


def keyed_text(text: str, char_boxes: list[Box | None] | None = None) -> KeyedText:
    """`text` keyed for `find_fragments`. A line starts after a line break or, given each
    character's box (y growing downwards), where a character is not beside the one before it on
    its line, as where a page's text jumps to the other column on the same baseline."""
    key, index = matching_key(text)
    starts, unreadable = {0}, set()
    for k in range(len(index) + 1):
        i = index[k - 1] if k else -1
        j = index[k] if k < len(index) else len(text)
        gap = text[i + 1 : j]
        if any(_unreadable(c) for c in gap):
            unreadable.add(k)
        if k == 0 or k == len(index) or i == j:
            continue
        if "\n" in gap or "\r" in gap:
            starts.add(k)
        elif char_boxes is not None and char_boxes[i] and char_boxes[j] and not _same_line(char_boxes[i], char_boxes[j]):
            starts.add(k)
    return KeyedText(key, index, frozenset(starts), frozenset(unreadable))


def find_fragments(source: KeyedText, quote: str, min_coverage: float = 1.0) -> list[tuple[int, int]]:
    """Where key `quote` lies in `source.key`: [(start, end)] key offsets, [] when not found.

    One run when the quote is there whole. Otherwise in pieces, each the longest run of the
    quote the source has, and each next piece only where the source allows a break:
    - the page's text runs in another order (two columns drawn row by row): the previous piece
      ends where a line ends and the next starts where a line starts (`_after_line_break`);
    - the text layer lost a character: one or two quote characters are passed over where the
      source has an unreadable character, and the next piece continues right there.
    Nothing else is passed over, so "not", "不" or a different number between two pieces is
    never absorbed. `min_coverage` below 1 lets the quote start before or end after what is
    found (a passage that runs over from the page before or on to the next): the first piece,
    at least `_min_fragment` long, may then start anywhere in the quote, and the pieces must
    cover that share of it."""
    if not quote:
        return []
    at = source.key.find(quote)
    if at >= 0:
        return [(at, at + len(quote))]
    needed = min_coverage * len(quote)
    pos = 0
    while pos < len(quote) and len(quote) - pos >= needed:
        length = _longest_prefix(source.key, quote, pos)
        if length < min(_min_fragment(quote[pos : pos + length]), len(quote) - pos):
            pos += 1
            continue
        fragments, covered, end = _chain(source, quote, pos, length)
        if covered >= needed:
            return fragments
        pos = max(end, pos + 1)  # a first piece placed on a look-alike phrase: start again after it
    return []


def _chain(source: KeyedText, quote: str, pos: int, length: int) -> tuple[list[tuple[int, int]], int, int]:
    """The pieces that follow a first piece quote[pos:pos+length] (placed where it first occurs)
    as far as the source allows: (pieces, quote characters covered, quote offset reached)."""
    at = source.key.find(quote[pos : pos + length])
    fragments = [(at, at + length)]
    covered, pos = length, pos + length
    while pos < len(quote):
        after = fragments[-1][1]
        step = _across_lost_char(source, quote, pos, after) or _after_line_break(source, quote, pos, after)
        if step is None:
            break
        skipped, at, length = step
        fragments.append((at, at + length))
        covered += skipped + length
        pos += skipped + length
    return fragments, covered, pos


def _common(haystack: str, at: int, quote: str, pos: int) -> int:
    """How many characters of quote[pos:] haystack[at:] starts with."""
    lo, hi = 0, min(len(quote) - pos, len(haystack) - at)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if haystack.startswith(quote[pos : pos + mid], at):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _across_lost_char(source: KeyedText, quote: str, pos: int, after: int) -> tuple[int, int, int] | None:
    """(quote characters passed over, start, length) of the piece that goes on right after the
    previous one, past an unreadable source character standing for one or two quote ones."""
    if after not in source.unreadable:
        return None
    for skipped in (1, 2):
        length = _common(source.key, after, quote, pos + skipped)
        if length and (length >= 3 or pos + skipped + length == len(quote)):
            return skipped, after, length
    return None


def _after_line_break(source: KeyedText, quote: str, pos: int, after: int) -> tuple[int, int, int] | None:
    """(0, start, length) of the longest next piece that starts a line, when the previous piece
    (ending at key offset `after`) ended a line. A longest match may run up to three characters
    past a line's end by coincidence; the next piece then starts as far into its line. A piece
    shorter than `_min_fragment` must be a whole line or finish the quote."""
    lines = sorted(source.line_starts | {len(source.key)})
    overrun = [after - s for s in lines if 0 <= after - s <= 3]
    if not overrun:
        return None
    best: tuple[int, int, int] | None = None
    for start in lines[:-1] if lines[-1] == len(source.key) else lines:
        for extra in overrun:
            at = start + extra
            length = _common(source.key, at, quote, pos)
            whole = extra == 0 and (at + length in source.line_starts or at + length == len(source.key))
            if length and (length >= _min_fragment(quote[pos : pos + length]) or whole or pos + length == len(quote)):
                if best is None or (length, -abs(at - after)) > (best[2], -abs(best[1] - after)):
                    best = (0, at, length)
    return best


def _longest_prefix(haystack: str, quote: str, pos: int) -> int:
    """Length of the longest quote[pos:pos+n] found in haystack (binary search: if a prefix
    occurs, every shorter one does)."""
    lo, hi = 0, len(quote) - pos
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if quote[pos : pos + mid] in haystack:
            lo = mid
        else:
            hi = mid - 1
    return lo


# What closes a sentence or a parenthesis after its last letter: ". ) 。 ）" and quotes.
_CLOSING = frozenset(".。!！?？;；:：)）]】」』\"'”’")


def _with_closing(text: str, spans: list[tuple[int, int]], quote: str) -> list[tuple[int, int]]:
    """The last span stretched over the closing punctuation right after it (". )", "）。") when
    the quote itself ends with punctuation: the key stops at the last letter or digit."""
    stripped = CITATION.sub("", quote).rstrip()
    if not spans or not stripped or stripped[-1] not in _CLOSING:
        return spans
    start, end = spans[-1]
    while end < len(text) and text[end] in _CLOSING:
        end += 1
    return spans[:-1] + [(start, end)]


def _source_spans(key_index: list[int], fragments: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Key fragments as [start, end) spans of the source text, fragments that follow each other
    in the key (only spaces or punctuation between them) joined into one span."""
    spans: list[tuple[int, int]] = []
    previous_end = None
    for start, end in sorted(fragments):
        span = (key_index[start], key_index[end - 1] + 1)
        if spans and previous_end is not None and start - previous_end <= 3:
            spans[-1] = (spans[-1][0], max(spans[-1][1], span[1]))
        else:
            spans.append(span)
        previous_end = end
    return spans


# ----------------------------------------------------------------------------- PDF pages


def _open_page(pdf_path: PdfSource, page_number: int) -> Any:
    """The 1-based page of the PDF (preview.open_pdf_page), failing with a HighlightError."""
    return open_pdf_page(pdf_path, page_number, error=HighlightError)


def _page_chars(page: Any) -> tuple[str, list[Box | None]]:
    """The text page's characters, one per pdfium character index (pdfium's own get_text_range
    may drop or add characters, which would shift every index after them), and each one's loose
    box in page space with y negated (so that, as on the displayed page, `top` is the smaller
    value and text runs left to right whatever the page's /Rotate); None for generated spaces
    and line breaks. Loose boxes span the font's ascent to descent: a line's marker has one
    even height."""
    import pypdfium2.raw as pdfium_c

    textpage = page.get_textpage()
    try:
        chars: list[str] = []
        boxes: list[Box | None] = []
        for i in range(textpage.count_chars()):
            code = pdfium_c.FPDFText_GetUnicode(textpage.raw, i)
            chars.append(chr(code) if 0 < code < 0x110000 else "\ufffd")
            generated = pdfium_c.FPDFText_IsGenerated(textpage.raw, i) == 1
            box = None if generated or chars[-1] in "\r\n" else textpage.get_charbox(i, loose=True)
            left, bottom, right, top = box or (0, 0, 0, 0)
            boxes.append(Box(left, -top, right, -bottom) if right > left and top > bottom else None)
        return "".join(chars), boxes
    finally:
        textpage.close()


def _display_transform(page: Any):
    """page-space (x, y) -> displayed-page points (origin top-left), as pdfium renders the page:
    its bounding box (crop box within media box) rotated by its /Rotate clockwise."""
    left, bottom, right, top = page.get_bbox()
    rotation = page.get_rotation() % 360
    if rotation == 90:
        return lambda x, y: (y - bottom, x - left)
    if rotation == 180:
        return lambda x, y: (right - x, y - bottom)
    if rotation == 270:
        return lambda x, y: (top - y, right - x)
    return lambda x, y: (x - left, top - y)


def _to_display(box: Box, transform) -> Box:
    """A y-negated page-space box (see `_page_chars`) on the displayed page."""
    (x1, y1), (x2, y2) = transform(box.left, -box.bottom), transform(box.right, -box.top)
    return Box(min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))


def _merge_lines(char_boxes: list[Box]) -> list[Box]:
    """Character boxes (in text order, y growing downwards) merged into one box per line
    (`_same_line`: a wider gap is another column, a jump back is a new line)."""
    lines: list[Box] = []
    for box in char_boxes:
        if lines and _same_line(lines[-1], box):
            cur = lines[-1]
            lines[-1] = Box(min(cur.left, box.left), min(cur.top, box.top),
                            max(cur.right, box.right), max(cur.bottom, box.bottom))
        else:
            lines.append(box)
    return lines


def _same_line(line: Box, box: Box) -> bool:
    """Whether `box` continues `line` (y growing downwards): it overlaps it vertically by half
    its height and starts no further right than 1.5 line heights past its end."""
    height = min(line.bottom - line.top, box.bottom - box.top)
    overlap = min(line.bottom, box.bottom) - max(line.top, box.top)
    return overlap >= 0.5 * height and line.left - height <= box.left <= line.right + 1.5 * height


def span_boxes(pdf_path: PdfSource, page_number: int, quote: str, *, min_coverage: float = 1.0) -> list[Box]:
    """Boxes, one per line, of `quote` on the 1-based page `page_number` of the PDF, in the
    displayed page's points with the origin at the top-left (see `Box`); [] when the quote is
    not on that page, has no letters or digits, or the page has no text layer (a scan).

    Raises HighlightError (a PreviewError) naming the file when it cannot be opened or has no
    such page. The whole quote must be on the page (see `find_fragments`); to mark the part of
    a passage that runs over from or on to another page, pass `min_coverage`, the share of its
    letters and digits expected on this page (0.5 for a passage split evenly over two pages)."""
    quote_key = _quote_key(quote)
    with _open_page(pdf_path, page_number) as page:
        text, char_boxes = _page_chars(page)
        transform = _display_transform(page)
    source = keyed_text(text, char_boxes)
    fragments = find_fragments(source, quote_key, min_coverage)
    spans = _with_closing(text, _source_spans(source.index, fragments), quote)
    picked = [box for start, end in spans for box in char_boxes[start:end] if box]
    return [_to_display(line, transform) for line in _merge_lines(picked)]


def render_with_highlight(pdf_path: PdfSource, page_number: int, boxes: list[Box], *, scale: float = 1.5,
                          max_pixels: int = DEFAULT_MAX_PIXELS, padding: float = 1.0,
                          color: tuple[int, int, int, int] = MARKER_RGBA) -> Any:
    """The 1-based page rendered at `scale` pixels per point (1.5: a 595-point A4 page comes out
    about 900 pixels wide, the preview's width) as an RGB PIL image, each box painted over with
    a semi-transparent marker `padding` points larger on every side. No boxes: the plain page.

    Refuses (HighlightError) a page whose rendering would exceed `max_pixels` (a malicious or
    poster-sized page must not take the server's memory), a scale that is not positive, and
    files that cannot be opened or lack the page."""
    from PIL import Image, ImageDraw

    if not scale > 0:
        raise HighlightError(f"{source_name(pdf_path)}: render scale must be positive, got {scale}")
    with _open_page(pdf_path, page_number) as page:
        width, height = page.get_size()
        pixels = round(width * scale) * round(height * scale)
        if pixels > max_pixels:
            raise HighlightError(
                f"{source_name(pdf_path)}: page {page_number} would render at {round(width * scale)}x{round(height * scale)} "
                f"pixels, over the limit of {max_pixels:,}; lower the scale")
        image = page.render(scale=scale).to_pil().convert("RGBA")
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for box in boxes:
        padded = Box(box.left - padding, box.top - padding, box.right + padding, box.bottom + padding)
        draw.rectangle(padded.scaled(scale), fill=color)
    return Image.alpha_composite(image, overlay).convert("RGB")


def highlight_page(pdf_path: PdfSource, page_number: int, quote: str, **render_options: Any) -> tuple[Any, list[Box]]:
    """`span_boxes` then `render_with_highlight`: the page image and the boxes drawn on it (an
    empty list: the quote was not found and the plain page is shown; say so under the image)."""
    boxes = span_boxes(pdf_path, page_number, quote)
    return render_with_highlight(pdf_path, page_number, boxes, **render_options), boxes


# ----------------------------------------------------------------------------- text sources


def mark_span(section_text: str, quote: str, *, min_coverage: float = 1.0) -> list[tuple[str, bool]]:
    """`section_text` cut into consecutive pieces, the quoted span's flagged True; joined, the
    pieces are `section_text` exactly. No match: [(section_text, False)].

    Same tolerant matching as `span_boxes`. The marked span runs from the quote's first to its
    last letter or digit, and over the closing punctuation after it when the quote ends with
    some. The pieces are raw text: the caller escapes them for markdown or HTML."""
    source = keyed_text(section_text)
    fragments = find_fragments(source, _quote_key(quote), min_coverage)
    spans = _with_closing(section_text, _source_spans(source.index, fragments), quote)
    if not spans:
        return [(section_text, False)] if section_text else []
    pieces: list[tuple[str, bool]] = []
    at = 0
    for start, end in spans:
        if start > at:
            pieces.append((section_text[at:start], False))
        if end > max(start, at):
            pieces.append((section_text[max(start, at):end], True))
        at = max(at, end)
    if at < len(section_text):
        pieces.append((section_text[at:], False))
    return pieces


# ----------------------------------------------------------------------------- quotes from answers


def cited_quotes(answer_text: str, evidence_id: str) -> list[str]:
    """The words of `answer_text` that cite `evidence_id`, one per citing marker, in order: for
    each "[E2]" (or "[E1, E2]") the sentence that ends right before it, without bullet, emphasis
    or markers. The extractive digest's lines ("- <the passage's sentence> [E2] (grade) (under
    “label”)") give the passage's own sentence, which `span_boxes`/`mark_span` then find.
    (`Citation.sentence` cannot serve: the citation check stores it with the markers removed and
    the digest's grade and scope notes kept, which are not words of the source.)"""
    quotes: list[str] = []
    for line in answer_text.splitlines():
        start, cited = 0, ""
        for marker in CITATION.finditer(line):
            segment = line[start : marker.start()]
            start = marker.end()
            if matching_key(segment)[0]:  # "[E1][E2]": the second marker cites the same words
                sentences = passage_sentences(segment)
                cited = strip_markup(sentences[-1]) if sentences else ""
            ids = [i.strip() for i in re.split(r"[,;，、]", marker.group(1))]
            if evidence_id in ids and cited and cited not in quotes:
                quotes.append(cited)
    return quotes
