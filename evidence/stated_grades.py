"""Recommendation grades a document prints itself, quoted as printed and tied to their sentence.

Every grading system has its own surface forms, so each scheme gets its own small pattern with
its own acceptance rule. The rules lean towards precision: a bare "Class I" or "Grade A" is only
taken when its context makes it a recommendation grade (parentheses, a level of evidence beside
it, the word "recommendation", a grade column of a table), never in "Class I obesity",
"NYHA class III", "grade 3 hypertension" or "stage A heart failure".
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass

from indexing.labels import GradeScheme, StatedGrade
from indexing.text import HAN, RECOMMENDING, has_cjk, sentence_spans

Direction = str | None  # "for" | "against" | "neutral" | None

# --------------------------------------------------------------------------------------------
# Normalisation tables
# --------------------------------------------------------------------------------------------

_ROMAN = str.maketrans({"Ⅰ": "I", "Ⅱ": "II", "Ⅲ": "III", "Ⅳ": "IV", "Ⅴ": "V"})
_ACC_CLASS = {"1": "I", "2a": "IIa", "2b": "IIb", "3": "III", "i": "I", "iia": "IIa", "iib": "IIb",
              "ii": "II", "iii": "III"}
_GRADE_LETTER_CERTAINTY = {"A": "high", "B": "moderate", "C": "low", "D": "very low"}
_GRADE_DIGIT_STRENGTH = {"1": "strong", "2": "conditional"}
_ZH_CERTAINTY = {"高": "high", "中": "moderate", "中等": "moderate", "低": "low", "极低": "very low"}
_ZH_STRENGTH = {"强": "strong", "弱": "conditional", "有条件": "conditional"}


def _norm_class(raw: str) -> str:
    raw = raw.translate(_ROMAN)
    return _ACC_CLASS.get(raw.lower(), raw)


def _norm_certainty_words(raw: str) -> str:
    words = re.split(r"\s*(?:to|-|–|/)\s*", raw.strip().lower())
    words = [re.sub(r"\s+", " ", w) for w in words if w]
    return "/".join(words)


def _norm_strength_word(raw: str) -> str:
    raw = raw.lower()
    return "strong" if raw == "strong" else "conditional"  # GRADE: weak == conditional == discretionary


# --------------------------------------------------------------------------------------------
# Direction of a recommendation sentence
# --------------------------------------------------------------------------------------------

_AGAINST = re.compile(
    r"\b(?:not\s+(?:be\s+)?recommended|(?:recommends?|suggests?|advises?)\s+not\b|recommends?\s+against|suggests?\s+against|advises?\s+against"
    r"|recommendation\s+against|should\s+not|must\s+not|shall\s+not|do\s+not|does\s+not\s+recommend"
    r"|don't|avoid(?:ed)?|(?:is|are)\s+not\s+(?:indicated|recommended|advised|useful|beneficial)"
    r"|not\s+be\s+(?:used|given|offered|started|administered|performed)|contraindicated|no\s+benefit|(?:is|are)\s+harmful|not\s+(?:routinely\s+)?(?:offer|use|give|start)"
    r"|no\s+\w+(?:\s+\w+)?\s+(?:is|are)\s+recommended|against\s+(?:the\s+)?(?:routine\s+)?use)\b"
    r"|不推荐|不建议|不应|不宜|避免|禁用|禁止",
    re.IGNORECASE,
)
# "do not stop / withhold ..." keeps a treatment going: not a recommendation against it.
_DOUBLE_NEGATIVE = re.compile(
    r"\b(?:do\s+not|should\s+not|must\s+not)\s+(?:be\s+)?(?:stop|withh[oe]ld|discontinu|delay|interrupt"
    r"|omit|deny|denied)\w*|not\s+a\s+reason\s+to\s+withhold",
    re.IGNORECASE,
)
_FOR = re.compile(
    r"\b(?:recommend\w*|suggest\w*|should|is\s+indicated|are\s+indicated|reasonable|may\s+be\s+considered"
    r"|can\s+be\s+(?:useful|considered|beneficial)|is\s+beneficial|offer|consider|prefer\w*|use)\b"
    r"|推荐|建议|应|可考虑",
    re.IGNORECASE,
)


# Side clauses describe who or when, not what is recommended: "for whom NSAIDs are
# contraindicated", "patients who do not have bleeding risk", "unless ...".
_SIDE_CLAUSE = re.compile(
    r"\b(?:for|in|to)\s+whom\b[^;.]*|\bwho(?:se)?\s+(?:\w+\s+){0,2}(?:not|no|contraindicat\w*)\b[^;.]*"
    r"|\b(?:unless|except|if|when|where|while)\b[^,;.]*",
    re.IGNORECASE,
)


def sentence_direction(sentence: str) -> Direction:
    """'for' / 'against' from the wording of a recommendation, or None when it says neither."""
    cleaned = _SIDE_CLAUSE.sub(" ", _DOUBLE_NEGATIVE.sub(" ", sentence))
    if _AGAINST.search(cleaned):
        return "against"
    if _FOR.search(sentence) or _DOUBLE_NEGATIVE.search(sentence):
        return "for"
    return None


# --------------------------------------------------------------------------------------------
# Candidates
# --------------------------------------------------------------------------------------------


@dataclass
class _Hit:
    start: int
    end: int
    scheme: GradeScheme
    strength: str | None = None
    certainty: str | None = None
    forced_direction: Direction = None  # the grade itself says it (Class III, USPSTF D)
    kind: str = "full"  # "full", "strength" or "certainty": partial hits may merge with a neighbour


_PAREN_OPEN = "([（【［"


def _in_parens(text: str, start: int, end: int) -> bool:
    """True when the match sits inside a parenthetical (possibly with other words)."""
    depth_open = max(text.rfind(c, max(0, start - 80), start) for c in _PAREN_OPEN)
    if depth_open < 0:
        return False
    closers = [text.rfind(c, depth_open, start) for c in ")]）】］"]
    if max(closers) >= 0:
        return False
    line_break = text.rfind("\n", depth_open, start)
    return line_break < 0


def _table_cell_is(text: str, start: int, end: int) -> bool:
    """True when the match fills a markdown table cell on its own (bold markers aside)."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line_end = len(text) if line_end < 0 else line_end
    line = text[line_start:line_end]
    if not line.lstrip().startswith("|"):
        return False
    left = text.rfind("|", line_start, start)
    right = text.find("|", end, line_end)
    if left < 0 or right < 0:
        return False
    outside = (text[left + 1 : start] + text[end:right]).replace("*", "").strip()
    return outside == ""


