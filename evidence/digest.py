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
from typing import Any

from pydantic import BaseModel, Field

from evidence.citations import is_heading_or_question
from evidence.export import location_label
from evidence.instructions import reads_as_instruction
from evidence.numbers import number_fit, question_values
from evidence.focus import FACET_WORDS, Concept, Focus, focus_facets, other_sex_label, question_focus, states_facet, weighted_coverage
from evidence.pipeline import NOT_ADDRESSED_EN, NOT_ADDRESSED_ZH, PARTLY_EN, PARTLY_ZH
from evidence.prompt import keep_or_number
from evidence.schema import Answer, Conflict, Evidence
from evidence.subject import RARE_ZIPF, SubjectCheck, concept_rarity, out_of_scope, question_scope
from evidence.synonyms import expand_query
from evidence.sentences import (
    CITATION,
    content_terms,
    strip_markup,
)
from indexing.text import (
    has_cjk,
    is_bullet,
    is_table_row,
    is_table_rule,
    normalize_space,
    passage_sentences,
    states_recommendation,
    table_cells,
)

MAX_SENTENCES = 6
MAX_PER_PASSAGE = 2  # ... and one more that answers the question outright (`_Sentence.answers`):
# a guideline's list states one threshold per line, and the line asked about is often the third
MAX_GROUPS = 4
MAX_QUOTED_CHARS = 1000  # about 150 English words: the twenty-second read
MAX_SENTENCE_CHARS = 400  # longer "sentences" are tables or run-ons, not quotable claims
RELATIVE_FLOOR = 0.5  # a sentence must score this share of the best sentence's score

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
    parts: list[str] = field(default_factory=list)  # the lines of a list quoted whole ("A; OR" "B; OR" "C")
    row: bool = False  # a table row, its cells joined by " | " (escaped when printed)
    follow: list[str] = field(default_factory=list)  # further sentences on a bullet's line, quoted with it, each cited
    own: float = 0.0  # share of the question's concepts the sentence itself names (evidence.focus)
    full: float = 0.0  # ... with its section, document title and passage around it
    fit: int = 0  # does its numeric condition hold for the question's value (evidence.numbers): +1 / -1 / 0
    answers: bool = False  # names the question's concepts and states what was asked


@dataclass
class _Group:
    heading: str
    lines: list[str] = field(default_factory=list)


MAX_LABEL_CHARS = 60
_NO_PARENS = str.maketrans("()（）", "[][]")


_CONNECTOR_END = re.compile(r"(?:[;,]\s*|\s)(?:OR|or|AND|and|PLUS|plus)\s*$|[;；]\s*$")
_CONNECTOR_START = re.compile(r"^(?:OR|PLUS|AND)\b")


