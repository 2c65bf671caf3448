"""Retrieval and digest quality on the demo corpus, scored through the public `app.Assistant` API.

    python bench/retrieval_quality.py --data-dir DIR [--split tuning|heldback|all] [--k 8]
                                      [--show-failures] [--rankers] [--calibrate]

The question set is bench/data/questions/questions.jsonl (see the README there): answerable
questions, each with its gold document, gold passage and gold answer sentence(s), and related
questions the corpus does not answer. The demo corpus is indexed once into `--data-dir` (reused
when an index is already there). For every question the bench calls `Assistant.search()` (ranking
metrics) and `Assistant.ask(..., generator="extractive")` (digest metrics). Prints a table per
split and writes bench/results/retrieval_quality.json.

`--rankers` and `--calibrate` are the older diagnostics on tests/evidence/data/questions.jsonl
(document-level recall of hybrid vs dense-only vs lexical-only retrieval, and the scores the
relevance cut sees); they open the store below the API because `Assistant` does not expose the
single rankers. tests/evidence/test_retrieval.py imports `evaluate` and `load_questions` from here.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
import time
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from evidence.retrieval import Retriever  # noqa: E402
from evidence.schema import Answer, Evidence  # noqa: E402

QUESTIONS = ROOT / "tests" / "evidence" / "data" / "questions.jsonl"
GOLD_QUESTIONS = ROOT / "bench" / "data" / "questions" / "questions.jsonl"
RESULTS = ROOT / "bench" / "results" / "retrieval_quality.json"
CUTOFFS = (1, 3, 8)  # recall@k of the gold passage; 8 is the product's default top_k


# ---- the older document-level set (tests/evidence/data/questions.jsonl) -------------------------


class Question(BaseModel):
    id: str
    lang: str
    question: str
    documents: list[str]  # stable keys: open-medicine guideline id or sample file name
    off_topic: bool = False


class RetrieverScore(BaseModel):
    name: str
    recall: float  # mean over on-topic questions of |expected ∩ top-k documents| / |expected|
    hit: float  # share of on-topic questions with at least one expected document in the top k
    mrr: float  # mean reciprocal rank of the first expected document (0 when absent)
    recall_en: float
    recall_zh: float
    misses: list[str]  # ids of on-topic questions with recall < 1


class QualityReport(BaseModel):
    k: int
    questions: int
    on_topic: int
    off_topic: int
    retrievers: list[RetrieverScore]
    off_topic_abstained: float  # share of off-topic questions for which hybrid search returned nothing
    on_topic_abstained: list[str]  # on-topic questions hybrid search wrongly returned nothing for
    seconds: float


def load_questions(path: Path = QUESTIONS) -> list[Question]:
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                out.append(Question.model_validate_json(line))
            except ValueError as exc:
                raise ValueError(f"{path}:{n}: not a question record ({exc})") from exc
    return out


def document_key(evidence: Evidence) -> str:
    """The stable key of a passage's document: the guideline directory or the sample file name."""
    return Path(evidence.path).name


def _ranked_documents(results: list[Evidence]) -> list[str]:
    keys: list[str] = []
    for e in results:
        key = document_key(e)
        if key not in keys:
            keys.append(key)
    return keys


def _score(name: str, questions: list[Question], runs: dict[str, list[str]]) -> RetrieverScore:
    recalls: dict[str, float] = {}
    hits, rr = [], []
    for q in questions:
        docs = runs[q.id]
        expected = set(q.documents)
        recalls[q.id] = len(expected & set(docs)) / len(expected)
        hits.append(1.0 if expected & set(docs) else 0.0)
        rank = next((i for i, d in enumerate(docs, 1) if d in expected), None)
        rr.append(1.0 / rank if rank else 0.0)

    def mean(values: list[float]) -> float:
        return round(sum(values) / len(values), 4) if values else 0.0

    return RetrieverScore(
        name=name,
        recall=mean(list(recalls.values())),
        hit=mean(hits),
        mrr=mean(rr),
        recall_en=mean([recalls[q.id] for q in questions if q.lang == "en"]),
        recall_zh=mean([recalls[q.id] for q in questions if q.lang == "zh"]),
        misses=[qid for qid, r in recalls.items() if r < 1.0],
    )