def _table_column(text: str, pos: int) -> tuple[int, str]:
    """(1-based column, header text) of the markdown table cell at `pos`; (0, "") outside tables."""
    line_start = text.rfind("\n", 0, pos) + 1
    if not text[line_start:pos].lstrip().startswith("|"):
        return 0, ""
    column = text.count("|", line_start, pos)
    start = line_start
    header = text[line_start : text.find("\n", line_start) if "\n" in text[line_start:] else len(text)]
    while start > 0:
        prev_start = text.rfind("\n", 0, start - 1) + 1
        prev = text[prev_start : start - 1]
        if not prev.lstrip().startswith("|"):
            break
        header, start = prev, prev_start
    cells = header.strip().strip("|").split("|")
    return column, cells[column - 1].strip() if 0 < column <= len(cells) else ""


def _line_of(text: str, pos: int) -> str:
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    return text[start : len(text) if end < 0 else end]


# Words that make a "Class"/"Grade"/"Category" something other than a recommendation grade.
_NOT_GRADE_BEFORE = re.compile(
    r"(?:NYHA|Killip|functional|WHO|Mallampati|ASA|Vaughan[- ]Williams|Forrester|Child[- ]Pugh|CCS"
    r"|Fontaine|Rutherford|Forrest|Los\s+Angeles|\bLA|Gleason|Fisher|Hunt|Hess|BI-?RADS|Tanner|obesity"
    r"|antiarrhythmic|Angle|Salter|Garden|Gustilo|Spetzler|Wagner|House|CTCAE|toxicity|FIGO|ISUP"
    r"|fetal|tracing|Hinchey|Clavien|Dindo|Lauren|GOLD|Stage)\s*(?:heart\s+failure\s+)?$",
    re.IGNORECASE,
)
_NOT_GRADE_AFTER = re.compile(
    r"^\s*(?:obesity|heart\s+failure|HF\b|symptoms|angina|antiarrhythmic|drugs?|agents?|malocclusion"
    r"|hypertension|esophagitis|oesophagitis|tumou?r|lesions?|injur|fracture|burns?|toxicity|sprain"
    r"|haemorrhage|hemorrhage|encephalopathy|varices|reflux|disease|patients|fetal|tracings?"
    r"|[-–]\s*(?:I|V|\d)|\s*(?:and|or|to)\s+(?:I|V|\d|[A-D]\b))",
    re.IGNORECASE,
)


def _context_excludes(text: str, start: int, end: int) -> bool:
    before = text[max(0, start - 30) : start]
    after = text[end : end + 30]
    return bool(_NOT_GRADE_BEFORE.search(before.rstrip())) or bool(_NOT_GRADE_AFTER.match(after))


# ---- ACC/AHA and ESC: class of recommendation with optional level of evidence ---------------

_ACC = re.compile(
    r"\b(?P<lead>(?i:class\s+of\s+recommendation)|Class|class(?=\s+(?:I|IIa|IIb|III)\s*[,;]\s*(?i:level|LOE))|COR)\s*:?\s*"
    r"(?P<cls>III|IIa|IIb|IIA|IIB|II|I|Ⅲ|Ⅱa|Ⅱb|Ⅰ|2a|2b|[123])(?![A-Za-z0-9])"
    r"(?:\s*(?::|—|–|-|\(|,)?\s*(?P<sub>No\s+Benefit|Harm)\)?)?"
    r"(?:(?:\s*[,;/]|\s+and|\s*\()?\s*(?P<loelead>(?i:level\s+of\s+evidence)|LOE|(?i:level))\s*:?\s*"
    r"(?P<loe>B-NR|B-R|C-LD|C-EO|A|B|C)(?![A-Za-z0-9]))?"
    r"(?P<rec>\s+recommendations?)?",
)
# ESC's terse form inside parentheses or a table cell: "(IIa B)", "(I, A)".
_ESC_PAIR = re.compile(r"(?<=[(（\[])\s*(?P<cls>III|IIa|IIb|I)\s*[,/]?\s*(?P<loe>[ABC])\s*(?=[)）\]])")


# Guideline PDFs lose their table borders: ACC/AHA rows start "2a B-NR 3. In patients ...", ESC rows
# end "... is recommended. I A". Only the distinctive shapes are read.
_ACC_ROW = re.compile(
    r"^[ \t]*(?P<cls>1|2a|2b|3:\s*(?:No\s+Benefit|Harm)|I|IIa|IIb|III:\s*(?:No\s+Benefit|Harm))[ \t]+"
    r"(?P<loe>B-NR|B-R|C-LD|C-EO|A)(?=[ \t]+(?:\d+\.\s|[A-Z]))",
    re.MULTILINE,
)
_ESC_ROW_END = re.compile(r"(?<=[.)\]%a-z0-9])[ \t]+(?P<cls>IIa|IIb|III|I)[ \t]+(?P<loe>[ABC])[ \t]*$", re.MULTILINE)
_ROW_RECOMMENDING = re.compile(r"\b(?:recommended|should|may\s+be\s+considered|is\s+indicated|reasonable)\b", re.IGNORECASE)


def _text_row_hits(text: str, hint: str | None) -> list[_Hit]:
    hits: list[_Hit] = []
    for m in _ACC_ROW.finditer(text):
        raw = m.group("cls")
        cls = _norm_class(raw.split(":")[0].strip())
        strength = f"{cls}: {'No Benefit' if 'no' in raw.lower() else 'Harm'}" if ":" in raw else cls
        if not ("-" in m.group("loe") or raw[0] in "23" or raw.startswith(("II", "III"))) and not re.match(
            r"[ \t]+\d+\.\s", text[m.end() :]
        ):
            continue  # "1 A Patient ..." is too weak a shape; need a numbered recommendation after it
        hits.append(_Hit(m.start("cls"), m.end("loe"), "acc_aha", strength, m.group("loe"),
                         "against" if cls == "III" else None))
    for m in _ESC_ROW_END.finditer(text):
        line = _line_of(text, m.start())
        if not _ROW_RECOMMENDING.search(line):
            continue
        cls = _norm_class(m.group("cls"))
        hits.append(_Hit(m.start("cls"), m.end("loe"), "acc_aha" if hint == "acc_aha" else "esc", cls, m.group("loe"),
                         "against" if cls == "III" else None))
    return hits


