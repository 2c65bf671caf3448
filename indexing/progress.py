"""What the batch pipeline reports: live progress, per-file outcomes and the closing report."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Stage = Literal["scanning", "reading", "embedding", "committing", "pruning", "done"]
Status = Literal["indexed", "unchanged", "failed", "removed"]


class IndexProgress(BaseModel):
    files_done: int
    files_total: int
    pages: int  # pages of the files indexed so far in this run
    chunks: int  # chunks embedded so far in this run
    current_path: str | None = None
    stage: Stage


class FileOutcome(BaseModel):
    path: str
    status: Status
    reason: str | None = None  # why it failed, or why it was not re-read (e.g. same content as another file)
    document_id: str | None = None
    pages: int = 0
    chunks: int = 0


class IndexTotals(BaseModel):
    files: int = 0
    indexed: int = 0
    unchanged: int = 0
    failed: int = 0
    removed: int = 0
    pages: int = 0  # pages indexed in this run
    chunks: int = 0  # chunks embedded in this run
    documents_in_index: int = 0
    chunks_in_index: int = 0


class StageSeconds(BaseModel):
    """Time spent in each stage. Reading, cleaning and annotating run in worker threads beside
    embedding, so these add up to more than the wall time when the overlap works."""

    read: float = 0.0
    clean_chunk: float = 0.0
    annotate: float = 0.0
    embed: float = 0.0
    write: float = 0.0


class IndexReport(BaseModel):
    index_dir: str
    embedder: str
    runner: str = "local"  # where reading..embedding ran: "local", or "ray at ADDRESS"
    generation: int = 0
    indexed: list[FileOutcome] = Field(default_factory=list)
    unchanged: list[FileOutcome] = Field(default_factory=list)
    failed: list[FileOutcome] = Field(default_factory=list)
    removed: list[FileOutcome] = Field(default_factory=list)
    totals: IndexTotals = Field(default_factory=IndexTotals)
    seconds: float = 0.0
    stage_seconds: StageSeconds = Field(default_factory=StageSeconds)

    @property
    def ok(self) -> bool:
        return not self.failed

    def then(self, later: "IndexReport") -> "IndexReport":
        """This run followed by `later` on the same index (`m1e index --demo PATH`: the demo
        corpus, then the user's files) as one report: outcomes and this-run counts add up, the
        index-wide counts and the generation are the later run's, as the index stands at the end."""
        counts = ("files", "indexed", "unchanged", "failed", "removed", "pages", "chunks")
        totals = later.totals.model_copy(update={k: getattr(self.totals, k) + getattr(later.totals, k) for k in counts})
        stages = StageSeconds(**{k: getattr(self.stage_seconds, k) + getattr(later.stage_seconds, k)
                                 for k in StageSeconds.model_fields})
        return later.model_copy(update={
            "indexed": self.indexed + later.indexed, "unchanged": self.unchanged + later.unchanged,
            "failed": self.failed + later.failed, "removed": self.removed + later.removed,
            "totals": totals, "seconds": self.seconds + later.seconds, "stage_seconds": stages})
