"""The cited span shown in its source: the quoted sentence's boxes on a PDF page, or the span
marked in a markdown/text section.

How the UI uses it (all pure functions; nothing is cached here, the caller caches):

    boxes = span_boxes(pdf_path, page_number, quote)          # [] when the quote is not found
    image = render_with_highlight(pdf_path, page_number, boxes)  # PIL image, boxes marked
    pieces = mark_span(section_text, quote)                   # [(text, is_quoted), ...]

`quote` is the sentence to show: a sentence of the cited passage (the extractive digest quotes
them verbatim) or the passage text itself. Citation markers such as "[E2]" are ignored, so an
answer sentence may be passed as it is, but a paraphrase will not be found: the match is of
the quote's own words.

Matching tolerates what differs between a stored passage and a page's text layer: white space
and line breaks, words hyphenated across lines ("treat-\\nment"), ligatures ("ﬁ"), full-width
and half-width forms, case, punctuation, and Chinese with or without spaces. Both sides are
reduced to a key of letters and digits (`matching_key`), with a map from each key character back
to the source character, so a match in the keys is a span of the page's characters.
When the page's text order differs from the passage's (two columns drawn row by row across the
page), the quote is found as a few long fragments instead of one run.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from app.ui.preview import PreviewError

DEFAULT_MAX_PIXELS = 25_000_000  # the same cap as the page preview: ~100 MB of RGBA at most
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

# "[E2]", "[E1, E3]": the answer's citation markers, not words of the source.
_CITATION_MARKERS = re.compile(r"\[\s*E\d+(?:\s*[,;，、–-]\s*E\d+)*\s*\]")


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
    return matching_key(_CITATION_MARKERS.sub(" ", quote))[0]


def _min_fragment(fragment: str) -> int:
    """Shortest fragment trusted on its own: 8 letters or digits (a word or two), or 4 Han
    characters (each carries about a word); shorter ones are too common to place."""
    han = sum(1 for c in fragment if unicodedata.category(c) == "Lo")
    return 4 if han * 2 >= len(fragment) else 8


def find_fragments(haystack: str, quote: str, min_coverage: float = 0.9) -> list[tuple[int, int]]:
    """Where key `quote` lies in key `haystack`: [(start, end)] key offsets, [] when not found.

    One run when the quote is there whole. Otherwise greedily the longest prefix of what is left
    of the quote that occurs in the haystack (nearest to where the previous fragment ended); a
    prefix too short to trust (`_min_fragment`) that does not continue the previous fragment
    costs one quote character. Found when the fragments cover `min_coverage` of the quote
    (0.9: a stray character or ligature the text layer lost must not hide a sentence, a sentence
    sharing a few phrases must not pass for it)."""
    if not quote:
        return []
    start = haystack.find(quote)
    if start >= 0:
        return [(start, start + len(quote))]
    fragments: list[tuple[int, int]] = []
    pos = matched = 0
    while pos < len(quote):
        length = _longest_prefix(haystack, quote, pos)
        where = _nearest(haystack, quote[pos : pos + length], fragments[-1][1] if fragments else None)
        continues = bool(fragments) and length > 0 and 0 <= where - fragments[-1][1] <= 3
        if length and (length >= _min_fragment(quote[pos : pos + length]) or continues):
            fragments.append((where, where + length))
            matched += length
            pos += length
        else:
            pos += 1
    return fragments if matched >= min_coverage * len(quote) else []


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


def _nearest(haystack: str, piece: str, after: int | None) -> int:
    """The occurrence of `piece` closest to `after` (the first one when there is no `after`)."""
    if not piece:
        return -1
    first = haystack.find(piece)
    if after is None:
        return first
    best, at = first, first
    while at >= 0:
        if abs(at - after) < abs(best - after):
            best = at
        at = haystack.find(piece, at + 1)
    return best


# What closes a sentence or a parenthesis after its last letter: ". ) 。 ）" and quotes.
_CLOSING = frozenset(".。!！?？;；:：)）]】」』\"'”’")


def _with_closing(text: str, spans: list[tuple[int, int]], quote: str) -> list[tuple[int, int]]:
    """The last span stretched over the closing punctuation right after it (". )", "）。") when
    the quote itself ends with punctuation: the key stops at the last letter or digit."""
    stripped = _CITATION_MARKERS.sub("", quote).rstrip()
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


@contextmanager
def _open_page(pdf_path: str | Path, page_number: int) -> Iterator[Any]:
    """The 1-based page of the PDF, closed (with its document) afterwards; a HighlightError
    naming the file when it cannot be opened or has no such page."""
    import pypdfium2 as pdfium

    path = Path(pdf_path)
    if not path.is_file():
        raise HighlightError(f"{path}: no such file")
    try:
        pdf = pdfium.PdfDocument(str(path))
    except Exception as exc:  # noqa: BLE001 - pdfium raises its own error types
        raise HighlightError(f"{path}: cannot open the PDF ({exc})") from exc
    try:
        if not 1 <= page_number <= len(pdf):
            raise HighlightError(f"{path}: has no page {page_number} (it has {len(pdf)})")
        page = pdf[page_number - 1]
        try:
            yield page
        finally:
            page.close()
    finally:
        pdf.close()


def _page_chars(page: Any) -> tuple[str, list[tuple[float, float, float, float] | None]]:
    """The text page's characters, one per pdfium character index (pdfium's own get_text_range
    may drop or add characters, which would shift every index after them), and each one's loose
    box in page space (left, bottom, right, top; None for generated spaces and line breaks).
    Loose boxes span the font's ascent to descent, so a line's marker has one even height."""
    import pypdfium2.raw as pdfium_c

    textpage = page.get_textpage()
    try:
        chars: list[str] = []
        boxes: list[tuple[float, float, float, float] | None] = []
        for i in range(textpage.count_chars()):
            code = pdfium_c.FPDFText_GetUnicode(textpage.raw, i)
            chars.append(chr(code) if 0 < code < 0x110000 else "\ufffd")
            generated = pdfium_c.FPDFText_IsGenerated(textpage.raw, i) == 1
            box = None if generated or chars[-1] in "\r\n" else textpage.get_charbox(i, loose=True)
            boxes.append(box if box and box[2] > box[0] and box[3] > box[1] else None)
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


def _to_display(box: tuple[float, float, float, float], transform) -> Box:
    left, bottom, right, top = box
    (x1, y1), (x2, y2) = transform(left, bottom), transform(right, top)
    return Box(min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))


def _merge_lines(char_boxes: list[Box]) -> list[Box]:
    """Character boxes (in text order, y growing downwards) merged into one box per line: a character joins the
    current box when it overlaps it vertically by half its height and starts no further right
    than 1.5 line heights past it (a wider gap is another column, a jump back is a new line)."""
    lines: list[Box] = []
    for box in char_boxes:
        if lines:
            cur = lines[-1]
            height = min(cur.bottom - cur.top, box.bottom - box.top)
            overlap = min(cur.bottom, box.bottom) - max(cur.top, box.top)
            same_line = overlap >= 0.5 * height and cur.left - height <= box.left <= cur.right + 1.5 * height
            if same_line:
                lines[-1] = Box(min(cur.left, box.left), min(cur.top, box.top),
                                max(cur.right, box.right), max(cur.bottom, box.bottom))
                continue
        lines.append(box)
    return lines


def span_boxes(pdf_path: str | Path, page_number: int, quote: str) -> list[Box]:
    """Boxes, one per line, of `quote` on the 1-based page `page_number` of the PDF, in the
    displayed page's points with the origin at the top-left (see `Box`); [] when the quote is
    not on that page, has no letters or digits, or the page has no text layer (a scan).

    Raises HighlightError (a PreviewError) naming the file when it cannot be opened or has no
    such page. A quote spanning two pages is found on each page only if 90% of it is there:
    call this for the page the preview shows."""
    quote_key = _quote_key(quote)
    with _open_page(pdf_path, page_number) as page:
        text, char_boxes = _page_chars(page)
        transform = _display_transform(page)
    page_key, key_index = matching_key(text)
    spans = _with_closing(text, _source_spans(key_index, find_fragments(page_key, quote_key)), quote)
    # Lines are merged in page space, where text runs left to right whatever the page's /Rotate;
    # y is negated there so that `Box.top` is the smaller value, as on the displayed page.
    picked = [(l, -t, r, -b) for s, e in spans for i in range(s, e) if (box := char_boxes[i]) for l, b, r, t in [box]]
    lines = _merge_lines([Box(*corners) for corners in picked])
    return [_to_display((line.left, -line.bottom, line.right, -line.top), transform) for line in lines]


def render_with_highlight(pdf_path: str | Path, page_number: int, boxes: list[Box], *, scale: float = 1.5,
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
        raise HighlightError(f"{pdf_path}: render scale must be positive, got {scale}")
    with _open_page(pdf_path, page_number) as page:
        width, height = page.get_size()
        pixels = round(width * scale) * round(height * scale)
        if pixels > max_pixels:
            raise HighlightError(
                f"{pdf_path}: page {page_number} would render at {round(width * scale)}x{round(height * scale)} "
                f"pixels, over the limit of {max_pixels:,}; lower the scale")
        image = page.render(scale=scale).to_pil().convert("RGBA")
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for box in boxes:
        padded = Box(box.left - padding, box.top - padding, box.right + padding, box.bottom + padding)
        draw.rectangle(padded.scaled(scale), fill=color)
    return Image.alpha_composite(image, overlay).convert("RGB")


def highlight_page(pdf_path: str | Path, page_number: int, quote: str, **render_options: Any) -> tuple[Any, list[Box]]:
    """`span_boxes` then `render_with_highlight`: the page image and the boxes drawn on it (an
    empty list: the quote was not found and the plain page is shown; say so under the image)."""
    boxes = span_boxes(pdf_path, page_number, quote)
    return render_with_highlight(pdf_path, page_number, boxes, **render_options), boxes


# ----------------------------------------------------------------------------- text sources


def mark_span(section_text: str, quote: str) -> list[tuple[str, bool]]:
    """`section_text` cut into consecutive pieces, the quoted span's flagged True; joined, the
    pieces are `section_text` exactly. No match: [(section_text, False)].

    Same tolerant matching as `span_boxes`. The marked span runs from the quote's first to its
    last letter or digit, and over the closing punctuation after it when the quote ends with
    some. The pieces are raw text: the caller escapes them for markdown or HTML."""
    key, key_index = matching_key(section_text)
    spans = _with_closing(section_text, _source_spans(key_index, find_fragments(key, _quote_key(quote))), quote)
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