def _acc_hits(text: str, hint: str | None) -> list[_Hit]:
    hits: list[_Hit] = []
    for m in _ACC.finditer(text):
        lead = m.group("lead")
        numeric = m.group("cls")[0].isdigit()
        accepted = bool(
            m.group("loe") or m.group("sub") or lead.upper() == "COR" or lead.lower().startswith("class of")
            or m.group("rec") or _in_parens(text, m.start(), m.end()) or _table_cell_is(text, m.start(), m.end())
        )
        if lead == "Class" and numeric and not (m.group("loe") or m.group("sub")):
            accepted = False  # "Class 2" alone is too ambiguous
        if not accepted or _context_excludes(text, m.start(), m.end()):
            continue
        column, header = _table_column(text, m.start())
        if column == 1 or _NOT_GRADE_BEFORE.search(header) or re.search(r"classification|stage", header, re.IGNORECASE):
            continue  # a row key of a classification table (Killip class I-IV), not a grade
        cls = _norm_class(m.group("cls"))
        sub = m.group("sub")
        strength = f"{cls}: {'No Benefit' if sub.lower().startswith('no') else 'Harm'}" if sub else cls
        loe = m.group("loe")
        end = m.end("loe") if loe else (m.end("sub") if sub else m.end("cls"))
        if m.group("rec"):
            end = m.end("rec")
        if sub and text[end : end + 1] == ")" and "(" in text[m.start() : end]:
            end += 1
        acc_markers = numeric or sub or (loe and "-" in loe) or lead.upper() == "COR"
        if acc_markers:
            scheme: GradeScheme = "acc_aha"
        elif hint == "esc" or ((m.group("loelead") or "").lower() == "level" and hint != "acc_aha"):
            scheme = "esc"
        else:
            scheme = "acc_aha"
        hits.append(_Hit(m.start(), end, scheme, strength, loe,
                         "against" if cls == "III" else None))
    for m in _ESC_PAIR.finditer(text):
        scheme = "acc_aha" if hint == "acc_aha" else "esc"
        cls = _norm_class(m.group("cls"))
        hits.append(_Hit(m.start("cls"), m.end("loe"), scheme, cls, m.group("loe"),
                         "against" if cls == "III" else None))
    return hits


# ---- GRADE wording ----------------------------------------------------------------------------

_STR = r"(?P<str>strong|weak|conditional|discretionary)"
_CERTW = r"(?:very\s+low|high|moderate|low)"
_CERT = rf"(?P<cert>{_CERTW}(?:\s*(?:to|-|–|/)\s*{_CERTW})?)"
_SYMBOLS = r"(?:\s*,?\s*(?:[⨁⊕○◯⊖]{2,6}|\d\s*\|\s*[+O]{2,4}))?"
_GRADE_STRENGTH_FIRST = re.compile(
    rf"\b{_STR}\**(?:\s+recommendations?)?(?:\s+(?P<dir>for|against))?"
    rf"(?:\s*[,;:]\s*|\s+based\s+on\s+(?:a\s+)?|\s*[—–]\s*|\s+-\s+)\**{_CERT}"
    rf"(?:[- ]+(?:certainty|quality))?(?:\s+(?:of|in)\s+(?:the\s+)?evidence(?:\s+(?:of|about)\s+effects)?|\s+evidence)?"
    rf"{_SYMBOLS}",
    re.IGNORECASE,
)
_GRADE_CERTAINTY_FIRST = re.compile(
    rf"\b{_CERT}[- ]+(?:certainty|quality)(?:\s+(?:of\s+)?evidence)?\s*[,;]\s*{_STR}\s+recommendation"
    rf"(?:\s+(?P<dir>for|against))?",
    re.IGNORECASE,
)
_GRADE_STRENGTH_ONLY = re.compile(rf"\b{_STR}\s+recommendations?(?:\s+(?P<dir>for|against))?\b", re.IGNORECASE)
_GRADE_BARE_PAREN = re.compile(rf"(?<=[(（])\s*\**{_STR}\**\s*(?=[)）])", re.IGNORECASE)
_GRADE_CERTAINTY_ONLY = re.compile(
    rf"\b{_CERT}[- ]+(?:certainty|quality)(?:\s+(?:of\s+)?evidence)?{_SYMBOLS}", re.IGNORECASE
)
_GRADE_ADVERB = re.compile(
    r"\b(?P<str>strongly|conditionally|weakly)\s+(?:recommend(?:s|ed)?|suggest(?:s|ed)?)(?:\s+(?P<dir>against))?\b",
    re.IGNORECASE,
)


_KEY_STRENGTH = re.compile(
    r"\b(?:Strength\s+of\s+(?:the\s+)?recommendation|Recommendation\s+(?:strength|grade))\s*[:=]?\s*"
    r"(?P<v>strong|weak|conditional|[A-D]\b|[12]\b)",
    re.IGNORECASE,
)
_KEY_CERTAINTY = re.compile(
    rf"\b(?:Quality|Certainty|Level|Strength)\s+of\s+(?:the\s+)?evidence\s*[:=]\s*(?P<v>{_CERTW}|[A-D]\b|I{{1,3}}\b|[1-4][+-]{{0,2}})",
    re.IGNORECASE,
)
# IDSA / DHHS: strength letter A-E with quality I-III, "(A-II)", "(BIII)".
_IDSA = re.compile(r"(?<=[(\[])\s*(?P<s>[A-E])-?(?P<q>III|II|I)\s*(?=[)\]])")


