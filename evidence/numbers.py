"""Does a sentence's numeric condition hold for the value a question gives?

Score and threshold questions carry the patient's value ("NEWS2 of 7", "a pulse of 115", "INR of
1.6", "burns over 12%"), and a guideline answers them with one row of a list or table among
several that differ only in their condition ("5-6: urgent ... within 60 minutes", ">= 7: emergency
... within 30 minutes"). Every row names the score, so word overlap cannot choose between them;
the condition can. `number_fit` says whether a sentence (with its label) states a condition that
the question's value meets (+1), only conditions it fails (-1), or none on a comparable scale (0).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# A value of the question: a number standing alone, not part of a name ("NEWS2", "PHQ-9", "DAS28",
# "CHA2DS2"), a list marker or "type 2".
_VALUE = re.compile(r"(?<![\w.\-/])(\d+(?:\.\d+)?)(?![\w.]*[A-Za-z]\d)(?!\.\d)")
_NOT_A_VALUE_BEFORE = re.compile(r"(?:type|class|grade|stage|step|group|phase|scale|level|version)\s*$", re.I)
_WORD_VALUES = {"zero": 0.0}
# Conditions stated in a sentence: "a-b" / "a to b" ranges, "<= a", "a or more", "above a".
_NUM = r"(\d+(?:\.\d+)?)"
_RANGE = re.compile(rf"(?<![\w.]){_NUM}\s*(?:%|mg|mmol/L|minutes|min|hours|h|bpm)?\s*(?:-|–|—|to|～|~)\s*{_NUM}(?![\w.]*\d)")
_BOUND = re.compile(rf"(>=|<=|≥|≤|>|<|\bover\b|\bunder\b|\babove\b|\bbelow\b|\bat least\b|\bmore than\b|\bless than\b)\s*{_NUM}", re.I)
_OR_MORE = re.compile(rf"(?<![\w.]){_NUM}\s*(?:%\s*)?(?:or more|or higher|or above|and above|or greater|or less|or lower|and below|及以上|以上|以下)", re.I)
_AT_LEAST = (">=", "≥", "at least", "or more", "or higher", "or above", "and above", "or greater", "及以上")
_ABOVE = (">", "over", "above", "more than", "以上")
_AT_MOST = ("<=", "≤", "or less", "or lower", "and below")
# A condition is on the question's scale when its number is within this factor of the value: 115
# beats/min meets "> 100", not "score >= 7".
SAME_SCALE = 3.0
# A condition on a time ("every 4-12 hours", "within 60 minutes") is compared only with a value the
# question gives as a time ("lasted 75 minutes"), and an age ("age > 75 years") only with an age
# ("my 80-year-old", "aged 80"): a NEWS2 of 7 is not "4-12 hours".
_TIME_UNIT = re.compile(r"[\s-]*(?:seconds?|secs?|min|minutes?|h|hrs?|hours?|days?|weeks?|months?|小时|分钟|天|周|月)\b", re.I)
_AGE_UNIT = re.compile(r"[\s-]*(?:years?|yrs?|岁)(?:[\s-]*old)?\b", re.I)
_AGE_BEFORE = re.compile(r"(?:\bage[ds]?|\baged|年龄)\W{0,3}(?:\w+\W{1,3})?$", re.I)
# "Delay insulin until K+ > 3.5": a bound after "until" or "unless" is the state to reach, not the
# patient's state the row is about.
_GOAL_BEFORE = re.compile(r"\b(?:until|unless|till)\s+(?:\S+\s+){0,2}$", re.I)


Value = tuple[float, str]  # the number, and its kind: "time" ("75 minutes"), "age" ("80-year-old") or ""
Condition = tuple[float, float, float, str]  # low, high (inclusive), reference number, kind


def _kind(text: str, start: int, end: int) -> str:
    """What the number at text[start:end] measures, by the unit after it or "age" before it."""
    if _TIME_UNIT.match(text, end):
        return "time"
    if _AGE_UNIT.match(text, end) or _AGE_BEFORE.search(text[max(0, start - 16): start]):
        return "age"
    return ""


@lru_cache(maxsize=256)
def question_values(question: str) -> tuple[Value, ...]:
    """The numbers a question gives as values (not as parts of names), each with its kind (`_kind`)."""
    text = unicodedata.normalize("NFKC", question)
    values = []
    for m in _VALUE.finditer(text):
        if not _NOT_A_VALUE_BEFORE.search(text[: m.start()]):
            values.append((float(m.group(1)), _kind(text, m.start(), m.end())))
    values += [(v, "") for word, v in _WORD_VALUES.items() if re.search(rf"\b{word}\b", text, re.I)]
    return tuple(values)


def _conditions(text: str) -> list[Condition]:
    """Each condition the text states; strict bounds are nudged by a hair so "> 100" excludes 100."""
    text = unicodedata.normalize("NFKC", text)
    out = []
    for m in _RANGE.finditer(text):
        a, b = float(m.group(1)), float(m.group(2))
        if a < b:
            out.append((a, b, b, _kind(text, m.start(), m.end()) or _kind(text, m.start(), m.end(1))))
    for m in _BOUND.finditer(text):
        if not _GOAL_BEFORE.search(text[: m.start()]):
            out.append(_bounded(m.group(1).lower(), float(m.group(2)), _kind(text, m.start(), m.end())))
    for m in _OR_MORE.finditer(text):
        op = m.group(0)[len(m.group(1)):].strip(" %").lower()
        out.append(_bounded(op, float(m.group(1)), _kind(text, m.start(), m.end(1))))
    return out


def _bounded(op: str, n: float, kind: str) -> Condition:
    tiny = 1e-9
    if op in _AT_LEAST:
        return (n, float("inf"), n, kind)
    if op in _ABOVE:
        return (n + tiny, float("inf"), n, kind)
    if op in _AT_MOST:
        return (float("-inf"), n, n, kind)
    return (float("-inf"), n - tiny, n, kind)  # "<", "under", "below", "less than", "以下"


def number_fit(values: tuple[Value, ...], text: str) -> int:
    """+1 when a condition of `text` on a value's scale (and kind: a time, an age or neither) holds for it, -1
    when such conditions exist and none holds, 0 when the text states none that is comparable (or
    the question gives no value)."""
    if not values:
        return 0
    comparable = False
    for low, high, ref, measures in _conditions(text):
        for v, kind in values:
            if kind != measures or not _same_scale(v, ref):
                continue
            comparable = True
            if low <= v <= high:
                return 1
    return -1 if comparable else 0


def _same_scale(value: float, reference: float) -> bool:
    if value == 0 or reference == 0:
        return value == reference or max(value, reference) <= 1
    big, small = max(abs(value), abs(reference)), min(abs(value), abs(reference))
    return big / small <= SAME_SCALE
