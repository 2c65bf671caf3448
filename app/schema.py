"""What the app adds to the shared schemas: the status report `Assistant.info()` returns."""

from __future__ import annotations

from pydantic import BaseModel, Field


class IndexSummary(BaseModel):
    index_dir: str
    exists: bool
    documents: int = 0
    chunks: int = 0
    pages: int = 0
    by_source_type: dict[str, int] = Field(default_factory=dict)  # source type value -> documents
    by_level: dict[int, int] = Field(default_factory=dict)  # evidence level 1-5 -> documents
    ungraded: int = 0
    embedder: str | None = None
    dim: int | None = None


class GeneratorStatus(BaseModel):
    name: str  # "extractive", "local", "openai"
    label: str  # what writes the answers, e.g. "SmolLM2-135M-Instruct (demo model, not a clinical model)"
    is_demo: bool = False
    loaded: bool = False  # a local model already in memory
    detail: str = ""  # checkpoint path or server URL


class AssistantInfo(BaseModel):
    index: IndexSummary
    generator: GeneratorStatus  # the default generator from settings
    generators: list[str]
    demo_model: bool  # the default generator is the demo model (answers are not clinical advice)
    top_k: int
    data_dir: str
    models_dir: str
