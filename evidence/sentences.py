"""Citation markers, content terms and numbers of English and Chinese sentences.

Citation checking and the extractive digest both compare an answer sentence with a passage. They
need the same notion of a sentence (`indexing.text.passage_sentences`: markdown bullets and
headings are their own units, a PDF line wrap is not), of the words that carry meaning (stemmed
English content words, Chinese character bigrams, clinical synonyms folded) and of the numbers a
claim states (a dose absent from the passage makes a claim unsupported).
"""

from __future__ import annotations

import re
import unicodedata

from evidence.synonyms import canonical_map
from indexing.text import BULLET, CONTENT_STOP_WORDS, HAN_RUN, HEADING, normalize_space, stem

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")
# A number not glued to letters on its left (so CHA2DS2-VASc and HbA1c are not numbers).
_NUMBER = re.compile(r"(?<![A-Za-z0-9.])\d+(?:,\d{3})*(?:\.\d+)?")
CITATION = re.compile(r"\[\s*(E\d+(?:\s*[,;，、]\s*E\d+)*)\s*\]")
_CITATION_ID = re.compile(r"E\d+")


def strip_markup(sentence: str) -> str:
    """A sentence without bullet markers, heading hashes, emphasis and citation markers."""
    s = CITATION.sub(" ", sentence)
    s = HEADING.sub("", s)
    s = BULLET.sub("", s)
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
        if lw in CONTENT_STOP_WORDS or len(lw) < 2 and not w.isupper():
            continue
        terms.add(stem(lw))
    for run in HAN_RUN.findall(text):
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