def _candidates(evidence: Evidence) -> list[_Sentence]:
    """Quotable sentences of a passage, each with the label it sits under; list items joined by
    "; OR" / "PLUS" stay one unit, quoted whole (a regimen cut at an inner "OR" misleads).

    Guidelines often scope a list by a short label ("Men:", "Women:", "In pregnancy:"); a bullet
    quoted without it can state the opposite of what the guideline says for the reader's patient,
    so the label travels with the sentence and is shown above it."""
    out: list[_Sentence] = []
    headings = {h.strip() for h in evidence.heading_path} | {evidence.title.strip()}
    label = ""
    joining = False  # the previous quotable item ended with a connector: this one continues it
    starts = _line_starts(evidence.text)
    table = _Table()
    previous_bullet = False  # the last candidate is a bullet: a sentence on its line continues it
    for s in passage_sentences(evidence.text, headings):
        if is_table_row(s):
            row = table.row(s)
            if row is not None and _quotable(s, row, headings, table=True):
                out.append(_Sentence(evidence, row, content_terms(row + " " + table.header), label=table.header, parts=[row], row=True))
            previous_bullet = joining = False
            continue
        table.end()
        text = strip_markup(s)  # bullet markers and emphasis only; the words stay as printed
        if previous_bullet and out and not is_bullet(s) and normalize_space(text, keep_lines=False)[:40] not in starts and _quotable(s, text, headings):
            # "- Nimodipine ... (Class I). See the ... section." is one item, quoted whole but
            # scored on its bullet: "When A1C is >= 1.5% above the goal, ..." after an item on
            # combination therapy must not make it the answer to an A1C-target question.
            out[-1].follow.append(text)
            continue
        previous_bullet = False
        if is_bullet(s) and text.endswith((":", "：", "?", "？")) and not joining and not states_recommendation(text):
            label = text  # "- Non-DHP CCBs (diltiazem, verapamil):" scopes the nested items below it, as a
            continue  # flowchart's decision ("--> K+ < 3.5 mmol/L?") scopes the steps that follow it
        if joining and re.fullmatch(r"\d{1,2}[.)]|[a-z][.)]", text):
            continue  # a bare enumerator the splitter cut off its item ("1." then "Thiazide ...")
        if joining and out and text and (is_bullet(s) or _CONNECTOR_START.match(text) or out[-1].parts[-1].endswith((":", "：")))\
                and _quotable(s, text, headings, inner=True):
            out[-1].parts.append(text)
            joining = bool(_CONNECTOR_END.search(text)) or text.endswith((":", "："))
            continue
        if _is_lead_in(s, text) and _quotable(s[:-1] + ".", text[:-1] + ".", headings):  # "Four classes are recommended:" + its list
            out.append(_Sentence(evidence, text, content_terms(text), label=label, parts=[text]))
            joining = True
            continue
        joining = False
        if s.lstrip().startswith("#") or text in headings:
            label = ""  # a new section ends the scope of a label
        elif text.endswith((":", "：")) and not is_bullet(s):
            # A scope label is a few words ("Women:", "In pregnancy:", "儿童："); a longer line
            # ending in a colon is a sentence's lead-in, not a scope, and ends the previous label.
            label = text if len(text) <= MAX_LABEL_CHARS and len(text.split()) <= 4 else ""
        if not _quotable(s, text, headings):
            continue
        terms = content_terms(text)
        if len(terms) >= 2:
            out.append(_Sentence(evidence, text, terms, label=label, parts=[text]))
            joining = is_bullet(s) and bool(_CONNECTOR_END.search(text))
            previous_bullet = is_bullet(s) and not joining
    for item in out:  # a list unit is about what its first line says; its items only complete it
        if len(item.parts) > 1:
            item.text = " ".join(item.parts)
    # A lead-in whose list is not in this passage (the chunk ends at its colon, or a heading or
    # table follows it) is quoted with its list or not at all: alone it promises items it lacks.
    return [item for item in out if not item.parts[-1].endswith((":", "："))]


def _cells(line: str) -> list[str]:
    return [strip_markup(c) for c in table_cells(line)]


@dataclass
class _Table:
    """The markdown table being read: its header row (the row above the |---| rule), so that a
    data row is quoted whole with the column names it is read under."""

    header: str = ""
    pending: str = ""  # the first row, until the rule below it shows it is the header

    def row(self, line: str) -> str | None:
        """A data row as its cells joined by " | "; None for the header and the rule. A stored
        table (indexing.text.is_table_row) has no rule: its first row is the header all the same."""
        if is_table_rule(line):
            self.header, self.pending = " | ".join(self.pending_cells()), ""
            return None
        if not self.header and not self.pending:
            self.pending = line
            return None
        if self.pending and not self.header:
            self.header, self.pending = " | ".join(self.pending_cells()), ""
        cells = _cells(line)
        return " | ".join(cells) if cells[0] else None  # an empty first cell continues the row above: not a row alone

    def pending_cells(self) -> list[str]:
        return _cells(self.pending) if self.pending else []

    def end(self) -> None:
        self.header = self.pending = ""


def _escape(text: str, row: bool) -> str:
    """A quoted table row's bars escaped, so that the digest's bullet never renders as a table."""
    return text.replace("|", "\\|") if row else text


def _line_starts(text: str) -> set[str]:
    """The first 40 characters of every line of a passage (markup stripped): a sentence that does
    not begin a line continues the line before it (a bullet's second sentence)."""
    return {strip_markup(line)[:40] for line in text.splitlines() if line.strip()}  # one line: its spaces normalised


def _is_lead_in(raw: str, text: str) -> bool:
    """A sentence that introduces the list below it ("Four drug classes are recommended as
    first-line therapy (Class I):"): longer than a scope label, ending in a colon."""
    return text.endswith((":", "：")) and not raw.lstrip().startswith("#") and (len(text) > MAX_LABEL_CHARS or len(text.split()) > 4)


