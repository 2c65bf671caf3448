"""The evidence vocabulary as the store keeps it.

The grader that *computes* these labels lives in `evidence/`; the store only records them, so the
records are defined here, below both, and `indexing/` never imports `evidence/`. Three separate
facts per passage, never merged: source type, evidence level (1-5) and stated grade.
"""

from __future__ import annotations

from enum import Enum, IntEnum
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from indexing.schema import Chunk, Document


class SourceType(str, Enum):
    GUIDELINE = "guideline"
    CONSENSUS = "consensus_statement"
    SYSTEMATIC_REVIEW = "systematic_review"
    RCT = "rct"
    COHORT = "cohort"
    CASE_CONTROL = "case_control"
    CROSS_SECTIONAL = "cross_sectional"
    CASE_SERIES = "case_series"
    NARRATIVE_REVIEW = "narrative_review"
    EXPERT_OPINION = "expert_opinion"
    TEXTBOOK = "textbook"
    OTHER = "other"

    @property
    def label(self) -> str:
        return _SOURCE_TYPE_LABELS[self]


_SOURCE_TYPE_LABELS = {
    SourceType.GUIDELINE: "guideline",
    SourceType.CONSENSUS: "consensus statement",
    SourceType.SYSTEMATIC_REVIEW: "systematic review / meta-analysis",
    SourceType.RCT: "randomised controlled trial",
    SourceType.COHORT: "cohort",
    SourceType.CASE_CONTROL: "case-control",
    SourceType.CROSS_SECTIONAL: "cross-sectional",
    SourceType.CASE_SERIES: "case series / case report",
    SourceType.NARRATIVE_REVIEW: "narrative review",
    SourceType.EXPERT_OPINION: "expert opinion / editorial",
    SourceType.TEXTBOOK: "textbook / reference",
    SourceType.OTHER: "other",
}


class EvidenceLevel(IntEnum):
    """1 is strongest. After Oxford CEBM 2011 and the 6S pyramid."""

    SYSTEMATIC = 1  # SR/MA of RCTs, or evidence-based guideline with graded recommendations
    RANDOMISED = 2  # RCT
    COHORT = 3  # cohort / non-randomised controlled
    OBSERVATIONAL = 4  # case-control, cross-sectional, case series
    OPINION = 5  # expert opinion, consensus without SR, narrative review, mechanism

    @property
    def label(self) -> str:
        return _LEVEL_LABELS[self]


_LEVEL_LABELS = {
    EvidenceLevel.SYSTEMATIC: "Level 1: systematic review / meta-analysis or evidence-based guideline",
    EvidenceLevel.RANDOMISED: "Level 2: randomised controlled trial",
    EvidenceLevel.COHORT: "Level 3: cohort / non-randomised controlled study",
    EvidenceLevel.OBSERVATIONAL: "Level 4: case-control, cross-sectional or case series",
    EvidenceLevel.OPINION: "Level 5: expert opinion, consensus, narrative review or mechanism",
}


class DocumentGrade(BaseModel):
    """Source type and evidence level of one document, with what decided them."""

    source_type: SourceType
    level: EvidenceLevel
    reasons: list[str] = Field(default_factory=list)
    confidence: float = Field(ge=0.0, le=1.0)
    origin: Literal["cues", "metadata", "override"] = "cues"


GradeScheme = Literal["acc_aha", "esc", "grade", "uspstf", "cdc", "nice", "chinese", "other"]


class StatedGrade(BaseModel):
    """A recommendation grade the document itself prints, quoted as printed."""

    scheme: GradeScheme
    quote: str  # the grade text exactly as printed, e.g. "Class I, LOE B-R"
    strength: str | None = None  # normalised strength / class, e.g. "I", "IIa", "strong", "A"
    certainty: str | None = None  # level of evidence / certainty, e.g. "B-R", "moderate", "1"
    direction: Literal["for", "against", "neutral"] | None = None
    recommendation: str = ""  # the recommendation sentence this grade belongs to
    page: int | None = None


@runtime_checkable
class Annotator(Protocol):
    """What the indexing pipeline calls to label documents and chunks (evidence's grader)."""

    def grade_document(self, document: "Document") -> DocumentGrade: ...

    def grade_chunk(self, chunk: "Chunk", document: "Document") -> list[StatedGrade]: ...