def _key_value_hits(text: str) -> list[_Hit]:
    hits: list[_Hit] = []
    for m in _KEY_STRENGTH.finditer(text):
        v = m.group("v")
        strength = _norm_strength_word(v) if v.isalpha() and len(v) > 1 else _GRADE_DIGIT_STRENGTH.get(v, v.upper())
        hits.append(_Hit(m.start(), m.end(), "grade" if v.lower() in ("strong", "weak", "conditional") or v in "12" else "other",
                         strength, None, kind="strength"))
    for m in _KEY_CERTAINTY.finditer(text):
        v = m.group("v")
        certainty = _norm_certainty_words(v) if len(v) > 2 and v[0].isalpha() and v.lower() not in ("ii", "iii") else v
        hits.append(_Hit(m.start(), m.end(), "grade" if v[0].isalpha() and len(v) > 2 else "other", None, certainty,
                         kind="certainty"))
    for m in _IDSA.finditer(text):
        hits.append(_Hit(m.start("s"), m.end("q"), "other", m.group("s"), m.group("q"),
                         "against" if m.group("s") in "DE" else None))
    return hits


def _grade_word_hits(text: str) -> list[_Hit]:
    hits: list[_Hit] = []
    for rx in (_GRADE_STRENGTH_FIRST, _GRADE_CERTAINTY_FIRST):
        for m in rx.finditer(text):
            direction = "against" if (m.group("dir") or "").lower() == "against" else None
            hits.append(_Hit(m.start(), m.end(), "grade", _norm_strength_word(m.group("str")),
                             _norm_certainty_words(m.group("cert")), direction))
    for m in _GRADE_STRENGTH_ONLY.finditer(text):
        direction = "against" if (m.group("dir") or "").lower() == "against" else None
        hits.append(_Hit(m.start(), m.end(), "grade", _norm_strength_word(m.group("str")), None,
                         direction, kind="strength"))
    for m in _GRADE_ADVERB.finditer(text):
        direction = "against" if m.group("dir") else None
        strength = "strong" if m.group("str").lower() == "strongly" else "conditional"
        hits.append(_Hit(m.start(), m.end(), "grade", strength, None, direction, kind="strength"))
    for m in _GRADE_BARE_PAREN.finditer(text):
        if m.group("str").lower() == "conditional" or RECOMMENDING.search(_sentence_text(text, m.start(), m.end())) or _table_cell_is(
            text, m.start(), m.end()
        ):
            hits.append(_Hit(m.start("str"), m.end("str"), "grade", _norm_strength_word(m.group("str")),
                             None, None, kind="strength"))
    for m in _GRADE_CERTAINTY_ONLY.finditer(text):
        if _in_parens(text, m.start(), m.end()) or _table_cell_is(text, m.start(), m.end()):
            hits.append(_Hit(m.start(), m.end(), "grade", None, _norm_certainty_words(m.group("cert")),
                             None, kind="certainty"))
    return hits


# ---- GRADE numeric (KDIGO, ACCP, Surviving Sepsis, Chinese "（1A）") ---------------------------

_GRADE_NUMERIC = re.compile(
    r"\b(?:Grade|GRADE)\s*:?\s*(?P<n>[12])(?P<q>[A-D])\b(?:\s*/\s*(?P<n2>[12])?(?P<q2>[A-D])\b)?"
)
_GRADE_NUMERIC_PAREN = re.compile(
    r"(?P<open>[(（\[])\s*(?P<n>[12])(?P<q>[A-D])(?:\s*/\s*(?P<n2>[12])?(?P<q2>[A-D]))?"
    r"(?=\s*(?:[)）\];；,，]|--|—|–))"
)
_NOT_GRADED = re.compile(
    r"\b(?:Not\s+Graded|Ungraded(?:\s+Good\s+Practice\s+Statement)?|(?:Good|Best)\s+Practice\s+Statement"
    r"|Best\s+practice(?=\s*(?:\||\)|$)))",
    re.IGNORECASE | re.MULTILINE,
)


def _numeric_hit(m: re.Match[str], start: int, scheme: GradeScheme) -> _Hit:
    strengths = [_GRADE_DIGIT_STRENGTH[m.group("n")]]
    certainties = [_GRADE_LETTER_CERTAINTY[m.group("q")]]
    if m.group("q2"):
        strengths.append(_GRADE_DIGIT_STRENGTH[m.group("n2") or m.group("n")])
        certainties.append(_GRADE_LETTER_CERTAINTY[m.group("q2")])
    strength = "/".join(dict.fromkeys(strengths))
    certainty = "/".join(dict.fromkeys(certainties))
    return _Hit(start, m.end(), scheme, strength, certainty)


def _grade_numeric_hits(text: str, hint: str | None) -> list[_Hit]:
    hits = [_numeric_hit(m, m.start(), "chinese" if hint == "chinese" else "grade")
            for m in _GRADE_NUMERIC.finditer(text)]
    for m in _GRADE_NUMERIC_PAREN.finditer(text):
        before = text[max(0, m.start() - 12) : m.start()]
        if re.search(r"(?:Fig(?:ure)?|Table|Panel|Supplement\w*|Appendix)\.?\s*$", before, re.IGNORECASE):
            continue
        chinese = m.group("open") == "（" or hint == "chinese" or has_cjk(before.rstrip()[-1:])
        hits.append(_numeric_hit(m, m.start("n"), "chinese" if chinese else "grade"))
    for m in _NOT_GRADED.finditer(text):
        raw = m.group(0).lower()
        strength = "good practice statement" if ("practice" in raw) else "not graded"
        hits.append(_Hit(m.start(), m.end(), "grade", strength, None))
    return hits


# ---- Letter grades: USPSTF A/B/C/D/I, ADA A/B/C/E, and unnamed letter grades ------------------

_LETTER_GRADE = re.compile(
    r"\bGrade\s*:?\s*(?P<g>[A-E])(?:\s*/\s*(?P<g2>[A-E]))?(?![A-Za-z0-9\-–])(?P<rec>\s+recommendations?)?"
)
_GRADE_I = re.compile(r"\bGrade\s*:?\s*I(?P<rec>\s+(?:statement|recommendation))\b")
_LETTER_RECOMMENDATION = re.compile(
    r"(?:\b(?:an?|the)\s+|(?<=[(（]))[\"“']?(?P<g>[ABCD])[\"”']?\s+(?P<rec>recommendation)\b"
)
_I_STATEMENT = re.compile(r"\bI\s+statement\b")
_USPSTF_DIRECTION = {"A": "for", "B": "for", "C": "for", "D": "against", "I": "neutral"}


