"""Opposite recommendations about the same intervention in different documents.

Conservative on purpose: a conflict is flagged only when two documents each make an explicit
recommendation (a stated grade with a direction, or a sentence that plainly recommends for or
against) about the same intervention phrase, in opposite directions. Qualifiers that change
what is recommended ("routine", "as monotherapy", "prophylactic") must agree, or there is no
conflict; differing populations are flagged but named in the note, so the reader can judge.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from evidence.schema import Conflict, Evidence
from evidence.stated_grades import sentence_direction
from indexing.text import CONTENT_STOP_WORDS, has_cjk, split_sentences

_EXPLICIT = re.compile(
    r"\b(?:recommend\w*|suggest\w*|should|is\s+indicated|are\s+indicated|not\s+indicated|do\s+not|avoid\w*"
    r"|offer|contraindicated)\b|推荐|建议|不应|避免|禁用",
    re.IGNORECASE,
)
_INTERVENTION_PATTERNS = [
    # "X is (not) recommended / should (not) be used": the subject is the intervention.
    re.compile(r"(?P<x>[^.;:()]{3,80}?)\s+(?:is|are|should|must|may|can)\s+(?:not\s+)?(?:be\s+)?(?:routinely\s+)?"
               r"(?:recommended|indicated|used|given|administered|offered|considered|avoided|started|initiated|prescribed|contraindicated)\b",
               re.IGNORECASE),
    # "We recommend (against) [the use of] X in/for ..."
    re.compile(r"\b(?:recommends?|suggests?|recommended|suggested)\s+(?:against\s+|not\s+)?(?:that\s+)?(?:using\s+|the\s+use\s+of\s+|use\s+of\s+)?"
               r"(?P<x>[^.;:()]{3,80})", re.IGNORECASE),
    # "Do not offer / avoid / offer / consider X"
    re.compile(r"\b(?:do\s+not\s+(?:routinely\s+)?(?:offer|use|give|prescribe|start)|avoid|offer|consider|use|give|start|initiate)\s+"
               r"(?P<x>[^.;:()]{3,80})", re.IGNORECASE),
]
_ZH_INTERVENTION = re.compile(r"(?:不推荐|不建议|推荐|建议|避免|禁用)(?:常规)?(?:使用|应用|采用|给予|选用|进行)?(?P<x>[^，。；、,.;:：（(]{2,16})")
_CUT = re.compile(
    r"(?:^|\s)(?:in|for|to|with|among|when|if|unless|during|before|after|over|rather|as|because|due|at|by|within|on|from|versus|vs)\s.*$"
    r"|\s*[,(].*$",
    re.IGNORECASE,
)
_ZH_CUT = re.compile(r"(?:用于|治疗|作为|进行|预防|的患者|患者|时|以|于).*$")
# Words that name no intervention: function words, and the clinical filler around one.
_STOP = CONTENT_STOP_WORDS | {
    "no", "use", "using", "used", "therapy", "treatment", "treatments", "management", "patients", "patient",
    "adults", "people", "person", "individuals", "recommended", "recommend", "suggest", "strongly",
    "conditionally", "reasonable", "considered", "consider", "initial", "standard", "usual", "care",
    "clinicians", "clinician", "routinely", "prescribe", "give", "offer", "start", "first", "panel",
    "guideline", "prior", "including", "include", "starting", "stopping", "continuing", "alternative",
    "alternatives", "option", "options", "approach", "strategy", "benefit", "regimen", "agent", "agents",
    "drug", "drugs", "medication", "medications", "dose", "doses", "dosing", "level", "levels", "score",
    "scores", "risk", "test", "testing", "procedure", "procedures", "intervention", "interventions", "measure",
    "measures", "assessment", "evaluation", "placement", "fluid", "fluids", "surgery", "time", "timing", "day",
    "days", "hour", "hours", "week", "weeks", "month", "months", "year", "years", "less", "every", "one", "two",
    "three", "new", "based", "following", "titrate", "initiate", "initiating", "discontinue", "continue",
    "change", "add", "adding", "switch", "switching", "stop", "reduce", "increase", "maintain", "early", "late",
    "oral", "intravenous", "medical", "surgical", "pharmacological", "pharmacologic", "systemic", "topical",
    "additional", "supplemental", "full", "maximal", "lowest", "possible", "higher", "lower", "high", "low",
    "specific", "current", "appropriate",
}
# Ungraded sentences count only when the recommending words govern the sentence, not a side
# clause ("... in patients who do not have ..."): stricter than the grade-direction wording.
_STRICT_AGAINST = re.compile(
    r"\b(?:is|are)\s+not\s+(?:routinely\s+)?(?:recommended|indicated|advised)|\brecommends?\s+against|\bsuggests?\s+against"
    r"|\bshould\s+not\s+be\s+(?:routinely\s+)?(?:used|given|administered|offered|started|initiated|prescribed|performed)"
    r"|^(?:do\s+not|don't|avoid)\b|\bnot\s+be\s+used\b|\b(?:is|are)\s+contraindicated"
    r"|不推荐|不建议|不应|禁用",
    re.IGNORECASE,
)
_STRICT_FOR = re.compile(
    r"\b(?:is|are)\s+(?:recommended|indicated)|\brecommends?\b|\bsuggests?\b"
    r"|\bshould\s+be\s+(?:used|given|administered|offered|started|initiated|prescribed|performed)"
    r"|^(?:offer|use|give|start|initiate)\b|推荐|建议",
    re.IGNORECASE,
)
_QUALIFIERS = ("routine", "monotherapy", "alone", "prophylactic", "prophylaxis", "empiric", "long-term", "first-line",
               "second-line", "add-on", "combination", "high-dose", "low-dose", "adjunctive", "常规", "单用", "联合", "预防性")
_POPULATION = re.compile(
    r"\bfor\s+(?P<purpose>(?:primary|secondary)\s+prevention\b[^.;:,(]{0,40})"
    r"|\b(?:in|for|among|to)\s+(?P<p>(?:all\s+|most\s+|selected\s+)?(?:patients|adults|children|women|men|people|persons|individuals|infants|neonates|those)"
    r"\b[^.;:(]{0,80}?)(?=[.;:,(]|\s+(?:who|to|is|are|should|may|can|and\s+)|$)"
    r"|(?P<zh>[^，。；,（(]{2,20}患者|[一二三]级预防)",
    re.IGNORECASE,
)


@dataclass
class _Statement:
    evidence_id: str
    document_id: str
    direction: str
    terms: frozenset[str]
    phrase: str
    sentence: str


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _intervention(sentence: str) -> tuple[frozenset[str], str] | None:
    """The intervention a recommendation is about, as a set of content words and a label."""
    if has_cjk(sentence):
        m = _ZH_INTERVENTION.search(sentence)
        if not m:
            return None
        phrase = _ZH_CUT.sub("", m.group("x")).strip()
        return (frozenset([phrase]), phrase) if len(phrase) >= 2 else None
    for pattern in _INTERVENTION_PATTERNS:
        m = pattern.search(sentence)
        if not m:
            continue
        raw = m.group("x").strip().split(",")[-1].strip()  # "In adults with X, aspirin is ..." -> "aspirin"
        phrase = _CUT.sub("", raw)
        phrase = re.sub(r"^(?:that\s+|the\s+|a\s+|an\s+|routine\s+use\s+of\s+|use\s+of\s+)+", "", phrase, flags=re.IGNORECASE)
        words = [_singular(w) for w in re.findall(r"[a-z0-9][a-z0-9\-]+", phrase.lower())]
        terms = frozenset(w for w in words if w not in _STOP and w not in _QUALIFIERS and not w.isdigit())
        if terms:
            return terms, " ".join(w for w in words if w not in _STOP)
    return None


def _qualifiers(sentence: str) -> frozenset[str]:
    low = sentence.lower()
    return frozenset(q for q in _QUALIFIERS if q in low)


def _population(sentence: str) -> str:
    m = _POPULATION.search(sentence)
    if not m:
        return ""
    return (m.group("purpose") or m.group("p") or m.group("zh") or "").strip().lower()


def _statements(item: Evidence) -> list[_Statement]:
    eid = item.evidence_id or item.chunk_id
    found: list[_Statement] = []
    seen: set[str] = set()
    for grade in item.stated_grades:
        if grade.direction not in ("for", "against") or not grade.recommendation:
            continue
        about = _intervention(grade.recommendation)
        if about and grade.recommendation not in seen:
            seen.add(grade.recommendation)
            found.append(_Statement(eid, item.document_id, grade.direction, about[0], about[1], grade.recommendation))
    for sentence in split_sentences(item.text, semicolons="all", line_breaks=True):
        sentence = sentence.strip(" -*#\t")
        if not sentence or sentence in seen or not _EXPLICIT.search(sentence):
            continue
        direction = sentence_direction(sentence)
        strict = "against" if _STRICT_AGAINST.search(sentence) else "for" if _STRICT_FOR.search(sentence) else None
        if direction != strict:
            continue  # the wording is not plain enough to hold a document to it
        about = _intervention(sentence)
        if direction in ("for", "against") and about:
            seen.add(sentence)
            found.append(_Statement(eid, item.document_id, direction, about[0], about[1], sentence))
    return found


def _same_intervention(a: _Statement, b: _Statement) -> bool:
    """Same intervention: the same content words once qualifiers and filler are set aside
    ("low-dose aspirin" is "aspirin"; "renal replacement therapy" is not "caloric replacement")."""
    if not (a.terms and b.terms):
        return False
    if a.terms == b.terms and any(len(t) >= 4 for t in a.terms):
        return True
    # Chinese phrases: one names the other ("阿司匹林" within "小剂量阿司匹林").
    if len(a.terms) == len(b.terms) == 1:
        x, y = next(iter(a.terms)), next(iter(b.terms))
        return has_cjk(x) and (x in y or y in x)
    return False


def find_conflicts(evidence: list[Evidence]) -> list[Conflict]:
    """Recommendations for and against the same intervention, across different documents."""
    statements = [s for item in evidence for s in _statements(item)]
    conflicts: dict[str, Conflict] = {}
    for i, a in enumerate(statements):
        for b in statements[i + 1 :]:
            if a.document_id == b.document_id or a.direction == b.direction:
                continue
            if not _same_intervention(a, b) or _qualifiers(a.sentence) != _qualifiers(b.sentence):
                continue
            pro, con = (a, b) if a.direction == "for" else (b, a)
            topic = min((pro.phrase, con.phrase), key=len)
            conflict = conflicts.setdefault(topic, Conflict(topic=topic, for_ids=[], against_ids=[]))
            if pro.evidence_id not in conflict.for_ids:
                conflict.for_ids.append(pro.evidence_id)
            if con.evidence_id not in conflict.against_ids:
                conflict.against_ids.append(con.evidence_id)
            pop_for, pop_against = _population(pro.sentence), _population(con.sentence)
            if pop_for != pop_against and (pop_for or pop_against) and "populations" not in conflict.note:
                conflict.note = (f"populations may differ: for {pop_for or 'unstated population'!r} "
                                 f"vs against {pop_against or 'unstated population'!r}")
    for conflict in conflicts.values():
        if not conflict.note:
            conflict.note = f"{', '.join(conflict.for_ids)} recommend(s) it; {', '.join(conflict.against_ids)} recommend(s) against it"
    return list(conflicts.values())