def _quotable(raw: str, text: str, headings: set[str], inner: bool = False, table: bool = False) -> bool:
    """A sentence the digest may quote: a claim, short enough, not a heading or question, never
    text addressed to a model or carrying citation ids; a table row only whole (`table`, read by
    `_Table`), never a sentence with stray bars. Inside a list unit a connector line ("PLUS one
    of:") is kept."""
    if not text or text in headings or (not table and text.count("|") >= 2) or len(text) > MAX_SENTENCE_CHARS:
        return False
    if reads_as_instruction(raw) or CITATION.search(raw):
        return False  # a passage must never steer the answer or inject citation ids
    if table:  # a row names at least two things, or one and its value ("Remission | < 2.6")
        named = len(content_terms(text))
        return named >= 2 or (named == 1 and bool(re.search(r"\d", text)))
    if inner and _CONNECTOR_START.match(text):
        return True
    return not is_heading_or_question(raw) and not text.endswith((":", "："))


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
        bonus = 1.15 if states_recommendation(s.text) else 1.0
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
    return f"**{strip_markup(parts)} ({grade}; {location_label(e)})**"  # "section 2" for a markdown section file, as the app labels it


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
                    pool.sort(key=lambda s: (len(s.terms & topic_terms), states_recommendation(s.text), len(s.terms & question_terms)), reverse=True)
                    sentence = pool[0].text if pool else chosen.get(eid, "")
                if sentence:
                    sides.append(f"- {label}: {sentence} [{eid}]")
        if sides:
            lines.append(f"**Conflicting recommendations: {strip_markup(c.topic)}**")
            lines.extend(sides)
    return lines


def compose_digest(question: str, evidence: Sequence[Evidence], conflicts: Sequence[Conflict] | None = None,
                   *, embedder: Any | None = None) -> Digest:
    """Quote, cite and grade the evidence sentences that answer the question; never invent.
    `embedder` (the retriever's, optional) lets a sentence name a rare question word in other
    words (evidence.subject); without it only the words themselves count."""
    if not question or not question.strip():
        raise ValueError("question is empty")
    ranked = keep_or_number(evidence)
    conflicts = list(conflicts or [])
    if not ranked:
        return _insufficient(question, ranked, "No relevant passage was retrieved for this question.")

    by_id = {e.evidence_id: e for e in ranked}
    question_terms = content_terms(expand_query(question))  # with the other names it goes by ("房颤" is AF)
    # A passage that speaks to the reader or a model (evidence.instructions) is never quoted at all.
    everything = [s for e in ranked if not reads_as_instruction(e.text) for s in _candidates(e)]
    _score(everything, question_terms)
    if max((s.score for s in everything), default=0.0) <= 0.0:
        return _insufficient(question, ranked, "The retrieved passages share no meaningful words with the question; none of them answers it.")
    focus = question_focus(question, content_terms)
    answers = [] if _names_what_is_absent(focus, ranked, question) else _answering(everything, focus, question)
    answers, left_out = _on_subject(question, focus, answers, embedder)
    if not answers:
        return _not_addressed(question, ranked, everything, focus, left_out)
    # Choose the answers by relevance weighted towards stronger evidence; show them in evidence order.
    pool = sorted(answers, key=lambda s: -_answer_score(s, question) * _strength_weight(s.evidence))
    picked = _pick(pool, by_id)
    rank = {id(s): i for i, s in enumerate(pool)}
    ranked = sorted(ranked, key=lambda e: (int(e.grade.level) if e.grade else 6,  # strongest evidence first,
                                           min((rank[id(s)] for s in picked.get(e.evidence_id, [])), default=len(rank))))  # then best answer
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
            label = _escape(s.label.rstrip(":：").strip().translate(_NO_PARENS), s.row)  # one pair of parentheses per note
            scope = f" (under “{label}”)" if s.label else ""
            for i, part in enumerate(s.parts or [s.text]):  # a list unit: every item, each cited
                last = i == len(s.parts or [s.text]) - 1
                more = "".join(f" {f} [{e.evidence_id}]" for f in s.follow) if last else ""
                group.lines.append(f"- {_escape(part, s.row)} [{e.evidence_id}]" + more + ((f" ({grade})" if grade else "") + scope if last else ""))
            chosen.setdefault(e.evidence_id, s.text)
            quoted.append(s.text)

    intro = "证据摘要（原文引用，证据最强者在前）：" if has_cjk(question) else "Evidence digest (quoted from the sources, strongest evidence first):"
    parts = [intro] + _partly(question, focus, [x for picks in picked.values() for x in picks])
    parts += [g.heading + "\n" + "\n".join(g.lines) for g in groups.values() if g.lines]
    conflict_lines = _conflict_lines(conflicts, by_id, chosen, question_terms)
    if conflict_lines:
        parts.append("\n".join(conflict_lines))
    return Digest(text="\n\n".join(parts), evidence=ranked, quoted=quoted)


