"""The extractive digest: an answer made only of the evidence's own sentences, every one cited.

No language model. For each passage, strongest evidence first, the sentences that share the most
meaning-bearing words with the question are quoted (whitespace cleaned up, nothing else changed),
grouped under the section they come from, each followed by `[En]` and the stated grade printed with
it. Short on purpose: a clinician should take it in within about twenty seconds.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from evidence.citations import is_heading_or_question
from evidence.prompt import keep_or_number
from evidence.schema import Answer, Conflict, Evidence
from evidence.sentences import (
    CITATION,
    content_terms,
    has_cjk,
    is_list_item,
    looks_like_injection,
    split_sentences,
    strip_markup,
)

MAX_SENTENCES = 6
MAX_PER_PASSAGE = 2
MAX_GROUPS = 4
MAX_QUOTED_CHARS = 1000  # about 150 English words: the twenty-second read
MAX_SENTENCE_CHARS = 400  # longer "sentences" are tables or run-ons, not quotable claims
RELATIVE_FLOOR = 0.5  # a sentence must score this share of the best sentence's score
_RECOMMENDATION_CUES = ("recommend", "should", "suggest", "prefer", "indicated", "reasonable", "avoid", "推荐", "建议", "应", "首选")

INSUFFICIENT_EN = "Insufficient evidence: no passage in the indexed documents answers this question."
INSUFFICIENT_ZH = "证据不足：已索引的文献中没有能回答该问题的段落。"


@dataclass
class _Sentence:
    evidence: Evidence
    text: str
    terms: set[str]
    score: float = 0.0
    grade_quote: str = ""
    label: str = ""  # the short "Women:"-style label the sentence sits under in its passage, if any


@dataclass
class _Group:
    heading: str
    lines: list[str] = field(default_factory=list)


MAX_LABEL_CHARS = 60


def _candidates(evidence: Evidence) -> list[_Sentence]:
    """Quotable sentences of a passage, each with the label it sits under.

    Guidelines often scope a list by a short label ("Men:", "Women:", "In pregnancy:"); a bullet
    quoted without it can state the opposite of what the guideline says for the reader's patient,
    so the label travels with the sentence and is shown above it."""
    out: list[_Sentence] = []
    headings = {h.strip() for h in evidence.heading_path} | {evidence.title.strip()}
    label = ""
    for s in split_sentences(evidence.text, headings):
        text = strip_markup(s)  # bullet markers and emphasis only; the words stay as printed
        if s.lstrip().startswith("#") or text in headings:
            label = ""  # a new section ends the scope of a label
        elif text.endswith((":", "：")) and not is_list_item(s):
            # A scope label is a few words ("Women:", "In pregnancy:", "儿童："); a longer line
            # ending in a colon is a sentence's lead-in, not a scope, and ends the previous label.
            label = text if len(text) <= MAX_LABEL_CHARS and len(text.split()) <= 4 else ""
        if (
            not text
            or text in headings
            or text.count("|") >= 2  # a table row: unreadable out of its table
            or len(text) > MAX_SENTENCE_CHARS
            or is_heading_or_question(s)  # "insufficient evidence to recommend X" is kept: it informs
            or looks_like_injection(s)
            or CITATION.search(s)  # a passage must never inject citation ids into the answer
            or text.endswith((":", "："))
        ):
            continue
        terms = content_terms(text)
        if len(terms) >= 2:
            out.append(_Sentence(evidence, text, terms, label=label))
    return out


def _states_a_recommendation(text: str) -> bool:
    lowered = text.lower()
    return any(c in lowered for c in _RECOMMENDATION_CUES)


_PRINTED_GRADE = re.compile(
    r"\b(?:Class\s+(?:I|II|III|IIa|IIb)\b|LOE\b|Level of Evidence|Grade\s+[A-D1-2]\b|(?:strong|conditional|weak)\s+recommendation)"
    r"|[ⅠⅡⅢIV]+\s*级推荐|[A-C]\s*级证据|[ⅠⅡⅢIV]+a?\s*类推荐|（[ⅠⅡⅢIV]+[ab]?\s*[，,]\s*[A-C]\s*）",
    re.I,
)


def _grade_for(sentence: _Sentence) -> str:
    """The stated grade printed with this sentence's recommendation, when the sentence does not
    already print a grade itself."""
    if _PRINTED_GRADE.search(sentence.text) or any(g.quote and g.quote in sentence.text for g in sentence.evidence.stated_grades):
        return ""
    for g in sentence.evidence.stated_grades:
        if g.quote and g.recommendation:
            rec = content_terms(g.recommendation)
            if rec and len(rec & sentence.terms) / len(rec) >= 0.8:
                return g.quote
    return ""


def _score(sentences: list[_Sentence], question_terms: set[str]) -> None:
    """Question-term overlap weighted by rarity across the candidate sentences, plus a
    recommendation bonus, plus half the overlap of the sentence's whole passage (its headings
    included): "Reduce to 2.5 mg" answers a dosing question when its section is about apixaban."""
    n = len(sentences)
    df: dict[str, int] = {}
    for s in sentences:
        for t in s.terms & question_terms:
            df[t] = df.get(t, 0) + 1

    def idf(terms: set[str]) -> float:
        return sum(math.log(1 + n / df.get(t, 1)) for t in terms)

    passage_terms: dict[str, set[str]] = {}
    for s in sentences:
        e = s.evidence
        if e.evidence_id not in passage_terms:
            passage_terms[e.evidence_id] = content_terms(e.text + "\n" + " ".join(e.heading_path)) & question_terms
    for s in sentences:
        hits = s.terms & question_terms
        if not hits:
            continue
        bonus = 1.15 if _states_a_recommendation(s.text) else 1.0
        own = idf(hits) * bonus / (max(len(s.terms), 4) / 4) ** 0.25
        s.score = own + 0.5 * idf(passage_terms[s.evidence.evidence_id])


def _strength_weight(e: Evidence) -> float:
    """Among similarly relevant sentences, prefer stronger evidence (level 1 = 1.0 .. level 5 = 0.6)."""
    return 1.0 - 0.1 * (int(e.grade.level) - 1) if e.grade else 0.75


def _heading(e: Evidence) -> str:
    section = e.heading_path[-1] if e.heading_path else e.title
    org = re.split(r"[；;，,]", e.organization or "")[0].strip()
    if org and org != (e.organization or "").strip():
        org += " et al."
    who = " ".join(x for x in (org, str(e.year or "")) if x).strip()
    grade = f"{e.grade.source_type.label}, level {int(e.grade.level)}" if e.grade else "not graded"
    parts = f"{section} — {who}" if who and who not in section else section
    return f"**{strip_markup(parts)} ({grade}; p. {e.pages})**"


class Digest(BaseModel):
    """The digest's text and what it quoted; the answer is checked like any generator's."""

    text: str
    evidence: list[Evidence]  # numbered (ids kept when given)
    quoted: list[str] = Field(default_factory=list)  # the answer sentences quoted, in order
    insufficient: bool = False
    why: str = ""  # why nothing was quoted, when insufficient


def _insufficient(question: str, evidence: list[Evidence], why: str) -> Digest:
    text = INSUFFICIENT_ZH if has_cjk(question) else INSUFFICIENT_EN
    return Digest(text=text, evidence=evidence, insufficient=True, why=why)


def _conflict_lines(conflicts: list[Conflict], by_id: dict[str, Evidence], chosen: dict[str, str], question_terms: set[str]) -> list[str]:
    lines: list[str] = []
    for c in conflicts:
        sides: list[str] = []
        for label, ids, direction in (("For", c.for_ids, "for"), ("Against", c.against_ids, "against")):
            for eid in ids:
                e = by_id.get(eid)
                if e is None:
                    continue
                sentence = next(
                    (g.recommendation for g in e.stated_grades if g.direction == direction and g.recommendation and g.recommendation in e.text),
                    "",
                )
                if not sentence:  # the sentence of this passage closest to the conflict's topic
                    topic_terms = content_terms(c.topic)
                    pool = _candidates(e)
                    pool.sort(key=lambda s: (len(s.terms & topic_terms), _states_a_recommendation(s.text), len(s.terms & question_terms)), reverse=True)
                    sentence = pool[0].text if pool else chosen.get(eid, "")
                if sentence:
                    sides.append(f"- {label}: {sentence} [{eid}]")
        if sides:
            lines.append(f"**Conflicting recommendations: {strip_markup(c.topic)}**")
            lines.extend(sides)
    return lines


def compose_digest(question: str, evidence: Sequence[Evidence], conflicts: Sequence[Conflict] | None = None) -> Digest:
    """Quote, cite and grade the evidence sentences that answer the question; never invent."""
    if not question or not question.strip():
        raise ValueError("question is empty")
    ranked = keep_or_number(evidence)
    conflicts = list(conflicts or [])
    if not ranked:
        return _insufficient(question, ranked, "No relevant passage was retrieved for this question.")

    by_id = {e.evidence_id: e for e in ranked}
    question_terms = content_terms(question)
    per_passage = {e.evidence_id: _candidates(e) for e in ranked}
    everything = [s for group in per_passage.values() for s in group]
    _score(everything, question_terms)
    best = max((s.score for s in everything), default=0.0)
    if best <= 0.0:
        return _insufficient(question, ranked, "The retrieved passages share no meaningful words with the question; none of them answers it.")

    # Choose by relevance weighted towards stronger evidence, then show strongest evidence first.
    floor = best * RELATIVE_FLOOR
    pool = sorted((s for s in everything if s.score >= floor), key=lambda s: -s.score * _strength_weight(s.evidence))
    picked = _pick(pool, by_id)
    groups: dict[str, _Group] = {}
    chosen: dict[str, str] = {}
    quoted: list[str] = []
    for e in ranked:  # the evidence order (ids ascending)
        picks = picked.get(e.evidence_id)
        if not picks:
            continue
        picks.sort(key=lambda s: e.text.find(s.text[:40]))  # the passage's own order
        group = groups.setdefault(_heading(e), _Group(_heading(e)))
        for s in picks:
            grade = _grade_for(s)
            scope = f" (under “{s.label.rstrip(':：').strip()}”)" if s.label else ""
            group.lines.append(f"- {s.text} [{e.evidence_id}]" + (f" ({grade})" if grade else "") + scope)
            chosen.setdefault(e.evidence_id, s.text)
            quoted.append(s.text)

    intro = "证据摘要（原文引用，证据最强者在前）：" if has_cjk(question) else "Evidence digest (quoted from the sources, strongest evidence first):"
    parts = [intro] + [g.heading + "\n" + "\n".join(g.lines) for g in groups.values() if g.lines]
    conflict_lines = _conflict_lines(conflicts, by_id, chosen, question_terms)
    if conflict_lines:
        parts.append("\n".join(conflict_lines))
    return Digest(text="\n\n".join(parts), evidence=ranked, quoted=quoted)


def _pick(pool: list[_Sentence], by_id: dict[str, Evidence]) -> dict[str, list[_Sentence]]:
    """The best sentences within the digest's limits (sentences, characters, per passage, groups)."""
    picked: dict[str, list[_Sentence]] = {}
    total = quoted = 0
    for s in pool:
        eid = s.evidence.evidence_id
        if total >= MAX_SENTENCES or (total and quoted + len(s.text) > MAX_QUOTED_CHARS):
            break
        if len(picked.get(eid, [])) >= MAX_PER_PASSAGE:
            continue
        if eid not in picked and len({_heading(by_id[i]) for i in picked} | {_heading(s.evidence)}) > MAX_GROUPS:
            continue
        picked.setdefault(eid, []).append(s)
        total += 1
        quoted += len(s.text)
    return picked


def extractive_answer(question: str, evidence: Sequence[Evidence], conflicts: Sequence[Conflict] | None = None) -> Answer:
    """The digest as a checked `Answer` (for callers without an `Assistant`): the same checks and
    warning wording as every generator's answer (evidence.pipeline)."""
    from evidence.pipeline import Generated, Plan, Retrieved, assemble, check

    started = time.perf_counter()
    d = compose_digest(question, evidence, conflicts)
    retrieved = Retrieved(question=question, k=max(1, len(d.evidence)), evidence=d.evidence)
    planned = Plan(question=question, mode="evidence", evidence=d.evidence, conflicts=list(conflicts or []),
                   instruction_ids=[e.evidence_id for e in d.evidence if looks_like_injection(e.text)])
    generated = Generated(text=d.text, generator="extractive", model_label="extractive digest",
                          seconds=time.perf_counter() - started)
    checked = check(retrieved, planned, generated, _DIGEST_WRITER)
    return assemble(retrieved, planned, generated, checked, {"generation": generated.seconds})


class _DigestWriter:
    """The digest's identity for the checks (it is never a demo model)."""

    name = "extractive"
    uses_prompt = False
    label = "extractive digest"
    is_demo = False


_DIGEST_WRITER = _DigestWriter()