def evaluate(retriever: Retriever, questions: list[Question], k: int = 5) -> QualityReport:
    """Recall@k of the three rankers over the documents of the top-k passages."""
    started = time.perf_counter()
    on_topic = [q for q in questions if not q.off_topic]
    off_topic = [q for q in questions if q.off_topic]
    runs: dict[str, dict[str, list[str]]] = {"hybrid": {}, "dense": {}, "lexical": {}}
    abstained_wrongly: list[str] = []
    for q in on_topic:
        hybrid = retriever.search(q.question, k=k)
        if not hybrid:
            abstained_wrongly.append(q.id)
        runs["hybrid"][q.id] = _ranked_documents(hybrid)
        runs["dense"][q.id] = _ranked_documents(retriever.search_dense(q.question, k=k))
        runs["lexical"][q.id] = _ranked_documents(retriever.search_lexical(q.question, k=k))
    abstained = sum(1 for q in off_topic if not retriever.search(q.question, k=k))
    return QualityReport(
        k=k,
        questions=len(questions),
        on_topic=len(on_topic),
        off_topic=len(off_topic),
        retrievers=[_score(name, on_topic, runs[name]) for name in ("hybrid", "dense", "lexical")],
        off_topic_abstained=round(abstained / len(off_topic), 4) if off_topic else 1.0,
        on_topic_abstained=abstained_wrongly,
        seconds=round(time.perf_counter() - started, 2),
    )


def calibration_rows(retriever: Retriever, questions: list[Question], k: int = 5) -> list[dict]:
    """Per question, what the relevance cut sees on the top-k uncut passages: the best cosine and
    the best coverage (IDF-weighted for English, Chinese-term share for Chinese), overall and
    for passages of the expected documents."""
    from indexing.lexical import lexical_tokens
    from indexing.text import has_cjk

    rows = []
    for q in questions:
        results = retriever.search(q.question, k=k, relevance_cut=False)
        terms = set(lexical_tokens(q.question))
        cjk = {t for t in terms if has_cjk(t)}
        weights = {t: 1.0 for t in cjk} if q.lang == "zh" and cjk else retriever._term_weights(terms)
        total = sum(weights.values()) or 1.0

        def coverage(e: Evidence) -> float:
            found = set(lexical_tokens(e.text + "\n" + " ".join(e.heading_path)))
            return round(sum(w for t, w in weights.items() if t in found) / total, 3)

        expected = [e for e in results if document_key(e) in q.documents]
        rows.append({
            "id": q.id,
            "lang": q.lang,
            "off_topic": q.off_topic,
            "max_dense": round(max((e.scores.dense or 0.0) for e in results), 3) if results else 0.0,
            "max_coverage": max((coverage(e) for e in results), default=0.0),
            "expected_dense": round(max(((e.scores.dense or 0.0) for e in expected), default=0.0), 3),
            "expected_coverage": max((coverage(e) for e in expected), default=0.0),
        })
    return rows


def _legacy_table(report: QualityReport) -> str:
    lines = [f"recall@{report.k} on {report.on_topic} on-topic questions ({report.off_topic} off-topic)",
             f"{'retriever':<10} {'recall':>7} {'hit':>6} {'MRR':>6} {'EN':>6} {'ZH':>6}  misses"]
    for r in report.retrievers:
        lines.append(f"{r.name:<10} {r.recall:>7.3f} {r.hit:>6.3f} {r.mrr:>6.3f} {r.recall_en:>6.3f} {r.recall_zh:>6.3f}  {' '.join(r.misses)}")
    lines.append(f"off-topic questions answered 'insufficient evidence': {report.off_topic_abstained:.0%}; "
                 f"on-topic questions wrongly cut: {report.on_topic_abstained or 'none'}")
    return "\n".join(lines)


# ---- the gold question set (bench/data/questions) ------------------------------------------------

QuestionType = Literal[
    "recommendation", "target", "dose", "comparison", "timing", "contraindication", "threshold", "duration", "diagnosis"
]


class Alternative(BaseModel):
    """Another place in the corpus that states the same answer, verbatim."""

    document: str
    passage: str


