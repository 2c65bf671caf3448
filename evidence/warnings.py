"""Every warning an answer can carry, worded in one place.

The stages only record facts (`WarningFacts`): which passages did not fit, which read like
instructions, whether the generator was cut off, what the citation check found. `word_warnings`
turns those facts into the sentences a clinician reads, in a fixed order (what wrote the answer,
then whether the evidence answers the question, then what the checks found), so the CLI, the
UI, the API and the prompt plan never word the same fact twice or differently.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from evidence.schema import AnswerWarning, CitationReport, Conflict

DEMO_WARNING = (
    "Written by {label}. It is a small demo model that proves the runtime works offline; it is "
    "not a clinical model and its answers are not medical advice. Check every claim against the "
    "cited evidence."
)
PLAIN_WARNING = (
    "Plain mode: the model answered from its own training, not from the indexed evidence. "
    "Nothing in this answer is cited or checked."
)


class WarningFacts(BaseModel):
    """What the stages found that a reader must be told; no wording here."""

    demo_label: str | None = None  # the demo model wrote the answer
    plain_mode: bool = False
    no_evidence: bool = False  # retrieval found nothing relevant (or nothing is indexed)
    no_room: bool = False  # not even the strongest passage fits the model's context
    trimmed_ids: list[str] = Field(default_factory=list)  # shortened at a sentence boundary
    left_out: int = 0  # passages that did not fit the context
    retrieved: int = 0  # passages retrieved before fitting
    instruction_ids: list[str] = Field(default_factory=list)  # passages that read like instructions
    generator_insufficient: bool = False  # the answer says the evidence is insufficient
    not_addressed: str | None = None  # the evidence is on topic but does not address this
    partly: str | None = None  # the answer's line saying what its quotes do not cover
    cancelled: bool = False
    finish_reason: str | None = None
    problem: str | None = None  # the generator's own account of an early stop
    max_new_tokens: int = 0
    empty_answer: bool = False
    checks: CitationReport | None = None
    conflicts: list[Conflict] = Field(default_factory=list)


def word_warnings(f: WarningFacts) -> list[AnswerWarning]:
    """The warnings for these facts, each worded once, most important first."""
    out: list[AnswerWarning] = []

    def add(code: str, message: str) -> None:
        if not any(w.code == code and w.message == message for w in out):
            out.append(AnswerWarning(code=code, message=message))  # type: ignore[arg-type]

    if f.demo_label:
        add("demo_model", DEMO_WARNING.format(label=f.demo_label))
    if f.plain_mode:
        add("plain_mode", PLAIN_WARNING)
    if f.no_evidence:
        add("insufficient_evidence", "No relevant evidence was found in the index.")
    if f.not_addressed:
        add("not_addressed", f"The retrieved evidence is on the topic but does not address {f.not_addressed}; nothing was quoted as an answer.")
    elif f.partly:
        add("partial_answer", f"{f.partly.rstrip('.')} The quoted sentences are the closest the evidence comes.")
    elif f.generator_insufficient and not f.no_evidence:
        add("insufficient_evidence", "The retrieved passages do not answer this question.")
    for eid in f.trimmed_ids:
        add("context_truncated", f"{eid} was shortened at a sentence boundary to fit the model's context.")
    if f.left_out:
        add("context_truncated", f"{f.left_out} of {f.retrieved} evidence passages (the weakest) did not fit the model's context and were left out.")
    if f.no_room:
        add("insufficient_evidence", "No evidence passage fits in the model's context.")
    if f.instruction_ids:
        add("instruction_like_text", f"{', '.join(f.instruction_ids)} {'contains' if len(f.instruction_ids) == 1 else 'contain'} text that reads like instructions to the reader or to a model "
            "(e.g. \"ignore previous instructions\", \"the correct answer is\"); it was treated as quoted data and never quoted as an answer. "
            "Check where that document came from.")
    if f.cancelled:
        add("generation_cancelled", "Generation was stopped before the answer was complete.")
    elif f.finish_reason == "length":
        add("other", f"The answer reached the limit of {f.max_new_tokens} new tokens and may be cut off (max_new_tokens).")
    elif f.problem:
        add("other", f.problem)
    elif f.finish_reason not in (None, "stop", "cancelled"):
        add("other", f"The generator stopped early ({f.finish_reason}); the answer may be incomplete.")
    if f.empty_answer and not f.cancelled:
        add("other", "The generator returned an empty answer.")
    _check_warnings(f.checks, add)
    if f.conflicts:
        add("conflicting_evidence", "The evidence disagrees: " + "; ".join(
            f"{c.topic}: {', '.join(c.for_ids)} for, {', '.join(c.against_ids)} against" + (f" ({c.note})" if c.note else "")
            for c in f.conflicts))
    return out


def _check_warnings(report: CitationReport | None, add) -> None:  # type: ignore[no-untyped-def]
    if report is None:
        return
    if report.unknown_ids:
        add("unknown_citations", f"The answer cites evidence that was not given to the model: {', '.join(report.unknown_ids)}.")
    if report.unsupported_sentences:
        add("unsupported_claims", f"{len(report.unsupported_sentences)} cited sentence(s) are not supported by the passage they cite.")
    if report.uncited_claims:
        add("uncited_claims", f"{len(report.uncited_claims)} sentence(s) make a claim without citing any evidence.")
