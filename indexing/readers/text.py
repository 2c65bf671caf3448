"""Plain text files: decoding without guessing wildly, pages split at form feeds."""

from __future__ import annotations

import re

from indexing.errors import ReadError
from indexing.text import is_cjk_char


def decode_text(path, data: bytes) -> str:
    """Bytes of a text file as str: UTF-8 (BOM or not), UTF-16 with a BOM, GB18030, Windows-1252."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise ReadError(path, "not a text file (invalid UTF-16)") from None
    if b"\x00" in data[:8192]:
        raise ReadError(path, "not a text file (binary content)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
        non_ascii = [c for c in text if ord(c) > 127]
        cjk = sum(1 for c in non_ascii if is_cjk_char(c) or c == "\u3000")
        if non_ascii and cjk / len(non_ascii) > 0.8:
            return text
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        raise ReadError(path, "not a text file (unknown encoding; save it as UTF-8)") from None
    controls = sum(1 for c in text[:20000] if ord(c) < 32 and c not in "\n\r\t\f")
    if controls > 0.01 * min(len(text), 20000):
        raise ReadError(path, "not a text file (binary content)")
    return text


# C0 and C1 control characters, DEL, and the bidirectional overrides/isolates that reorder how a
# line is displayed (the "Trojan Source" characters). Tab, newline and form feed are text.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0d-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_ESCAPE_SEQUENCE = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])")


def strip_controls(text: str, one_line: bool = False) -> str:
    """Text safe to show on a terminal or a page: terminal escape sequences removed whole (so
    `\x1b[31m` leaves nothing behind), other control characters dropped; `one_line` also turns
    line breaks and tabs into single spaces (titles, table cells)."""
    text = _CONTROLS.sub("", _ESCAPE_SEQUENCE.sub("", text or ""))
    return " ".join(text.split()) if one_line else text


def split_pages(text: str) -> list[str]:
    """A form feed is a page break in plain text; otherwise the file is one page."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    pages = text.split("\f")
    return pages if len(pages) > 1 else [text]


def first_line_title(text: str) -> str | None:
    for line in text.splitlines()[:20]:
        line = line.strip().lstrip("#").strip()
        if not line:
            continue
        if 3 <= len(line) <= 200 and re.search(r"[^\W\d_]", line):
            return line
        return None
    return None