ANSWER_COVERAGE = 0.7  # weighted share of the question's concepts a quoted answer must cover (with its section)
# ... or a sentence that itself names this many of the question's concepts ("DOACs are recommended
# over warfarin in AF" for "DOAC or warfarin for stroke prevention in AF?") with this coverage.
ABSENT_WEIGHT = 0.5
# ... but a common English word found in none of them ("someone", "house", "order": Zipf >= RARE_ZIPF,
# evidence.subject) is the question's phrasing far more often than its subject: it weighs this.
ABSENT_COMMON_WEIGHT = 0.15
WEAK_COVERAGE = 0.4  # the floor when no sentence reaches ANSWER_COVERAGE
DIRECT_CONCEPTS = 3
DIRECT_COVERAGE = 0.5
PASSAGE_SHARE = 0.6  # credit for a concept the sentence's passage names but the sentence and its section do not


_PREFERENCE = re.compile(r"\bover\b|\brather than\b|\bpreferred\b|\bfirst[- ]line\b|\bin preference to\b|\binstead of\b|首选|优于|优先", re.I)
_TREATMENT_Q = re.compile(r"\btreat|\btherap|\bdrug|\bmedication|\bantibiotic|\bagent|\bregimen|\bfirst[- ]line|\bwhich\b|\bprefer|治疗|药物|首选", re.I)


# Drug-name endings (INN stems): one list that both "names a treatment" and "names the specific
# drug/disease/procedure asked about" are built from.
_DRUG_ENDINGS = ("cillin|mycin|cycline|floxacin|penem|statin|pril|sartan|olol|dipine|parin|xaban|gatran|farin"
                 "|azole|vir|mab|tinib|gliflozin|glutide|formin")
_NAMES_A_TREATMENT = re.compile(
    r"\b\w+(?:" + _DRUG_ENDINGS + r"|terol|sone|olone|platin)s?\b|\b(?:cef|ceph)\w+|\b(?:insulin|aspirin|clopidogrel|colchicine"
    r"|allopurinol|febuxostat|statins?|DOACs?|NSAIDs?|anticoagulants?|antibiotics?|[A-Z]{2,}i)\b|\d\s*(?:mg|g|mcg|units?)\b|阿司匹林|他汀|二甲双胍|胰岛素",
)


# A sentence that states the value asked for, next to its name ("an A1C goal of < 7%",
# "standard dose is 5 mg", "within 24 hours"), rather than mentioning one in passing.
_STATES_VALUE = {
    "target": re.compile(r"(?:target|goal|threshold|目标)[^.;。；]{0,25}?[<≤>≥]?\s*\d", re.I),
    "dose": re.compile(r"(?:dose|dosing|dosage|剂量)[^.;。；]{0,25}?\d+(?:\.\d+)?\s*(?:mg|g|mcg|µg|units?)", re.I),
    "timing": re.compile(r"\bwithin\s+(?:the\s+first\s+)?\d|\bas\s+soon\s+as\b|\bimmediately\b|\d+\s*(?:h|hours?|days?|weeks?|months?)\b", re.I),
}


# Weight of a numeric condition that holds (or fails) for the value the question gives (evidence.numbers):
# as much as stating the kind of value asked for, so the row for "NEWS2 of 7" wins over its neighbours.
NUMBER_FIT = 0.6


def _answer_score(s: _Sentence, question: str) -> float:
    """Coverage of the question (with the sentence's section), how well its passage's subject
    matches the question (from retrieval), then the form of an answer: a treatment question is
    answered by a named treatment or regimen and a preference ("X over Y", "first-line"), any
    question better by a recommendation than by background."""
    form = 0.1 * states_recommendation(s.text)
    form += NUMBER_FIT * s.fit  # the row for the patient's value (set by `_answering`)
    form += 0.4 * any(_STATES_VALUE[f].search(s.text) for f in focus_facets(question) if f in _STATES_VALUE)
    if _TREATMENT_Q.search(question):
        form += 0.4 * bool(_NAMES_A_TREATMENT.search(s.text)) + 0.3 * bool(_PREFERENCE.search(s.text))
    scores = s.evidence.scores
    subject = scores.subject if scores is not None and scores.subject is not None else 0.0
    return s.full + subject + form


