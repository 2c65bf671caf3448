"""Sentences, content terms and numbers of English and Chinese text.

Citation checking and the extractive digest both compare an answer sentence with a passage. They
need the same notion of a sentence (markdown bullets and headings are their own units; a PDF line
wrap is not), of the words that carry meaning (stemmed English content words, Chinese character
bigrams) and of the numbers a claim states (a dose absent from the passage makes a claim
unsupported).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

import Stemmer

from evidence.synonyms import canonical_map

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RUN = re.compile(f"[{_CJK}]+")
_HAS_CJK = re.compile(f"[{_CJK}]")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")
# A number not glued to letters on its left (so CHA2DS2-VASc and HbA1c are not numbers).
_NUMBER = re.compile(r"(?<![A-Za-z0-9.])\d+(?:,\d{3})*(?:\.\d+)?")
CITATION = re.compile(r"\[\s*(E\d+(?:\s*[,;，、]\s*E\d+)*)\s*\]")
_CITATION_ID = re.compile(r"E\d+")

_BULLET = re.compile(r"^\s*(?:[-*+•·]|\d{1,3}[.)]|[（(]?[一二三四五六七八九十]+[)）、.]|[a-z][.)])\s+")
_HEADING = re.compile(r"^\s*#{1,6}\s")
_TABLE_ROW = re.compile(r"^\s*\|")

_ABBREVIATIONS = {
    "e.g", "i.e", "vs", "etc", "dr", "mr", "mrs", "ms", "prof", "fig", "figs", "no", "al", "approx",
    "ca", "cf", "resp", "min", "max", "dept", "vol", "pp", "p", "st", "jr", "inc", "ltd", "ref",
    "eq", "incl", "ie", "eg", "b.i.d", "t.i.d", "q.i.d", "bid", "tid", "qid", "q.d", "u.s",
}
# A full stop ends a sentence when followed by space and something that can start one.
_EN_BOUNDARY = re.compile(
    r"([.!?])(\)?(?:\s*\[\s*E\d+(?:\s*[,;，、]\s*E\d+)*\s*\])*)\s+(?=[\"'“‘(\[*_]?[A-Z0-9\u3400-\u9fff])"
)
_ZH_BOUNDARY = re.compile(r"([。！？!?])([”’」』）)]?)")

_STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each either few for from
    further had has have having he her here hers herself him himself his how however i if in into
    is it its itself just may me might more most must my myself neither nor not now of off on once
    only or other our ours ourselves out over own per same shall she should so some such than that
    the their theirs them themselves then there these they this those through thus to too under
    until up upon us very via was we were what when where whether which while who whom why will
    with within without would yet you your yours yourself yourselves
    """.split()
)

_stemmer = Stemmer.Stemmer("english")


def has_cjk(text: str) -> bool:
    return bool(_HAS_CJK.search(text))


def normalize_space(text: str) -> str:
    """NFKC-free whitespace cleanup: collapse runs of spaces, drop spaces between CJK characters."""
    text = re.sub(r"[ \t\u00a0\u3000]+", " ", text.replace("\r", ""))
    text = re.sub(f"(?<=[{_CJK}]) (?=[{_CJK}])", "", text)
    return text.strip()


def _is_structural(line: str) -> bool:
    return bool(_BULLET.match(line) or _HEADING.match(line) or _TABLE_ROW.match(line))


def _ends_unit(line: str) -> bool:
    """A line that a following line must not be glued to (a heading, a finished sentence)."""
    s = line.rstrip()
    if not s:
        return True
    if _HEADING.match(s) or _TABLE_ROW.match(s) or s.endswith(":") or s.endswith("："):
        return True
    if re.search(r"[.!?。！？;；]([\"'”’)\]]*)$", s) or CITATION.search(s[-12:]):
        return True
    return s.startswith("**") and s.endswith("**")


def _blocks(text: str, headings: frozenset[str] = frozenset()) -> list[str]:
    """Lines joined back into logical blocks: a wrapped PDF line continues its sentence; a line
    that is one of the passage's headings stands alone."""
    blocks: list[str] = []
    current = ""
    for raw in text.replace("\r", "").split("\n"):
        line = raw.strip()
        if not line:
            if current:
                blocks.append(current)
            current = ""
            continue
        if line in headings:
            if current:
                blocks.append(current)
            blocks.append(line)
            current = ""
            continue
        if not current:
            current = line
        elif _is_structural(line) or _ends_unit(current):
            blocks.append(current)
            current = line
        else:
            joiner = "" if (has_cjk(current[-1]) and has_cjk(line[0])) else " "
            current = current + joiner + line
    if current:
        blocks.append(current)
    return blocks


def _split_english(block: str) -> list[str]:
    pieces: list[str] = []
    start = 0
    for m in _EN_BOUNDARY.finditer(block):
        end = m.end(2)
        before = block[start : m.start(1)]
        last_word = re.search(r"([A-Za-z][A-Za-z.]*)$", before)
        if m.group(1) == "." and last_word and last_word.group(1).lower().rstrip(".") in _ABBREVIATIONS:
            continue
        if m.group(1) == "." and last_word and len(last_word.group(1)) == 1 and last_word.group(1).isupper():
            continue  # an initial, e.g. "Smith J. Jones"
        pieces.append(block[start:end])
        start = m.end()
    pieces.append(block[start:])
    return pieces