def _letter_hits(text: str, hint: str | None) -> list[_Hit]:
    hits: list[_Hit] = []
    for m in _LETTER_GRADE.finditer(text):
        if _context_excludes(text, m.start(), m.end()):
            continue
        g = m.group("g") + (f"/{m.group('g2')}" if m.group("g2") else "")
        sentence = _sentence_text(text, m.start(), m.end())
        if m.group("g") == "E" or hint == "ada":
            hits.append(_Hit(m.start(), m.end(), "other", None, g))
        elif hint == "uspstf" or m.group("rec") or re.search(r"USPSTF|Preventive\s+Services\s+Task", sentence):
            hits.append(_Hit(m.start(), m.end(), "uspstf", g, None, _USPSTF_DIRECTION.get(m.group("g"))))
        else:
            hits.append(_Hit(m.start(), m.end(), "other", g, None))
    for rx in (_GRADE_I, _I_STATEMENT):
        for m in rx.finditer(text):
            hits.append(_Hit(m.start(), m.end(), "uspstf", "I", "insufficient", "neutral"))
    for m in _LETTER_RECOMMENDATION.finditer(text):
        start = m.start("g") - (1 if text[m.start("g") - 1 : m.start("g")] in "\"“'" else 0)
        hits.append(_Hit(start, m.end(), "uspstf", m.group("g"), None, _USPSTF_DIRECTION[m.group("g")]))
    return hits


# ---- Bare levels of evidence: "(Level IIB)" (Brain Trauma Foundation), "(Evidence A)" (GINA) ---

_LEVEL_ONLY = re.compile(
    r"(?<=[(（\[])\s*(?P<lead>Level\s+of\s+Evidence|LOE|Evidence\s+level|Evidence|Level)\s*:?\s*"
    r"(?P<lvl>B-NR|B-R|C-LD|C-EO|III|IIA|IIB|IIa|IIb|II|IV|I|[1-5][a-c]?|[A-D])(?![A-Za-z0-9\-])"
)
_LEVEL_RECOMMENDATION = re.compile(r"\bLevel\s+(?P<lvl>III|IIA|IIB|II|I)\s+recommendations?\b")


def _level_hits(text: str) -> list[_Hit]:
    hits = []
    for m in _LEVEL_ONLY.finditer(text):
        lvl = m.group("lvl")
        scheme: GradeScheme = "acc_aha" if "-" in lvl else "other"
        lead = m.group("lead").lower()
        if lead == "level" and lvl[0] in "IV":
            hits.append(_Hit(m.start("lead"), m.end(), "other", lvl, None))  # a level of recommendation
        else:
            hits.append(_Hit(m.start("lead"), m.end(), scheme, None, lvl, kind="certainty"))
    for m in _LEVEL_RECOMMENDATION.finditer(text):
        hits.append(_Hit(m.start(), m.end(), "other", m.group("lvl"), None))
    return hits


# ---- CDC / HICPAC / ACIP -------------------------------------------------------------------------

_HICPAC = re.compile(r"\bCategory\s+(?P<c>I[ABC]|II)\b(?![-–])")
_ACIP = re.compile(
    r"\b(?:(?:ACIP\s+)?(?:recommendation\s+)?Category\s+(?P<c>[AB])\b(?P<rec>\s+recommendations?)?)"
    r"(?:\s*[,;(]?\s*Evidence\s+type\s+(?P<t>[1-4]))?"
)
_EVIDENCE_TYPE = re.compile(r"(?<=[(（\[])\s*Evidence\s+type\s+(?P<t>[1-4])\b")


def _cdc_hits(text: str) -> list[_Hit]:
    hits = []
    for m in _HICPAC.finditer(text):
        if _context_excludes(text, m.start(), m.end()):
            continue
        line_rest = text[m.end() : text.find("\n", m.end()) if "\n" in text[m.end() :] else len(text)]
        sentence = _sentence_text(text, m.start(), m.end())
        ends_clause = re.match(r"^\s*[.)\]）]?\s*$", line_rest) is not None or line_rest.lstrip().startswith((".", ")"))
        if m.group("c") != "II" or _in_parens(text, m.start(), m.end()) or ends_clause or re.search(
            r"HICPAC|CDC|recommend", sentence, re.IGNORECASE
        ):
            hits.append(_Hit(m.start(), m.end(), "cdc", m.group("c"), None))
    for m in _ACIP.finditer(text):
        sentence = _sentence_text(text, m.start(), m.end())
        if m.group("rec") or m.group("t") or re.search(r"\bACIP\b", sentence) or (
            _in_parens(text, m.start(), m.end()) and re.search(r"recommend", sentence, re.IGNORECASE)
        ):
            hits.append(_Hit(m.start(), m.end(), "cdc", m.group("c"), m.group("t")))
    for m in _EVIDENCE_TYPE.finditer(text):
        hits.append(_Hit(m.start("t") - len("Evidence type "), m.end(), "cdc", None, m.group("t"),
                         kind="certainty"))
    return hits


# ---- Chinese guideline forms ----------------------------------------------------------------------

_ZH_CLASS = r"(?:IIa|IIb|III|II|I|Ⅱa|Ⅱb|Ⅲ|Ⅱ|Ⅰ|[12]|[A-D])"
_ZH_LEVEL = r"(?:极低|高|中等|中|低|[A-D]|[1-5][a-c]?|IV|III|II|I|Ⅳ|Ⅲ|Ⅱ|Ⅰ)"
_ZH_INLINE_STRENGTH = re.compile(rf"(?P<v>{_ZH_CLASS})\s*[级类]\s*推荐|(?P<w>强|弱|有条件)(?:烈)?推荐")
_ZH_INLINE_EVIDENCE = re.compile(rf"(?P<v>{_ZH_LEVEL})\s*级\s*证据|(?P<w>极低|高|中等|中|低)质量证据")
_ZH_KEY_STRENGTH = re.compile(
    rf"(?:推荐强度|推荐等级|推荐级别|推荐类别|推荐分级|推荐意见强度)\s*[:：为是]?\s*(?P<v>强|弱|有条件|{_ZH_CLASS})(?:\s*级)?"
)
_ZH_KEY_EVIDENCE = re.compile(
    rf"(?:证据等级|证据级别|证据质量|证据水平|证据强度|证据分级)\s*[:：为是]?\s*(?P<v>{_ZH_LEVEL})(?:\s*级)?"
)