class GoldQuestion(BaseModel):
    """One line of bench/data/questions/questions.jsonl; the README there says how each was written."""

    id: str
    question: str
    lang: Literal["en", "zh"]
    type: QuestionType
    answerable: bool
    split: Literal["tuning", "heldback"]
    was_heldback_session4: bool = False  # held back until session 4 scored it once; tuning since (README)
    was_heldback_session5: bool = False  # the second held-back batch, scored once in session 5; tuning since
    was_heldback_session6: bool = False  # the third held-back batch, scored once in session 6; tuning since
    was_heldback_session7: bool = False  # the fourth held-back batch, scored once in session 7; tuning since
    was_heldback_session8: bool = False  # the fifth held-back batch, scored once in session 8; tuning since
    # answerable questions
    document: str | None = None  # stable key: open-medicine guideline id, or the sample's file name
    title: str | None = None
    section: str | None = None  # open-medicine section file (its "page"), or the sample's heading
    guideline: bool | None = None  # the gold source is a guideline
    written_here: bool = False  # the gold source is a summary this project wrote (data/samples)
    gold_passage: str | None = None  # verbatim excerpt (markdown emphasis dropped) that must be retrieved
    gold_sentences: list[str] = Field(default_factory=list)  # each one, quoted, answers the question
    # the same answer printed elsewhere (same or another document): counts as the gold passage for
    # passage recall and as a gold sentence for the digest; the document metrics still expect `document`
    alternatives: list[Alternative] = Field(default_factory=list)
    # unanswerable questions
    near_documents: list[str] = Field(default_factory=list)  # documents it shares words and topic with
    unanswerable_kind: Literal["population", "intervention", "timing", "outcome"] | None = None
    unanswerable_reason: str | None = None
    checked_patterns: list[str] = Field(default_factory=list)  # regexes grepped over the whole corpus

    def answer_texts(self) -> list[str]:
        """Every text whose quotation answers the question: the gold sentences and the alternatives."""
        return self.gold_sentences + [a.passage for a in self.alternatives]

    def passages_in(self, document: str) -> list[str]:
        """The answer passages that lie in `document`: the gold passage, the alternatives."""
        own = [self.gold_passage] if document == self.document and self.gold_passage else []
        return own + [a.passage for a in self.alternatives if a.document == document]

    @model_validator(mode="after")
    def _complete(self) -> GoldQuestion:
        if self.answerable:
            needed = {"document": self.document, "title": self.title, "gold_passage": self.gold_passage,
                      "gold_sentences": self.gold_sentences, "guideline": self.guideline is not None}
        else:
            needed = {"near_documents": self.near_documents, "unanswerable_kind": self.unanswerable_kind,
                      "unanswerable_reason": self.unanswerable_reason, "checked_patterns": self.checked_patterns}
        missing = [name for name, value in needed.items() if not value]
        if missing:
            raise ValueError(f"{'answerable' if self.answerable else 'unanswerable'} question lacks {', '.join(missing)}")
        return self


def load_gold(path: Path = GOLD_QUESTIONS) -> list[GoldQuestion]:
    """The gold question set; a bad line or a repeated id is an error naming the file and line."""
    out: list[GoldQuestion] = []
    seen: set[str] = set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            q = GoldQuestion.model_validate_json(line)
        except ValueError as exc:
            raise ValueError(f"{path}:{n}: not a gold question record ({exc})") from exc
        if q.id in seen:
            raise ValueError(f"{path}:{n}: question id {q.id!r} is used twice")
        seen.add(q.id)
        out.append(q)
    return out


def assign_splits(questions: Iterable[GoldQuestion]) -> dict[str, str]:
    """The rule that made the first split (a001-a112, u001-u036): within each stratum (answerable
    or not, question type), questions in id order alternate tuning, heldback, tuning, ... so both
    halves hold every type. That held-back half was scored once (session 4) and then moved to
    tuning (`was_heldback_session4`); the later held-back batches (a113-a157 and u037-u048, scored
    in session 5 and then moved to tuning as `was_heldback_session5`; a158-a213 and u049-u062,
    `was_heldback_session6`; a214-a254 and u063-u074, `was_heldback_session7`; a255-a310 and u075-u087,
    `was_heldback_session8`; now a311-, u088-) are stored
    as such and not made by this rule (README)."""
    strata: dict[tuple[bool, str], list[str]] = defaultdict(list)
    for q in questions:
        strata[(q.answerable, q.type)].append(q.id)
    return {qid: ("tuning" if i % 2 == 0 else "heldback") for ids in strata.values() for i, qid in enumerate(sorted(ids))}


