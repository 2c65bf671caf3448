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