# "（Ⅰ类，C级）", "（Ⅰ，A）", "（IIa，B）": class and level of evidence in Chinese parentheses.
_ZH_PAIR = re.compile(
    r"(?<=[（(])\s*(?P<cls>IIa|IIb|III|II|I|Ⅱa|Ⅱb|Ⅲ|Ⅱ|Ⅰ)\s*类?(?:推荐)?\s*[，,、/]\s*(?P<loe>[A-C])\s*级?(?:证据)?\s*(?=[）)])"
)
# "（A1）", "（B2）": evidence letter then strength digit, as Chinese hepatology guidelines print them.
_ZH_LETTER_DIGIT = re.compile(r"(?<=[（(])\s*(?P<q>[A-D])(?P<n>[12])\s*(?=[）)])")
# "……二甲双胍（A）", "……控制目标为<7%（A）": a bare evidence letter closing a Chinese sentence
# (after a word, a closing parenthesis, or a value with its unit: "%", "％", "mmHg").
_ZH_BARE_LEVEL = re.compile(rf"(?<=[{HAN}）)\w%％])（(?P<l>[A-D])）")


def _zh_strength(v: str) -> str:
    if v in _ZH_STRENGTH:
        return _ZH_STRENGTH[v]
    if v in _GRADE_DIGIT_STRENGTH:
        return _GRADE_DIGIT_STRENGTH[v]
    return _norm_class(v) if v[0] in "IⅠⅡⅢ" else v


def _zh_certainty(v: str) -> str:
    return _ZH_CERTAINTY.get(v, v.translate(_ROMAN))


def _chinese_hits(text: str) -> list[_Hit]:
    hits = []
    for rx in (_ZH_INLINE_STRENGTH, _ZH_KEY_STRENGTH):
        for m in rx.finditer(text):
            v = m.groupdict().get("v") or m.group("w")
            strength = _zh_strength(v)
            hits.append(_Hit(m.start(), m.end(), "chinese", strength, None,
                             "against" if strength == "III" else None, kind="strength"))
    for m in _ZH_PAIR.finditer(text):
        cls = _zh_strength(m.group("cls"))
        end = m.start("cls") + len(m.group(0).rstrip()) - (m.start("cls") - m.start())
        hits.append(_Hit(m.start("cls"), end,
                         "chinese", cls, m.group("loe"), "against" if cls == "III" else None))
    for m in _ZH_LETTER_DIGIT.finditer(text):
        if has_cjk(text[max(0, m.start() - 30) : m.start()]):
            hits.append(_Hit(m.start("q"), m.end("n"), "chinese", _GRADE_DIGIT_STRENGTH[m.group("n")],
                             _GRADE_LETTER_CERTAINTY[m.group("q")]))
    for m in _ZH_BARE_LEVEL.finditer(text):
        hits.append(_Hit(m.start("l"), m.end("l"), "chinese", None, m.group("l"), kind="certainty"))
    for rx in (_ZH_INLINE_EVIDENCE, _ZH_KEY_EVIDENCE):
        for m in rx.finditer(text):
            v = m.groupdict().get("v") or m.group("w")
            hits.append(_Hit(m.start(), m.end(), "chinese", None, _zh_certainty(v), kind="certainty"))
    return hits


# ---- NICE wording -------------------------------------------------------------------------------

_NICE_VERB = re.compile(
    r"^(?P<verb>Do\s+not\s+(?:routinely\s+)?(?:offer|use|give|prescribe|perform|start)|Offer|Consider|Give"
    r"|Use|Refer|Advise|Measure|Arrange|Ensure|Start|Stop|Prescribe|Perform|Treat)\b",
    re.IGNORECASE,
)
_NICE_REFERENCE = re.compile(r"\b(?:NICE|Recommendations?\s+\d+\.\d+\.\d+)")
_NICE_NUMBERED = re.compile(r"^\s*\d+\.\d+\.\d+\s+\S")  # NICE numbers every recommendation "1.4.3"
_LABEL_PREFIX = re.compile(r"^[^:]{1,80}:\s*")


def _nice_hits(text: str, hint: str | None) -> list[_Hit]:
    hits = []
    for start, end in _sentence_spans(text):
        sentence = text[start:end]
        if hint != "nice" and not _NICE_REFERENCE.search(sentence) and not _NICE_NUMBERED.match(sentence):
            continue
        offset = start
        body = sentence
        stripped = re.match(r"^[\s>*#\-•\d.)]*\**", body)
        offset += stripped.end()
        body = body[stripped.end() :]
        m = _NICE_VERB.match(body)
        if m is None:
            label = _LABEL_PREFIX.match(body.replace("**", "  "))
            if label:
                rest = body[label.end() :]
                lead = re.match(r"^\**", rest)
                m = _NICE_VERB.match(rest[lead.end() :])
                offset += label.end() + lead.end()
        if m is None:
            continue
        verb = m.group("verb")
        low = verb.lower()
        if low.startswith("do not") or low == "stop":
            strength, direction = "strong", "against"
        elif low == "consider":
            strength, direction = "conditional", "for"
        else:
            strength, direction = "strong", "for"
        hits.append(_Hit(offset + m.start("verb"), offset + m.end("verb"), "nice", strength, None, direction))
    return hits


# --------------------------------------------------------------------------------------------
# Sentences
# --------------------------------------------------------------------------------------------

def _sentence_spans(text: str) -> list[tuple[int, int]]:
    """A grade belongs to its own clause (";" ends one) and line (a list item or row is one)."""
    return sentence_spans(text, semicolons="all", line_breaks=True)


_WINDOW = 600  # a sentence is looked for this far around its grade: long lines cost no more