_LIST_MARK = re.compile(r"(?m)^[ \t]*(?:[-*+•>]|#{1,6}|\d{1,2}[.)、])[ \t]+")
_MARKUP = re.compile(r"[*`|\\\s]+")  # a quoted table row's bars are escaped (evidence.digest)


def normalise(text: str) -> str:
    """Text reduced for comparing a quote, a gold sentence and a passage: Unicode NFKC (full-width
    punctuation becomes ASCII), case folded, list/heading/quote markers at line starts, markdown
    emphasis, table bars and all whitespace removed (PDF text breaks lines anywhere, CJK text has
    no spaces to keep)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _MARKUP.sub("", _LIST_MARK.sub("", text))


def holds_passage(passage: str, text: str, min_share: float = 0.9) -> bool:
    """`text` holds the gold passage: it contains it, or (a passage cut by a chunk boundary) a
    contiguous run of at least `min_share` of it. Both arguments are already normalised."""
    if passage in text:
        return True
    match = difflib.SequenceMatcher(None, passage, text, autojunk=False).find_longest_match(0, len(passage), 0, len(text))
    return match.size >= min_share * len(passage)


def quote_matches(quote: str, gold: str, min_share: float = 0.5) -> bool:
    """A quoted sentence is a gold sentence when either contains the other (normalised): the digest
    may quote a longer sentence or list item around the gold one, or one sentence of a gold
    sentence that spans several; a fragment under `min_share` of the gold sentence does not count."""
    return bool(quote and gold) and (gold in quote or (quote in gold and len(quote) >= min_share * len(gold)))


class Quote(BaseModel):
    text: str
    evidence_ids: list[str]


_CITED = re.compile(r"\[(E\d+)\]")
_CITES = re.compile(r"(?:\s*\[E\d+\])+")  # one citation or a run of them ("[E3][E4]")
_SIDE = re.compile(r"^(?:For|Against):\s*")


def digest_quotes(answer: Answer) -> list[Quote]:
    """The sentences an extractive digest quotes, with the evidence ids each cites. The digest
    prints one quote per bullet line, `- <sentence> [E2] (grade) (under “label”)`, a bullet's
    further sentences on the same line each with its own ids (`- <sentence> [E1] <next> [E1]`),
    and conflict lines as `- For: <sentence> [E3]`; every text before a citation is one quote,
    what follows the last citation (grade, scope label) is not. When no such line is found (a
    new format), the cited sentences of the citation check stand in, ids removed. Adapt here if
    the format changes."""
    out = []
    for line in answer.text.splitlines():
        body = line.strip()
        if not body.startswith("- ") or _CITED.search(body) is None:
            continue
        start = 2
        for cites in _CITES.finditer(body):
            text = body[start : cites.start()].strip()
            if start == 2:
                text = _SIDE.sub("", text)
            if text:
                out.append(Quote(text=text, evidence_ids=_CITED.findall(cites.group())))
            start = cites.end()
    if out or not answer.citations:
        return out
    by_sentence: dict[str, list[str]] = {}
    for c in answer.citations:
        by_sentence.setdefault(c.sentence, []).append(c.evidence_id)
    return [Quote(text=re.sub(r"\s+(?=[.;。；])", "", _CITED.sub("", sentence)).strip(" -"), evidence_ids=ids)
            for sentence, ids in by_sentence.items()]


NOT_ADDRESSED_CODES = ("insufficient_evidence",)
NOT_ADDRESSED_WORDING = re.compile(
    r"does not (?:address|answer)|do not (?:address|answer)|insufficient evidence|evidence is insufficient"
    r"|证据不足|未涉及|没有.{0,12}回答",
    re.I,
)


def says_not_addressed(answer: Answer) -> bool:
    """The answer tells the reader that the indexed evidence does not answer the question: the
    `insufficient_evidence` flag, a warning with such a code, or a warning worded that way. Add a
    new warning code to NOT_ADDRESSED_CODES when the pipeline gains one."""
    if answer.insufficient_evidence:
        return True
    return any(w.code in NOT_ADDRESSED_CODES or NOT_ADDRESSED_WORDING.search(w.message) for w in answer.warnings)


# ---- scoring one question through the Assistant ----------------------------------------------------


class QuestionResult(BaseModel):
    id: str
    split: str
    lang: str
    type: str
    answerable: bool
    guideline: bool | None = None
    written_here: bool = False
    passage_rank: int | None = None  # 1-based rank in search() of the first passage holding the gold passage
    document_rank: int | None = None  # 1-based rank of the first passage from the gold document
    ranked_documents: list[str] = Field(default_factory=list)  # document key of each passage search() returned
    not_addressed: bool = False  # the answer says the evidence does not answer the question
    quotes: list[str] = Field(default_factory=list)
    gold_quoted: bool | None = None  # a gold sentence is among the quotes (answerable questions)
    on_question: int = 0  # quotes on the question: answers or from the gold document (quote_on_question)
    answers: int = 0  # quotes that are answers: gold sentences, alternatives, inside the gold passage
    seconds: float = 0.0


def quote_is_answer(quote: Quote, q: GoldQuestion) -> bool:
    """The quote is a gold sentence or alternative, or lies inside the gold passage."""
    text = normalise(quote.text)
    if any(quote_matches(text, normalise(g)) for g in q.answer_texts()):
        return True
    return bool(q.gold_passage and text and text in normalise(q.gold_passage))


def quote_on_question(quote: Quote, q: GoldQuestion, documents: dict[str, str]) -> bool:
    """The quote is an answer (`quote_is_answer`) or cites a passage of the gold document
    (`documents` maps evidence id -> document key): the lenient reading of "on the question"."""
    return quote_is_answer(quote, q) or any(documents.get(eid) == q.document for eid in quote.evidence_ids)


def _ranks(q: GoldQuestion, evidence: Sequence[Evidence]) -> tuple[int | None, int | None]:
    """1-based ranks of the first passage holding the gold passage or an alternative, and of the
    first passage from the gold document."""
    if not q.answerable:
        return None, None
    passage_rank = document_rank = None
    for rank, e in enumerate(evidence, 1):
        key = document_key(e)
        if key == q.document:
            document_rank = document_rank or rank
        wanted = q.passages_in(key)
        if wanted and passage_rank is None:
            text = normalise(e.text)
            if any(holds_passage(normalise(p), text) for p in wanted):
                passage_rank = rank
        if passage_rank and document_rank:
            break
    return passage_rank, document_rank


def score_question(assistant: Any, q: GoldQuestion, k: int) -> QuestionResult:
    """search() for the ranking metrics, ask(generator="extractive") for the digest metrics."""
    started = time.perf_counter()
    evidence = assistant.search(q.question, k=k)
    answer = assistant.ask(q.question, generator="extractive", k=k)
    passage_rank, document_rank = _ranks(q, evidence)
    quotes = digest_quotes(answer)
    documents = {e.evidence_id: document_key(e) for e in answer.evidence}
    result = QuestionResult(
        id=q.id, split=q.split, lang=q.lang, type=q.type, answerable=q.answerable, guideline=q.guideline,
        written_here=q.written_here, passage_rank=passage_rank, document_rank=document_rank,
        ranked_documents=[document_key(e) for e in evidence], not_addressed=says_not_addressed(answer),
        quotes=[x.text for x in quotes],
    )
    if q.answerable:
        golds = [normalise(g) for g in q.answer_texts()]
        result.gold_quoted = any(quote_matches(normalise(x.text), g) for x in quotes for g in golds)
        result.on_question = sum(quote_on_question(x, q, documents) for x in quotes)
        result.answers = sum(quote_is_answer(x, q) for x in quotes)
    result.seconds = round(time.perf_counter() - started, 3)
    return result


# ---- aggregate metrics ------------------------------------------------------------------------------


class GroupScore(BaseModel):
    """Metrics over one split and one group of questions (definitions in the README)."""

    split: str
    group: str  # "all" | "real" (gold written by others: open-medicine) | "zh" (Chinese questions)
    answerable: int
    unanswerable: int
    recall_at: dict[int, float]  # gold passage among the top k passages of search()
    mrr: float  # mean reciprocal rank of the gold passage (0 when not in the top k)
    document_recall: float  # gold document among the top-k passages
    guideline_questions: int
    guideline_first: float | None  # the top passage comes from the gold guideline
    answer_sentence_recall: float  # a gold sentence is quoted by the digest
    digest_precision: float | None  # on-question quotes / all quotes, answerable questions
    digest_precision_strict: float | None  # answer quotes / all quotes, answerable questions
    answered: float  # answerable questions the answer does not call unaddressed
    not_addressed: float | None  # unanswerable questions the answer calls unaddressed
    mean_seconds: float


def _mean(values: Sequence[float]) -> float:
    return round(sum(values) / len(values), 4) if values else 0.0


def group_score(split: str, group: str, results: Sequence[QuestionResult], k: int) -> GroupScore:
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    guideline = [r for r in answerable if r.guideline]
    quoted = sum(len(r.quotes) for r in answerable)
    return GroupScore(
        split=split,
        group=group,
        answerable=len(answerable),
        unanswerable=len(unanswerable),
        recall_at={c: _mean([1.0 if r.passage_rank and r.passage_rank <= c else 0.0 for r in answerable]) for c in CUTOFFS if c <= k},
        mrr=_mean([1.0 / r.passage_rank if r.passage_rank else 0.0 for r in answerable]),
        document_recall=_mean([1.0 if r.document_rank else 0.0 for r in answerable]),
        guideline_questions=len(guideline),
        guideline_first=_mean([1.0 if r.document_rank == 1 else 0.0 for r in guideline]) if guideline else None,
        answer_sentence_recall=_mean([1.0 if r.gold_quoted else 0.0 for r in answerable]),
        digest_precision=round(sum(r.on_question for r in answerable) / quoted, 4) if quoted else None,
        digest_precision_strict=round(sum(r.answers for r in answerable) / quoted, 4) if quoted else None,
        answered=_mean([0.0 if r.not_addressed else 1.0 for r in answerable]),
        not_addressed=_mean([1.0 if r.not_addressed else 0.0 for r in unanswerable]) if unanswerable else None,
        mean_seconds=_mean([r.seconds for r in results]),
    )


GROUPS: dict[str, Callable[[QuestionResult], bool]] = {
    "all": lambda r: True,
    "real": lambda r: not r.answerable or not r.written_here,  # answerable gold written by others
    "zh": lambda r: r.lang == "zh",
}


def score_groups(results: Sequence[QuestionResult], splits: Sequence[str], k: int) -> list[GroupScore]:
    out = []
    for split in splits:
        in_split = [r for r in results if split == "all" or r.split == split]
        for group, keep in GROUPS.items():
            chosen = [r for r in in_split if keep(r)]
            if chosen:
                out.append(group_score(split, group, chosen, k))
    return out


# ---- report --------------------------------------------------------------------------------------


class GoldReport(BaseModel):
    question_set: str
    k: int
    index_documents: int
    index_chunks: int
    groups: list[GroupScore]
    questions: list[QuestionResult]
    seconds: float
    legacy: QualityReport | None = None  # --rankers: the older document-level ranker comparison


def _pct(value: float | None) -> str:
    return "   -" if value is None else f"{value * 100:4.0f}"


def table(report: GoldReport) -> str:
    """One row per split and group; every rate in percent."""
    cut = [c for c in CUTOFFS if c <= report.k]
    head = (f"{'split':<9} {'group':<5} {'ans':>4} {'un':>3} " + " ".join(f"{'R@' + str(c):>4}" for c in cut)
            + f" {'MRR':>5} {'doc':>4} {'G1st':>4} {'sRec':>4} {'sPrc':>4} {'sPrS':>4} {'answ':>4} {'NotA':>4} {'s/q':>5}")
    lines = [f"k={report.k}; {report.index_documents} documents, {report.index_chunks} chunks; rates in %", head]
    for g in report.groups:
        lines.append(
            f"{g.split:<9} {g.group:<5} {g.answerable:>4} {g.unanswerable:>3} "
            + " ".join(_pct(g.recall_at[c]) for c in cut)
            + f" {g.mrr:5.3f} {_pct(g.document_recall)} {_pct(g.guideline_first)} {_pct(g.answer_sentence_recall)}"
            f" {_pct(g.digest_precision)} {_pct(g.digest_precision_strict)} {_pct(g.answered)} {_pct(g.not_addressed)} {g.mean_seconds:5.2f}"
        )
    lines.append("R@k gold passage in top k · doc gold document in top k · G1st gold guideline ranked first · "
                 "sRec gold sentence quoted · sPrc quotes on the question (answer or gold document) · sPrS quotes that are answers · answ answerable not called unaddressed · "
                 "NotA unanswerable called unaddressed")
    return "\n".join(lines)


def failures(results: Sequence[QuestionResult], questions: Sequence[GoldQuestion]) -> str:
    """What went wrong per question: a missed gold passage or sentence, a wrong abstention, an
    unanswerable question answered with quotes."""
    by_id = {q.id: q for q in questions}
    lines = []
    for r in results:
        q = by_id[r.id]
        if r.answerable:
            problems = [p for p, bad in (("passage not in top k", r.passage_rank is None),
                                         ("gold sentence not quoted", not r.gold_quoted),
                                         ("called unaddressed", r.not_addressed)) if bad]
        else:
            problems = [] if r.not_addressed else ["answered, not called unaddressed"]
        if not problems:
            continue
        lines.append(f"{r.id} [{r.split}, {r.type}] {q.question}\n    problems: {'; '.join(problems)}")
        lines.append(f"    gold: {q.document} (passage rank {r.passage_rank}, document rank {r.document_rank})" if r.answerable
                     else f"    why unanswerable ({q.unanswerable_kind}): {q.unanswerable_reason}")
        lines.append(f"    ranked: {', '.join(r.ranked_documents[:5])}")
        lines.extend(f"    quoted: {text[:160]}" for text in r.quotes[:4])
    return "\n".join(lines) if lines else "no failures"


def ensure_demo_index(assistant: Any) -> Any:
    """Index the demo corpus into the assistant's data dir unless an index is already there."""
    summary = assistant.index_summary()
    if summary.exists and summary.documents:
        return summary
    print(f"indexing the demo corpus into {assistant.index_dir} (once; reused by later runs) ...", flush=True)
    report = assistant.index_demo()
    if report.failed:
        raise RuntimeError("demo corpus did not index cleanly: " + "; ".join(f"{f.path}: {f.reason}" for f in report.failed))
    return assistant.index_summary()