def _answering(sentences: list[_Sentence], focus: Focus, question: str) -> list[_Sentence]:
    """The sentences that answer the question: with their section and title they name the
    question's concepts (IDF-weighted over the candidates, so a word every passage shares counts
    little), a special population the question names, and state the kind of thing asked (a time,
    a dose, a target, an age). When none covers the concepts that well, the best-covered
    sentences that still meet the population and the kind asked are the answer (WEAK_COVERAGE):
    a question's own wording ("reaches", "flag") is often absent from the guideline that answers it.
    A row whose numeric condition holds for the value the question gives ("NEWS2 of 7" against
    ">= 7: emergency assessment") answers at that weaker coverage too: its row label is the answer."""
    weights = _concept_weights(sentences, focus)
    values = question_values(question)
    contexts: dict[str, set[str]] = {}  # per passage: the terms of its title and headings
    passages: dict[str, set[str]] = {}  # ... and of its whole text
    out, weak, stated = [], [], []
    specific = [c for c in focus.concepts if not c.partial and (_SPECIFIC.match(c.word) or _NAMES_A_TREATMENT.search(c.word))]
    for s in sentences:
        e = s.evidence
        if e.evidence_id not in contexts:
            contexts[e.evidence_id] = content_terms(e.title + "\n" + "\n".join(e.heading_path))
            passages[e.evidence_id] = content_terms(e.text)
        # a flowchart's decision ("A1C < 1.5% above goal?") says when a step applies, not what it is about
        label = set() if s.label.endswith(("?", "？")) else content_terms(s.label)
        near = s.terms | contexts[e.evidence_id] | label
        s.own = weighted_coverage(focus, weights, s.terms)
        s.full = weighted_coverage(focus, weights, near, passages[e.evidence_id], PASSAGE_SHARE)
        s.fit = number_fit(values, " ".join((_section(e), s.label, s.text)))
        populations = all(c.found_in(near) for c in focus.concepts if c.population) and \
            not other_sex_label(focus, label, content_terms)
        # one part of "dose and target"; the section may state it ("PE Likely (Score > 4)" above "D-dimer is NOT recommended")
        facets = not focus.facets or any(states_facet(f, s.text + " " + s.label + " " + _section(e)) for f in focus.facets)
        about = s.own > 0 or weighted_coverage(focus, weights, contexts[e.evidence_id] | label) >= ANSWER_COVERAGE
        named = sum(c.found_in(s.terms) >= 0.5 for c in focus.concepts)
        covered = s.full >= ANSWER_COVERAGE or (named >= DIRECT_CONCEPTS and s.full >= DIRECT_COVERAGE) \
            or (s.full >= WEAK_COVERAGE and s.fit > 0)  # the row for the patient's value
        names_it = all(c.found_in(near) >= 0.5 for c in specific)  # the drug, disease or procedure asked about
        s.answers = about and covered and populations and facets and names_it
        if s.answers:
            out.append(s)
        elif about and populations and names_it and s.full >= WEAK_COVERAGE:
            if facets:
                weak.append(s)
            if states_recommendation(s.text):
                stated.append(s)
    return _without_other_rows(_with_stated(out or weak, stated))


def _without_other_rows(answers: list[_Sentence]) -> list[_Sentence]:
    """When some answer's numeric condition holds for the question's value, the rows whose
    conditions fail for it ("5-6: urgent" for a NEWS2 of 7) are its neighbours, not answers."""
    if not any(s.fit > 0 for s in answers):
        return answers
    return [s for s in answers if s.fit >= 0]


def _with_stated(answers: list[_Sentence], stated: list[_Sentence]) -> list[_Sentence]:
    """The answers plus the recommendations their own passages state about the question's subject
    (`_answering`'s weak tier, the kind asked not required). A passage that answers a question
    usually answers it in a stated recommendation, while the line that passes ANSWER_COVERAGE is
    often a neighbour that repeats one more question word ("Mild elevations in transaminases
    (common in heavy drinkers) are NOT a contraindication" over "APA recommends that naltrexone
    not be used ... by individuals who use opioids" for a drinker taking opioids): 17 of the 213
    answerable tuning questions quoted only neighbours with the gold passage ranked first, 12 with
    this (bench/results/retrieval_quality_sentence7_before.json, ..._sentence7_tuning.json). Only
    passages that already answer gain sentences, so whether the digest answers at all does not change."""
    answering = {s.evidence.evidence_id for s in answers}
    already = {id(s) for s in answers}  # a weak-tier answer may be one of them
    return answers + [s for s in stated if s.evidence.evidence_id in answering and id(s) not in already]