def _sentence_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    line_start = max(text.rfind("\n", 0, start) + 1, start - _WINDOW)
    line_end = text.find("\n", end)
    line_end = min(len(text) if line_end < 0 else line_end, end + _WINDOW)
    spans = [(s + line_start, e + line_start) for s, e in _sentence_spans(text[line_start:line_end])]
    last = next((e for s, e in spans if s < end <= e), line_end)
    s = max((s for s, _ in spans if s <= start), default=line_start)
    if not text[s:start].strip(" *-•#>(（[\t").strip():
        # The grade leads its sentence ("Class I, LOE A: aspirin is ..."): take what follows.
        nxt = [e for s2, e in spans if e > end]
        last = nxt[0] if nxt else line_end
        if not text[end:last].strip(" *.)）]:;\t"):
            # The grade stands alone after its recommendation ("... hands. Category IB").
            prev = [s2 for s2, e in spans if e <= s]
            if prev:
                s = prev[-1]
            elif line_start > 0:
                prev_start = text.rfind("\n", 0, line_start - 1) + 1
                if text[prev_start : line_start - 1].strip():
                    s = prev_start
    return s, max(last, end)


def _tidy(sentence: str) -> str:
    sentence = re.sub(r"\*\*|__|`", "", sentence)
    sentence = re.sub(r"^[\s>#\-*•]+", "", sentence)
    return re.sub(r"\s+", " ", sentence).strip()


def _sentence_text(text: str, start: int, end: int) -> str:
    s, e = _sentence_bounds(text, start, end)
    return text[s:e]


def _recommendation(text: str, start: int, end: int) -> str:
    """The recommendation a grade belongs to: its sentence, or its table row's other cells."""
    line_start = text.rfind("\n", 0, start) + 1
    line = _line_of(text, start)
    if line.lstrip().startswith("|"):
        bars = [line_start + k for k, ch in enumerate(line) if ch == "|"]
        cells = [(a + 1, b) for a, b in zip(bars, bars[1:])]
        inside = [(a, b) for a, b in cells if a < end and b > start]
        outside = [_tidy(text[a:b]) for a, b in cells if (a, b) not in inside]
        outside = [c for c in outside if c]
        residual = _tidy("".join(text[a : max(a, min(b, start))] + text[max(a, end) : b] for a, b in inside))
        if len(residual) <= 3:
            return " — ".join(outside)  # the grade fills its cells: the row is the recommendation
        label = outside[0] if outside and cells and (cells[0] not in inside) else ""
        body = _tidy(" ".join(text[a:b] for a, b in inside))
        return f"{label} — {body}" if label else body
    s, e = _sentence_bounds(text, start, end)
    sentence = text[s:e]
    if line.lstrip().startswith("#") or sentence.rstrip().endswith(":"):
        sentence += " " + _following_items(text, e)
    return _tidy(sentence)


def _core_sentence(text: str, start: int, end: int) -> str:
    """The grade's own sentence (or table row), without the list items a lead-in introduces."""
    if _line_of(text, start).lstrip().startswith("|"):
        return _recommendation(text, start, end)
    s, e = _sentence_bounds(text, start, end)
    return _tidy(text[s:e])


def _following_items(text: str, pos: int, limit: int = 400) -> str:
    """The list lines under a heading or a lead-in sentence that ends with a colon."""
    items = []
    for line in text[pos:].split("\n")[1:]:
        stripped = line.strip()
        if not stripped and items:
            break
        if not stripped:
            continue
        if stripped.startswith("#") or stripped.startswith("|"):
            break
        items.append(stripped)
        if sum(len(i) for i in items) > limit:
            break
    return "; ".join(_tidy(i) for i in items)[:limit]


# --------------------------------------------------------------------------------------------
# Tables: a grade column ("LOE", "Grade", "Strength", "Evidence level") beside a recommendation
# --------------------------------------------------------------------------------------------

_GRADE_HEADER = re.compile(
    r"^(?:COR|LOE|COR\s*/\s*LOE|Class|Grade|Strength|Evidence(?:\s+(?:level|certainty|quality))?"
    r"|Level\s+of\s+evidence|Certainty|Quality\s+of\s+evidence|Recommendation\s+(?:strength|grade)"
    r"|推荐等级|推荐强度|推荐级别|证据等级|证据级别|证据质量)$",
    re.IGNORECASE,
)
_CELL_LETTER = re.compile(r"^(?P<v>B-NR|B-R|C-LD|C-EO|[A-E]|III|IIA|IIB|IIa|IIb|II|I|Level\s+(?:III|IIA|IIB|II|I))$")


_CELL_PAIR = re.compile(
    r"(?<![A-Za-z])(?P<cls>III|IIa|IIb|I|2a|2b|[123])\s*/\s*(?P<loe>B-NR|B-R|C-LD|C-EO|A|B|C)(?![A-Za-z0-9])"
)


def _table_hits(text: str, hint: str | None, taken: list[_Hit]) -> list[_Hit]:
    hits: list[_Hit] = []
    lines = text.split("\n")
    offsets = []
    pos = 0
    for line in lines:
        offsets.append(pos)
        pos += len(line) + 1
    i = 0
    while i < len(lines) - 1:
        header = lines[i].strip()
        sep = lines[i + 1].strip()
        if not (header.startswith("|") and re.match(r"^\|?\s*:?-{2,}", sep)):
            i += 1
            continue
        names = [c.strip().strip("*") for c in header.strip("|").split("|")]
        grade_cols = {j: n for j, n in enumerate(names) if j > 0 and _GRADE_HEADER.match(n)}
        j = i + 2
        while j < len(lines) and lines[j].lstrip().startswith("|"):
            if grade_cols:
                hits.extend(_row_hits(text, offsets[j], lines[j], grade_cols, hint, taken))
            j += 1
        i = j
    return hits


