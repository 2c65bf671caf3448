"""What the evidence module hands to the app and the API returns: evidence, citations, answers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from indexing.labels import DocumentGrade, EvidenceLevel, SourceType, StatedGrade


class SearchFilters(BaseModel):
    source_types: list[SourceType] | None = None
    year_min: int | None = None
    year_max: int | None = None
    # Keep only evidence at least this strong (level number <= min_level; 1 is strongest).
    min_level: EvidenceLevel | None = None
    document_ids: list[str] | None = None


class RetrievalScores(BaseModel):
    fused: float  # reciprocal-rank fusion score
    dense: float | None = None  # cosine similarity, when the dense retriever found it
    lexical: float | None = None  # BM25 score, when the lexical retriever found it
    dense_rank: int | None = None
    lexical_rank: int | None = None
    # How well the passage's subject (document title, section headings, passage) matches the
    # question's subject, 0..1 (evidence.retrieval.subject_score); None when not computed.
    subject: float | None = None
    # The ranking score: fused rank and subject together (evidence.retrieval); None: use `fused`.
    relevance: float | None = None
    # False when other retrieved passages match the question's subject clearly better: such a
    # passage only shares words with the question and is listed after those that match.
    on_subject: bool = True


class Evidence(BaseModel):
    """One graded passage, citable to its pages."""

    evidence_id: str = ""  # "E1", "E2", ... assigned in the order shown to the model
    chunk_id: str
    document_id: str
    text: str
    page_start: int
    page_end: int
    heading_path: list[str] = Field(default_factory=list)
    title: str
    path: str = ""
    year: int | None = None
    organization: str | None = None
    doi: str | None = None
    grade: DocumentGrade | None = None
    stated_grades: list[StatedGrade] = Field(default_factory=list)
    scores: RetrievalScores | None = None
    merged_chunk_ids: list[str] = Field(default_factory=list)  # near-duplicates folded into this one

    @property
    def pages(self) -> str:
        return str(self.page_start) if self.page_start == self.page_end else f"{self.page_start}-{self.page_end}"


class Citation(BaseModel):
    """One `[En]` in an answer sentence, and whether the cited passage supports the sentence."""

    evidence_id: str
    sentence: str
    known: bool  # the id names evidence that was given to the generator
    supported: bool
    support_score: float = 0.0


class CitationReport(BaseModel):
    citations: list[Citation] = Field(default_factory=list)
    unknown_ids: list[str] = Field(default_factory=list)
    unsupported_sentences: list[str] = Field(default_factory=list)
    uncited_claims: list[str] = Field(default_factory=list)
    support_ratio: float = 1.0  # supported cited claims / all claims (cited or not)


class Conflict(BaseModel):
    """Opposite recommendations about the same intervention in different documents."""

    topic: str
    for_ids: list[str]  # evidence ids that recommend it
    against_ids: list[str]  # evidence ids that recommend against it
    note: str = ""


class AnswerWarning(BaseModel):
    code: Literal[
        "demo_model",
        "insufficient_evidence",
        "unsupported_claims",
        "uncited_claims",
        "unknown_citations",
        "conflicting_evidence",
        "context_truncated",
        "generation_cancelled",
        "plain_mode",
        "not_addressed",  # the evidence is on the topic but does not answer the question asked
        "partial_answer",  # the quoted sentences leave part of the question unaddressed
        "instruction_like_text",  # a retrieved passage reads like instructions (prompt injection)
        "other",
    ]
    message: str


class Answer(BaseModel):
    question: str
    mode: Literal["evidence", "plain"] = "evidence"
    generator: str  # "extractive", "local", "openai"
    model_label: str = ""  # what wrote it, e.g. "extractive digest", "SmolLM2-135M-Instruct (demo model)"
    text: str
    citations: list[Citation] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)
    checks: CitationReport | None = None
    conflicts: list[Conflict] = Field(default_factory=list)
    insufficient_evidence: bool = False
    warnings: list[AnswerWarning] = Field(default_factory=list)
    timings: dict[str, float] = Field(default_factory=dict)  # seconds: retrieval, generation, checks, total

    def to_markdown(self, totals: dict[str, int] | None = None) -> str:
        """The answer with its evidence table, passages and warnings (see evidence.export)."""
        from evidence.export import answer_to_markdown

        return answer_to_markdown(self, totals)