# A question word that names a drug, a disease or a procedure by its form (apixaban, remdesivir,
# pericarditis, thrombectomy): when no retrieved passage names it, nothing there answers about it.
_SPECIFIC = re.compile(
    r"\w{3,}(?:" + _DRUG_ENDINGS + r"|itis|osis|emia|aemia|pathy|algia|iasis|ectomy|otomy|plasty|scopy|ism"
    r"|[^i\W]ia|amine|etamol)s?$", re.I)  # ... dementia, preeclampsia, esketamine, paracetamol (not "via")
_ACID_DRUG = re.compile(r"\b(\w{4,}ic)\s+acid\b", re.I)  # tranexamic acid, zoledronic acid


def _section(e: Evidence) -> str:
    """The passage's own section heading (the last of its heading path)."""
    return e.heading_path[-1] if e.heading_path else ""


def _is_specific(concept: Concept, question: str = "") -> bool:
    """The concept names a drug, disease or procedure by its form (`_SPECIFIC`, "X acid")."""
    if concept.partial:
        return False
    return bool(_SPECIFIC.match(concept.word)) or concept.word.lower() in {m.lower() for m in _ACID_DRUG.findall(question)}


def _names_what_is_absent(focus: Focus, evidence: list[Evidence], question: str = "") -> bool:
    specific = [c for c in focus.concepts if _is_specific(c, question)]
    if not specific:
        return False
    terms = set().union(*(content_terms(e.title + "\n" + " ".join(e.heading_path) + "\n" + e.text) for e in evidence))
    return any(not c.found_in(terms) for c in specific)


def _concept_weights(sentences: list[_Sentence], focus: Focus) -> dict[str, float]:
    """IDF of each concept token over the candidate sentences. A token found in none of them is
    as likely the question's own wording ("someone", "reaches") as a subject the evidence lacks
    ("remdesivir"): it weighs ABSENT_WEIGHT x the rarest token found, or ABSENT_COMMON_WEIGHT x that
    when the question's word is a common English one (a bedside "someone rescued from a house fire"
    is answered by a sentence on "patients with smoke inhalation")."""
    n = len(sentences) or 1
    df: dict[str, int] = {}
    tokens = focus.tokens()
    for s in sentences:
        for t in s.terms & tokens:
            df[t] = df.get(t, 0) + 1
    present = {t: math.log(1 + n / (c + 0.5)) for t, c in df.items()}
    top = max(present.values(), default=1.0)
    weights = {t: present.get(t, ABSENT_WEIGHT * top) for t in tokens}
    for c in focus.concepts:
        if not c.partial and concept_rarity(c) >= RARE_ZIPF:
            for t in (t for name in c.names for t in name if t not in present):
                weights[t] = min(weights[t], ABSENT_COMMON_WEIGHT * top)
    for c in focus.concepts:  # a concept found under its English name ("nimodipine") does not weigh as
        scripts = {has_cjk(t) for name in c.names for t in name if t in present}  # its absent Chinese one
        for t in (t for name in c.names for t in name if t not in present and scripts and has_cjk(t) not in scripts):
            weights[t] = max(weights[t], top)  # ("尼莫地平"), nor the other way round: `concept_weight` takes the most common spelling
    return weights


def _on_subject(question: str, focus: Focus, answers: list[_Sentence], embedder: Any | None) -> tuple[list[_Sentence], str]:
    """The answers that name the question's rare words and speak of its population
    (evidence.subject), and, when none is left, why the closest ones do not answer."""
    if not answers:
        return answers, ""
    scope = question_scope(question)
    check = SubjectCheck(focus, embedder)
    context_terms: dict[str, set[str]] = {}
    kept: list[_Sentence] = []
    reasons: list[str] = []
    for s in answers:
        e = s.evidence
        context = "\n".join([s.label, e.title, " ".join(e.heading_path), e.text])
        other = out_of_scope(scope, context)
        if other:
            reasons.append(f"the closest passages are about another population ({other})")
            continue
        if e.evidence_id not in context_terms:
            context_terms[e.evidence_id] = content_terms(context)
        missing = check.missing(" ".join([s.text, s.label, context]), s.terms | content_terms(s.label) | context_terms[e.evidence_id])
        if missing:
            reasons.append(f"no sentence that speaks to it mentions {_words([c.word for c in missing])}")
            continue
        kept.append(s)
    return kept, (max(set(reasons), key=reasons.count) if reasons and not kept else "")