def _row_hits(text: str, line_offset: int, line: str, grade_cols: dict[int, str], hint: str | None,
              taken: list[_Hit]) -> list[_Hit]:
    hits = []
    bars = [k for k, ch in enumerate(line) if ch == "|"]
    for col, name in grade_cols.items():
        if col + 1 >= len(bars):
            continue
        a, b = line_offset + bars[col] + 1, line_offset + bars[col + 1]
        if any(h.start < b and h.end > a for h in taken):
            continue  # the inline patterns already read this cell
        raw = text[a:b]
        value = raw.replace("*", "").strip()
        start = a + (len(raw) - len(raw.lstrip()))
        end = start + len(raw.strip())
        header = name.lower()
        pairs = list(_CELL_PAIR.finditer(raw))
        if pairs and "cor" in header:
            for p in pairs:
                cls = _norm_class(p.group("cls"))
                hits.append(_Hit(a + p.start(), a + p.end(), "acc_aha", cls, p.group("loe"),
                                 "against" if cls == "III" else None))
            continue
        m = _CELL_LETTER.match(value)
        if m is None:
            words = re.fullmatch(rf"(?:{_CERT})(?:\s+(?:certainty|quality))?", value, re.IGNORECASE)
            if words and re.search(r"evidence|certainty|quality|证据", header):
                hits.append(_Hit(start, end, "grade", None, _norm_certainty_words(words.group("cert")),
                                 kind="certainty"))
            continue
        v = m.group("v")
        if "-" in v:
            hits.append(_Hit(start, end, "acc_aha", None, v, kind="certainty"))
        elif header in ("cor", "class"):
            cls = _norm_class(v)
            hits.append(_Hit(start, end, "esc" if hint == "esc" else "acc_aha", cls, None,
                             "against" if cls == "III" else None, kind="strength"))
        elif v.lower().startswith("level") or header in ("loe", "level of evidence") or "evidence" in header:
            hits.append(_Hit(start, end, "other", None, v, kind="certainty"))
        elif header == "grade" and v in "ABCDE":
            if hint == "uspstf":
                hits.append(_Hit(start, end, "uspstf", v, None, _USPSTF_DIRECTION.get(v)))
            else:
                hits.append(_Hit(start, end, "other", None if hint == "ada" else v,
                                 v if hint == "ada" or v == "E" else None))
    return hits


# --------------------------------------------------------------------------------------------
# Resolution
# --------------------------------------------------------------------------------------------


def _can_merge(a: _Hit, b: _Hit) -> bool:
    complementary = (a.strength and not a.certainty and b.certainty and not b.strength) or (
        a.certainty and not a.strength and b.strength and not b.certainty
    )
    return bool(complementary) and (a.scheme == b.scheme or "other" in (a.scheme, b.scheme))


def _gap_ok(text: str, a: _Hit, b: _Hit) -> bool:
    return re.fullmatch(r"[\s,，;；、/|*]*", text[a.end : b.start]) is not None


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------

_NO_DIRECTION_STRENGTHS = ("not graded", "good practice statement")
SCHEME_HINTS = ("acc_aha", "esc", "uspstf", "nice", "ada", "chinese", "cdc", "grade")


def scheme_hint_for(organization: str | None, title: str | None = None) -> str | None:
    """Which grading system a publisher uses, when its name says so (helps ambiguous forms)."""
    words = f"{organization or ''} {title or ''}"
    checks = [
        (r"\bESC\b|European\s+Society\s+of\s+Cardiology", "esc"),
        (r"\bACC\b|\bAHA\b|American\s+Heart|American\s+College\s+of\s+Cardiology", "acc_aha"),
        (r"USPSTF|Preventive\s+Services\s+Task\s+Force", "uspstf"),
        (r"\bNICE\b|National\s+Institute\s+for\s+Health\s+and\s+Care\s+Excellence", "nice"),
        (r"\bADA\b|American\s+Diabetes\s+Association|Standards\s+of\s+Care\s+in\s+Diabetes", "ada"),
        (r"HICPAC|ACIP|\bCDC\b", "cdc"),
        (f"[{HAN}]", "chinese"),
    ]
    for pattern, hint in checks:
        if re.search(pattern, words):
            return hint
    return None


def extract_stated_grades(text: str, page: int | None = None, *, scheme_hint: str | None = None
                          ) -> list[StatedGrade]:
    """Every recommendation grade printed in `text`, in reading order.

    `scheme_hint` (see `scheme_hint_for`) settles forms that several systems share, e.g. ESC vs
    ACC/AHA "Class I, Level A", ADA evidence grades vs USPSTF grades, NICE's plain wording.
    """
    if not text or not text.strip():
        return []
    hits: list[_Hit] = []
    hits += _acc_hits(text, scheme_hint)
    hits += _text_row_hits(text, scheme_hint)
    hits += _key_value_hits(text)
    hits += _grade_word_hits(text)
    hits += _grade_numeric_hits(text, scheme_hint)
    hits += _letter_hits(text, scheme_hint)
    hits += _level_hits(text)
    hits += _cdc_hits(text)
    hits += _chinese_hits(text)
    hits += _nice_hits(text, scheme_hint)
    resolved = _resolve_with_gaps(text, hits)
    resolved = _resolve_with_gaps(text, resolved + _table_hits(text, scheme_hint, resolved))
    grades = []
    for h in resolved:
        quote = text[h.start : h.end].strip()
        recommendation = _recommendation(text, h.start, h.end)
        direction = h.forced_direction or sentence_direction(_core_sentence(text, h.start, h.end))
        if direction is None and h.strength is not None and h.strength not in _NO_DIRECTION_STRENGTHS:
            direction = "for"  # a graded recommendation that words no refusal recommends the action
        grades.append(StatedGrade(scheme=h.scheme, quote=quote, strength=h.strength, certainty=h.certainty,
                                  direction=direction, recommendation=recommendation, page=page))
    return grades


def _resolve_with_gaps(text: str, hits: list[_Hit]) -> list[_Hit]:
    """Longest non-overlapping hits; then a strength-only and a certainty-only hit side by side
    ("I级推荐，A级证据") become one grade."""
    hits.sort(key=lambda h: (-(h.end - h.start), h.start))
    starts: list[int] = []  # chosen spans, kept sorted by start; they never overlap
    ends: list[int] = []
    chosen: list[_Hit] = []
    for h in hits:
        i = bisect_left(starts, h.start)
        if (i > 0 and ends[i - 1] > h.start) or (i < len(starts) and starts[i] < h.end):
            continue
        starts.insert(i, h.start)
        ends.insert(i, h.end)
        chosen.append(h)
    chosen.sort(key=lambda h: h.start)
    merged: list[_Hit] = []
    for h in chosen:
        prev = merged[-1] if merged else None
        if prev is not None and _can_merge(prev, h) and _gap_ok(text, prev, h):
            prev.end = h.end
            prev.strength = prev.strength or h.strength
            prev.certainty = prev.certainty or h.certainty
            prev.forced_direction = prev.forced_direction or h.forced_direction
            if prev.scheme == "other":
                prev.scheme = h.scheme
            prev.kind = "full"
            continue
        merged.append(h)
    return merged