def _split_chinese(block: str) -> list[str]:
    pieces: list[str] = []
    start = 0
    for m in _ZH_BOUNDARY.finditer(block):
        if m.group(1) in "!?" and not has_cjk(block[max(0, m.start() - 1) : m.start()]):
            continue  # an ASCII mark in English text is the English splitter's job
        pieces.append(block[start : m.end()])
        start = m.end()
    pieces.append(block[start:])
    return pieces


def _attach_leading_citations(sentences: list[str]) -> list[str]:
    """'... warfarin. [E1] Next' puts [E1] at the start of the next piece; it belongs to the previous."""
    out: list[str] = []
    for s in sentences:
        m = re.match(r"^((?:\s*\[\s*E\d+(?:\s*[,;，、]\s*E\d+)*\s*\])+)\s*(.*)$", s, re.S)
        if m and out:
            out[-1] = out[-1] + " " + m.group(1).strip()
            s = m.group(2)
        if out and re.fullmatch(r"(?:\s*[(（][^()（）]*[)）][.。]?|\s*\[\s*E\d+(?:\s*[,;，、]\s*E\d+)*\s*\])+\s*", s):
            out[-1] = out[-1] + " " + s.strip()  # "(Class I, LOE A)" annotates the sentence before it
            continue
        if s.strip():
            out.append(s)
    return out


def split_sentences(text: str, headings: Iterable[str] = ()) -> list[str]:
    """Sentences of English and/or Chinese text, markdown-aware, whitespace cleaned up.

    `headings`: the passage's section titles; chunkers keep them as plain lines in the text, and
    without punctuation they would otherwise be glued to the sentence below them."""
    sentences: list[str] = []
    for block in _blocks(text, frozenset(h.strip() for h in headings if h and h.strip())):
        for piece in _split_english(block):
            sentences.extend(_split_chinese(piece))
    return [normalize_space(s) for s in _attach_leading_citations(sentences) if normalize_space(s)]


def is_list_item(line: str) -> bool:
    """A bullet or enumerated item ("- x", "2. x", "（三）x", "a) x")."""
    return bool(_BULLET.match(line))


def strip_markup(sentence: str) -> str:
    """A sentence without bullet markers, heading hashes, emphasis and citation markers."""
    s = CITATION.sub(" ", sentence)
    s = _HEADING.sub("", s)
    s = _BULLET.sub("", s)
    s = s.replace("**", "").replace("__", "")
    s = re.sub(r"(?<!\w)[*_](?=\S)|(?<=\S)[*_](?!\w)", "", s)
    s = re.sub(r"\s+([.,;:!?。，；：！？])", r"\1", s)
    return normalize_space(s)


def cited_ids(sentence: str) -> list[str]:
    """Evidence ids cited in a sentence, in order, without repeats."""
    ids: list[str] = []
    for m in CITATION.finditer(sentence):
        for eid in _CITATION_ID.findall(m.group(1)):
            if eid not in ids:
                ids.append(eid)
    return ids


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _stemmer.stemWord(word)


def content_terms(text: str) -> set[str]:
    """Stemmed English content words plus Chinese character bigrams (unigrams for lone characters),
    with single-word clinical synonyms folded into one term ("HbA1c" = "A1C")."""
    canonical = canonical_map(_raw_content_terms)
    return {canonical.get(t, t) for t in _raw_content_terms(text)}


def _raw_content_terms(text: str) -> set[str]:
    text = unicodedata.normalize("NFKC", text)
    terms: set[str] = set()
    for w in _WORD.findall(text):
        lw = w.lower()
        if lw in _STOP_WORDS or len(lw) < 2 and not w.isupper():
            continue
        terms.add(_stem(lw))
    for run in _CJK_RUN.findall(text):
        if len(run) == 1:
            terms.add(run)
        else:
            terms.update(run[i : i + 2] for i in range(len(run) - 1))
    return terms


def numbers(text: str) -> set[str]:
    """Numbers stated in text, normalised (1,000 -> 1000; 2.0 -> 2), citation ids excluded."""
    text = CITATION.sub(" ", unicodedata.normalize("NFKC", text))
    found: set[str] = set()
    for raw in _NUMBER.findall(text):
        n = raw.replace(",", "")
        if "." in n:
            n = n.rstrip("0").rstrip(".")
        found.add(n.lstrip("0") or "0")
    return found


_INJECTION = re.compile(
    r"ignore\s+(?:all\s+|any\s+)?(?:the\s+)?(?:previous|prior|above|earlier|preceding|system)\s+"
    r"(?:instructions?|prompts?|rules?|messages?)"
    r"|disregard\s+(?:all\s+|the\s+)?(?:previous|prior|above|system)"
    r"|you\s+are\s+now\b|new\s+instructions?\s*:|system\s+prompt|as\s+an\s+ai\b"
    r"|<\|[^|>]{1,40}\|>|<(?:B_SYS|B_USYS|C_Q|C_A|B_FUNC|B_CODE)>|\[/?INST\]"
    r"|忽略(?:之前|以上|前面|先前)的?(?:所有)?(?:指令|指示|提示)",
    re.I,
)


def looks_like_injection(text: str) -> bool:
    """Text addressed to a language model rather than to a clinician (prompt injection)."""
    return bool(_INJECTION.search(text))