def _not_addressed(question: str, ranked: list[Evidence], sentences: list[_Sentence], focus: Focus, why: str = "") -> Digest:
    """On the topic but no sentence answers: say what is missing instead of quoting neighbours."""
    if has_cjk(question):
        text = f"{NOT_ADDRESSED_ZH}该问题：检索到的段落与该主题相关，但没有一句直接回答，因此未引用任何句子。"
        return Digest(text=text, evidence=ranked, insufficient=True, why="not addressed")
    named = [c for c in focus.concepts if any(c.found_in(s.terms) >= 0.5 for s in sentences)]
    missing = [c.word for c in focus.concepts if c not in named]
    if why:
        detail = why
    elif missing:
        detail = f"no retrieved passage mentions {_words(missing)}"
    elif focus.facets:
        detail = f"no retrieved sentence states {_words([FACET_WORDS[f] for f in focus.facets])} for {_words([c.word for c in named])}"
    else:
        detail = f"no retrieved sentence speaks of {_words([c.word for c in named])} together"
    text = f"{NOT_ADDRESSED_EN} “{question.strip()}”: {detail}, so no sentence was quoted as an answer (the passages retrieved are listed with it)."
    return Digest(text=text, evidence=ranked, insufficient=True, why="not addressed")


def _partly(question: str, focus: Focus, quoted: list[_Sentence]) -> list[str]:
    """A first line when the quoted sentences leave some of the question's concepts unnamed (the
    answer came from the WEAK_COVERAGE tier): the reader is told what they do not cover."""
    if not quoted or all(s.answers for s in quoted):
        return []
    named = set().union(*(s.terms | content_terms(s.evidence.title + " " + " ".join(s.evidence.heading_path)) for s in quoted))
    missing = [c.word for c in focus.concepts if c.found_in(named) < 0.5]
    if not missing:
        return []
    if has_cjk(question):
        return [f"{PARTLY_ZH}该问题：引用的句子未提及{'、'.join(dict.fromkeys(missing))}，请核对。"]
    return [f"{PARTLY_EN} “{question.strip()}”: no quoted sentence mentions {_words(missing)}; check that they answer it."]


def _words(items: list[str]) -> str:
    items = list(dict.fromkeys(i.lower() for i in items))
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _pick(pool: list[_Sentence], by_id: dict[str, Evidence]) -> dict[str, list[_Sentence]]:
    """The best sentences within the digest's limits (sentences, characters, per passage, groups)."""
    picked: dict[str, list[_Sentence]] = {}
    total = quoted = 0
    for s in pool:
        eid = s.evidence.evidence_id
        if total >= MAX_SENTENCES or (total and quoted + len(s.text) > MAX_QUOTED_CHARS):
            break
        if len(picked.get(eid, [])) >= MAX_PER_PASSAGE + s.answers:  # a third only when it answers
            continue
        if eid not in picked and len({_heading(by_id[i]) for i in picked} | {_heading(s.evidence)}) > MAX_GROUPS:
            continue
        picked.setdefault(eid, []).append(s)
        total += 1
        quoted += len(s.text)
    return picked


def extractive_answer(question: str, evidence: Sequence[Evidence], conflicts: Sequence[Conflict] | None = None,
                      *, embedder: Any | None = None) -> Answer:
    """The digest as a checked `Answer` (for callers without an `Assistant`): the same checks and
    warning wording as every generator's answer (evidence.pipeline)."""
    from evidence.pipeline import Generated, Plan, Retrieved, assemble, check

    started = time.perf_counter()
    d = compose_digest(question, evidence, conflicts, embedder=embedder)
    retrieved = Retrieved(question=question, k=max(1, len(d.evidence)), evidence=d.evidence)
    planned = Plan(question=question, mode="evidence", evidence=d.evidence, conflicts=list(conflicts or []),
                   instruction_ids=[e.evidence_id for e in d.evidence if reads_as_instruction(e.text)])
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
