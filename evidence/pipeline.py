"""The ask pipeline as four typed stages: retrieve → plan → generate → check.

Each stage takes the record the one before returned. Evidence ids are given once, in `retrieve`
(by `evidence.prompt.number_evidence`), and no later stage renumbers: the passage that is E3 in
`Assistant.search` is E3 in the prompt, in the digest, in the answer and on the UI's cards.
`generate` treats every generator alike (the extractive digest is one); `check` looks at the
text that came back and records facts, and `evidence.warnings.word_warnings` words them.
`app.Assistant.stream` composes the stages; the CLI, the UI and the benchmarks call `Assistant`.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from evidence.schema import Answer, CitationReport, Conflict, Evidence, SearchFilters
from evidence.instructions import reads_as_instruction
from evidence.warnings import WarningFacts, word_warnings

Mode = Literal["evidence", "plain"]

INSUFFICIENT_TEXT = (
    "The indexed evidence is insufficient to answer this question: no passage in the index is "
    "relevant to it{filtered}. No answer was generated. Index guidelines or papers that cover "
    "this topic{loosen}, then ask again."
)
EMPTY_INDEX_TEXT = (
    "The indexed evidence is insufficient to answer this question: nothing is indexed yet. "
    "No answer was generated. Index guidelines or papers first (`m1e index PATH`, or the "
    "Library page of the web UI), then ask again."
)
NO_ROOM_TEXT = (
    "No answer was generated: not even the strongest evidence passage fits in the model's context "
    "({context} tokens, of which {reserve} are kept for the answer). Use a model with a longer "
    "context or lower max_new_tokens."
)
NOT_ADDRESSED_EN = "The indexed evidence does not address"
NOT_ADDRESSED_ZH = "已索引的证据没有涉及"
PARTLY_EN = "The indexed evidence only partly addresses"
PARTLY_ZH = "已索引的证据仅部分涉及"


class Writer(Protocol):
    """What the stages need of an answer generator (`app.generators.AnswerGenerator`)."""

    name: str
    uses_prompt: bool

    @property
    def label(self) -> str: ...

    @property
    def is_demo(self) -> bool: ...

    @property
    def context_tokens(self) -> int: ...

    def count_tokens(self, text: str) -> int: ...

    def render_chat(self, messages: list[dict[str, str]]) -> str: ...

    def stream(self, request: Any, cancel: threading.Event | None = None) -> Iterator[str]: ...


class Searcher(Protocol):
    def search(self, question: str, k: int = 8, filters: SearchFilters | None = None) -> list[Evidence]: ...


class Retrieved(BaseModel):
    """Stage 1: the question, its filters and the ranked evidence, numbered E1.. once for all."""

    question: str
    filters: SearchFilters | None = None
    k: int
    evidence: list[Evidence] = Field(default_factory=list)
    index_exists: bool = True
    seconds: float = 0.0


class Plan(BaseModel):
    """Stage 2: what the generator is given (ids as retrieved) and what was left out."""

    question: str
    mode: Mode
    evidence: list[Evidence] = Field(default_factory=list)  # given to the generator, ids unchanged
    left_out: list[Evidence] = Field(default_factory=list)  # retrieved but did not fit the context
    trimmed_ids: list[str] = Field(default_factory=list)  # shortened at a sentence boundary to fit
    instruction_ids: list[str] = Field(default_factory=list)  # passages that read like instructions
    conflicts: list[Conflict] = Field(default_factory=list)
    messages: list[dict[str, str]] = Field(default_factory=list)  # the fitted chat prompt (empty for the digest)
    prompt_tokens: int = 0
    refusal: str | None = None  # set when no generator may be called: the answer text instead
    seconds: float = 0.0


class Generated(BaseModel):
    """Stage 3: the text as streamed, and how the generator stopped."""

    text: str
    generator: str
    model_label: str
    called: bool = True  # False when the plan refused and no generator ran
    finish_reason: str | None = None
    problem: str | None = None  # what went wrong on the way (a server stream cut before [DONE], a deadline)
    cancelled: bool = False
    seconds: float = 0.0


class Checked(BaseModel):
    """Stage 4: what the checks found, and the warnings worded from it."""

    report: CitationReport | None = None
    insufficient: bool = False
    not_addressed: bool = False
    warnings: list = Field(default_factory=list)  # list[AnswerWarning]
    seconds: float = 0.0


def retrieve(searcher: Searcher | None, question: str, k: int, filters: SearchFilters | None = None) -> Retrieved:
    """Ranked, graded, numbered evidence; `searcher` None means nothing is indexed yet."""
    from evidence.prompt import number_evidence

    started = time.perf_counter()
    found = searcher.search(question, k=k, filters=filters) if searcher is not None else []
    return Retrieved(question=question, filters=filters, k=k, evidence=number_evidence(found),
                     index_exists=searcher is not None, seconds=time.perf_counter() - started)


def plan(retrieved: Retrieved, mode: Mode, writer: Writer, reserve_tokens: int) -> Plan:
    """Fit the evidence to the generator (a prompt for a language model, all of it for the digest)."""
    from evidence.conflicts import find_conflicts
    from evidence.prompt import build_prompt

    started = time.perf_counter()
    out = Plan(question=retrieved.question, mode=mode)
    if mode == "evidence" and not retrieved.evidence:
        out.refusal = _nothing_found_text(retrieved)
        return out
    used = retrieved.evidence if mode == "evidence" else []
    if writer.uses_prompt:
        prompt = build_prompt(retrieved.question, used, mode=mode, count_tokens=writer.count_tokens,
                              render_chat=writer.render_chat, context_tokens=writer.context_tokens,
                              reserve_tokens=reserve_tokens)
        out.messages, out.prompt_tokens = list(prompt.messages), prompt.prompt_tokens
        used, out.left_out = list(prompt.evidence_used), list(prompt.dropped)
        out.trimmed_ids = [e.evidence_id for e in used if e.text != _by_id(retrieved.evidence)[e.evidence_id].text]
        if mode == "evidence" and not used:  # not even the strongest passage fits: do not guess
            out.refusal = NO_ROOM_TEXT.format(context=writer.context_tokens, reserve=reserve_tokens)
    out.evidence = used
    out.instruction_ids = [e.evidence_id for e in retrieved.evidence if reads_as_instruction(e.text)]
    out.conflicts = list(find_conflicts(used)) if mode == "evidence" and used else []
    out.seconds = time.perf_counter() - started
    return out


def generate(planned: Plan, writer: Writer, request: Any, cancel: threading.Event | None = None) -> Iterator[str]:
    """Stream the answer's text; returns (via `yield from`) the `Generated` record.

    `request` is the generator's request (app.generators.GenerationRequest) built from the plan;
    a refused plan streams its refusal text and calls no generator."""
    started = time.perf_counter()
    if planned.refusal is not None:
        yield planned.refusal
        return Generated(text=planned.refusal, generator=writer.name, model_label="no generator was called", called=False)
    pieces: list[str] = []
    for piece in writer.stream(request, cancel):
        pieces.append(piece)
        yield piece
    cancelled = cancel is not None and cancel.is_set()
    return Generated(text="".join(pieces).strip(), generator=writer.name, model_label=writer.label,
                     finish_reason=getattr(request, "finish_reason", None), problem=getattr(request, "problem", None),
                     cancelled=cancelled,
                     seconds=time.perf_counter() - started)


def check(retrieved: Retrieved, planned: Plan, generated: Generated, writer: Writer, *,
          max_new_tokens: int = 0, embedder: Any = None) -> Checked:
    """Citations exist and are supported, uncited claims, verdicts; then every warning, worded once."""
    from evidence.citations import check_citations

    started = time.perf_counter()
    out = Checked()
    evidence_mode = planned.mode == "evidence"
    text = generated.text
    if evidence_mode and text and generated.called:
        out.report = check_citations(text, planned.evidence, embedder=embedder)
    out.not_addressed = evidence_mode and says_not_addressed(text)
    out.insufficient = evidence_mode and (not generated.called or out.not_addressed or says_insufficient(text))
    facts = WarningFacts(
        demo_label=writer.label if writer.is_demo and generated.called else None,
        plain_mode=planned.mode == "plain",
        no_evidence=evidence_mode and not retrieved.evidence,
        no_room=evidence_mode and bool(retrieved.evidence) and not planned.evidence and planned.refusal is not None,
        trimmed_ids=planned.trimmed_ids, left_out=len(planned.left_out), retrieved=len(retrieved.evidence),
        instruction_ids=planned.instruction_ids if evidence_mode else [],
        generator_insufficient=out.insufficient and generated.called,
        not_addressed=_what_is_not_addressed(text) if out.not_addressed else None,
        partly=_partly_line(text) if evidence_mode else None,
        cancelled=generated.cancelled, finish_reason=generated.finish_reason, problem=generated.problem,
        max_new_tokens=max_new_tokens,
        empty_answer=evidence_mode and generated.called and not text,
        checks=out.report, conflicts=planned.conflicts,
    )
    out.warnings = word_warnings(facts)
    out.seconds = time.perf_counter() - started
    return out


def assemble(retrieved: Retrieved, planned: Plan, generated: Generated, checked: Checked, timings: dict[str, float]) -> Answer:
    """The `Answer` the API returns, from the four records."""
    evidence_mode = planned.mode == "evidence"
    return Answer(
        question=retrieved.question,
        mode=planned.mode,
        generator=generated.generator,
        model_label=generated.model_label,
        text=generated.text,
        citations=list(checked.report.citations) if checked.report else [],
        evidence=planned.evidence if evidence_mode else retrieved.evidence,
        checks=checked.report,
        conflicts=planned.conflicts,
        insufficient_evidence=checked.insufficient,
        warnings=checked.warnings,
        timings=timings,
    )


def says_insufficient(text: str) -> bool:
    """The answer opens by saying the evidence does not answer the question."""
    head = text.lstrip(" *_#>").lower()
    return head.startswith(("insufficient evidence", "证据不足", "the indexed evidence is insufficient")) or says_not_addressed(text)


def says_not_addressed(text: str) -> bool:
    head = text.lstrip(" *_#>")
    return head.startswith((NOT_ADDRESSED_EN, NOT_ADDRESSED_ZH))


def _what_is_not_addressed(text: str) -> str:
    """'the indexed evidence does not address X.' -> 'X' (for the warning)."""
    head = text.lstrip(" *_#>").split("\n", 1)[0]
    for lead in (NOT_ADDRESSED_EN, NOT_ADDRESSED_ZH):
        if head.startswith(lead):
            rest = re.split(r"(?<=[.。])\s|[:：]", head[len(lead):].strip(), maxsplit=1)[0]
            return rest.rstrip(".。") or "this question"
    return "this question"


def _partly_line(text: str) -> str | None:
    """The answer's own 'only partly addresses ...' line, when it has one."""
    for line in text.splitlines():
        line = line.strip(" *_#>")
        if line.startswith((PARTLY_EN, PARTLY_ZH)):
            return line
    return None


def _nothing_found_text(retrieved: Retrieved) -> str:
    if not retrieved.index_exists:
        return EMPTY_INDEX_TEXT
    f = retrieved.filters
    filtered = f is not None and any(v for v in f.model_dump().values())
    return INSUFFICIENT_TEXT.format(filtered=" under the chosen filters" if filtered else "",
                                    loosen=" or loosen the filters" if filtered else "")


def _by_id(evidence: list[Evidence]) -> dict[str, Evidence]:
    return {e.evidence_id: e for e in evidence}

