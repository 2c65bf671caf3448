"""Does each cited claim stand on its cited passage? Unknown ids, unsupported and uncited claims.

A claim is supported by a passage when most of its content words (stemmed English words, Chinese
character bigrams) occur in the passage, every number it states occurs there too (a dose that
is not in the passage is never "supported"), and it agrees on negation with the passage sentence
closest to it ("recommended" never stands on "not recommended"). With an embedder, a paraphrase with high semantic
similarity and some lexical overlap also counts. The check is conservative on purpose: a flagged
sentence asks the clinician to look, it does not claim the sentence is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from evidence.schema import Citation, CitationReport, Evidence
from evidence.sentences import CITATION, cited_ids, content_terms, numbers, strip_markup
from indexing.text import has_cjk, passage_sentences

LEXICAL_SUPPORT = 0.5  # share of a claim's content terms found in the passage
SEMANTIC_SUPPORT = 0.6  # cosine between claim and passage (all-MiniLM-L6-v2 scale)
SEMANTIC_MIN_LEXICAL = 0.25  # a paraphrase must still share some words with the passage
MIN_CLAIM_TERMS = 3  # fewer content terms than this in an uncited line is not a claim

_NON_CLAIM = re.compile(
    r"insufficient evidence|not enough evidence|no (?:relevant |direct )?evidence|evidence (?:is|was) "
    r"(?:insufficient|lacking|limited|unavailable)|do(?:es)? not (?:answer|address|cover)|cannot (?:be )?answer"
    r"|only partly address(?:es)?|仅部分涉及|没有涉及"
    r"|not (?:a substitute for|medical advice)|clinical judge?ment|consult (?:a|your|the) (?:doctor|physician|clinician|health ?care|specialist|pharmacist|original)|for information only"
    r"|not based on indexed evidence|extractive (?:digest|summary)|quoted (?:verbatim )?from"
    r"|证据不足|没有(?:找到)?(?:相关)?证据|无(?:相关)?证据|仅供参考|请咨询|不能替代",
    re.I,
)


class Embeds(Protocol):
    def embed_queries(self, texts: list[str]) -> np.ndarray: ...

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...


@dataclass
class _Passage:
    evidence: Evidence
    terms: set[str]
    numbers: set[str]
    sentences: list[tuple[set[str], bool]]  # (content terms, negated) per passage sentence


_NEGATION = re.compile(
    r"\b(?:not|no|never|neither|nor|cannot|can't|don't|doesn't|shouldn't|isn't|aren't|against|avoid\w*)\b"
    r"|不(?!良)|禁用|避免|无需|勿",
    re.I,
)


def _passage(e: Evidence) -> _Passage:
    text = _support_text(e)
    sentences = [(content_terms(s), bool(_NEGATION.search(s))) for s in passage_sentences(e.text)]
    return _Passage(e, content_terms(text), numbers(text), sentences)


def _before_citation(sentence: str) -> str:
    """The claim a citation marker closes: the sentence up to its first `[En]`. What follows the
    marker is the digest's annotation (a grade, "(under “Do not treat:”)") or a further quoted
    sentence with its own marker, and must not turn the claim into a negated one."""
    m = CITATION.search(sentence)
    return strip_markup(sentence[: m.start()] if m else sentence)


def _polarity_agrees(claim_terms: set[str], claim_negated: bool, p: _Passage) -> bool:
    """'X is recommended' must not stand on 'X is not recommended': the passage sentence closest
    to the claim has to agree with it on negation."""
    best = max(p.sentences, key=lambda s: len(s[0] & claim_terms), default=None)
    if best is None or not best[0] & claim_terms:
        return True
    return best[1] == claim_negated


def is_heading_or_question(sentence: str) -> bool:
    """Headings, labels ending in a colon and questions: text that asserts nothing."""
    raw = sentence.strip()
    text = strip_markup(raw)
    if not text:
        return True
    if raw.lstrip().startswith("#") or (raw.startswith("**") and raw.rstrip(".:：").endswith("**")):
        return True
    if text.endswith((":", "：")) and not cited_ids(raw):
        return True
    return text.endswith(("?", "？"))


def is_claim(sentence: str) -> bool:
    """False for headings, questions, 'insufficient evidence' statements and disclaimers."""
    return not is_heading_or_question(sentence) and not _NON_CLAIM.search(strip_markup(sentence))


def _support_text(e: Evidence) -> str:
    """What a claim may draw on: the passage plus its own title, section, organisation, year, pages."""
    extra = [e.title, " ".join(e.heading_path), e.organization or "", str(e.year or ""), str(e.page_start), str(e.page_end)]
    return e.text + "\n" + "\n".join(extra)


def _coverage(claim_terms: set[str], passage_terms: set[str]) -> float:
    if not claim_terms:
        return 1.0
    return len(claim_terms & passage_terms) / len(claim_terms)


def check_citations(answer_text: str, evidence: Sequence[Evidence], embedder: Embeds | None = None) -> CitationReport:
    """Check every `[En]` in an answer against the evidence it names."""
    passages = {
        e.evidence_id: _passage(e)
        for e in evidence
        if e.evidence_id
    }
    report = CitationReport()
    claims = 0
    pending: list[tuple[int, str, str]] = []  # (citation index, claim, evidence id) for semantic check

    for sentence in passage_sentences(answer_text or ""):
        if is_heading_or_question(sentence):
            continue
        ids = cited_ids(sentence)
        claim = strip_markup(sentence)
        terms = content_terms(claim)
        if not ids:
            if _NON_CLAIM.search(claim):  # "insufficient evidence", disclaimers: nothing to cite
                continue
            min_terms = MIN_CLAIM_TERMS + 1 if has_cjk(claim) else MIN_CLAIM_TERMS
            if len(terms) >= min_terms:
                claims += 1
                report.uncited_claims.append(claim)
            continue
        claims += 1
        claim_numbers = numbers(claim)
        known = [i for i in ids if i in passages]
        for i in ids:
            if i not in passages and i not in report.unknown_ids:
                report.unknown_ids.append(i)
        union_terms = set().union(*(passages[i].terms for i in known)) if known else set()
        union_numbers = set().union(*(passages[i].numbers for i in known)) if known else set()
        head = _before_citation(sentence)  # the claim itself: the annotation after it ("(under “…”)") chooses nothing
        negated = bool(_NEGATION.search(head))
        agrees = {i: _polarity_agrees(content_terms(head), negated, passages[i]) for i in known}
        union_ok = (
            bool(known) and any(agrees.values()) and claim_numbers <= union_numbers
            and _coverage(terms, union_terms) >= LEXICAL_SUPPORT
        )
        sentence_ok = union_ok
        for i in ids:
            if i not in passages:
                report.citations.append(Citation(evidence_id=i, sentence=claim, known=False, supported=False))
                continue
            p = passages[i]
            cov = _coverage(terms, p.terms)
            numbers_ok = claim_numbers <= p.numbers and agrees[i]
            ok = numbers_ok and (cov >= LEXICAL_SUPPORT or (union_ok and cov >= SEMANTIC_MIN_LEXICAL))
            sentence_ok = sentence_ok or ok
            report.citations.append(Citation(evidence_id=i, sentence=claim, known=True, supported=ok, support_score=round(cov, 3)))
            if not ok and embedder is not None and numbers_ok and cov >= SEMANTIC_MIN_LEXICAL:
                pending.append((len(report.citations) - 1, claim, i))
        if not sentence_ok:
            report.unsupported_sentences.append(claim)

    if embedder is not None and pending:
        _semantic_pass(report, pending, passages, embedder)
    supported_claims = claims - len(report.unsupported_sentences) - len(report.uncited_claims)
    report.support_ratio = round(supported_claims / claims, 4) if claims else 1.0
    return report


def _semantic_pass(report: CitationReport, pending: list[tuple[int, str, str]], passages: dict[str, _Passage], embedder: Embeds) -> None:
    """Paraphrases: a citation that failed the word test passes on high embedding similarity."""
    claims = sorted({c for _, c, _ in pending})
    ids = sorted({i for _, _, i in pending})
    q = np.asarray(embedder.embed_queries(claims), dtype=np.float32)
    p = np.asarray(embedder.embed_passages([passages[i].evidence.text for i in ids]), dtype=np.float32)
    sims = q @ p.T
    for index, claim, eid in pending:
        cos = float(sims[claims.index(claim), ids.index(eid)])
        citation = report.citations[index]
        if cos >= SEMANTIC_SUPPORT:
            report.citations[index] = citation.model_copy(update={"supported": True, "support_score": round(max(cos, citation.support_score), 3)})
            if claim in report.unsupported_sentences:
                report.unsupported_sentences.remove(claim)