def _legacy(assistant: Any, k: int, calibrate: bool) -> QualityReport:
    """The older diagnostics (document-level ranker comparison, relevance-cut scores) on
    tests/evidence/data/questions.jsonl; they need the single rankers, which only the store has."""
    from indexing.store import IndexStore

    retriever = Retriever(IndexStore.open(assistant.index_dir), assistant.embedder)
    questions = load_questions()
    report = evaluate(retriever, questions, k=k)
    print(_legacy_table(report))
    if calibrate:
        print(f"\n{'id':<5} {'lang':<4} {'off':<4} {'maxdense':>8} {'maxcov':>7} {'expdense':>8} {'expcov':>7}")
        for row in calibration_rows(retriever, questions, k=k):
            print(f"{row['id']:<5} {row['lang']:<4} {str(row['off_topic'])[0]:<4} {row['max_dense']:>8} {row['max_coverage']:>7} "
                  f"{row['expected_dense']:>8} {row['expected_coverage']:>7}")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="the Assistant's data dir; the demo index is built there once")
    parser.add_argument("--split", choices=("tuning", "heldback", "all"), default="tuning")
    parser.add_argument("--k", type=int, default=8, help="passages per search (recall@k is reported for k in 1, 3, 8 up to this)")
    parser.add_argument("--questions", type=Path, default=GOLD_QUESTIONS)
    parser.add_argument("--show-failures", action="store_true")
    parser.add_argument("--rankers", action="store_true", help="also the older hybrid/dense/lexical comparison (recall@5)")
    parser.add_argument("--calibrate", action="store_true", help="with --rankers: the scores the relevance cut sees")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    from app import Assistant

    started = time.perf_counter()
    assistant = Assistant(data_dir=args.data_dir)
    summary = ensure_demo_index(assistant)
    all_questions = load_gold(args.questions)
    questions = [q for q in all_questions if args.split == "all" or q.split == args.split]
    results = [score_question(assistant, q, k=args.k) for q in questions]
    splits = ["tuning", "heldback", "all"] if args.split == "all" else [args.split]
    report = GoldReport(
        question_set=str(args.questions.relative_to(ROOT) if args.questions.is_relative_to(ROOT) else args.questions),
        k=args.k, index_documents=summary.documents, index_chunks=summary.chunks,
        groups=score_groups(results, splits, args.k), questions=results, seconds=0.0,
    )
    print(table(report))
    if args.show_failures:
        print("\n" + failures(results, questions))
    if args.rankers or args.calibrate:
        report.legacy = _legacy(assistant, k=5, calibrate=args.calibrate)
    report.seconds = round(time.perf_counter() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
