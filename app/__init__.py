"""m1-evidence's Python API: `Assistant` and the records it returns.

    from app import Assistant, SearchFilters
    assistant = Assistant()                     # settings from M1E_* variables / m1e.toml
    answer = assistant.ask("Target HbA1c in type 2 diabetes?")
    print(answer.text); [print(e.evidence_id, e.title, e.pages) for e in answer.evidence]
"""

from __future__ import annotations

from app.assistant import Assistant, AssistantError
from app.generators import GenerationError
from app.schema import AssistantInfo, GeneratorStatus, IndexSummary
from app.settings import Settings, SettingsError, load_settings
from evidence.schema import (
    Answer,
    AnswerWarning,
    Citation,
    CitationReport,
    Conflict,
    Evidence,
    RetrievalScores,
    SearchFilters,
)
from indexing.labels import DocumentGrade, EvidenceLevel, SourceType, StatedGrade

__all__ = [
    "Answer",
    "AnswerWarning",
    "Assistant",
    "AssistantError",
    "AssistantInfo",
    "Citation",
    "CitationReport",
    "Conflict",
    "DocumentGrade",
    "Evidence",
    "EvidenceLevel",
    "GenerationError",
    "GeneratorStatus",
    "IndexSummary",
    "RetrievalScores",
    "SearchFilters",
    "Settings",
    "SettingsError",
    "SourceType",
    "StatedGrade",
    "load_settings",
]
