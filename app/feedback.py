"""Clinicians' feedback on answers and on single citations, kept locally for governance review.

Each record carries the question, the whole answer (as JSON) and the index generation it was
written against, so a reviewer can see exactly what the clinician saw. `export_jsonl` writes
them as JSON Lines (`m1e feedback export`). The file is `<data_dir>/feedback.sqlite3`.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Literal

from pydantic import BaseModel

from app.local_db import local_db
from evidence.schema import Answer

FEEDBACK_FILE = "feedback.sqlite3"
Verdict = Literal["helpful", "wrong_citation", "outdated", "other"]
VERDICTS: dict[str, str] = {
    "helpful": "Helpful",
    "wrong_citation": "Wrong citation",
    "outdated": "Outdated",
    "other": "Other (see comment)",
}
MAX_COMMENT_CHARS = 4000  # a paragraph or two; longer text is a document, not feedback

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    verdict TEXT NOT NULL,
    evidence_id TEXT,               -- NULL: about the whole answer
    comment TEXT NOT NULL,
    question TEXT NOT NULL,
    history_id INTEGER,
    index_generation INTEGER,
    answer_json TEXT NOT NULL
);
"""


class FeedbackRecord(BaseModel):
    feedback_id: int
    created_at: datetime
    verdict: Verdict
    evidence_id: str | None = None
    comment: str = ""
    question: str
    history_id: int | None = None
    index_generation: int | None = None
    answer: Answer


class FeedbackError(ValueError):
    """Feedback that cannot be stored as given (unknown verdict, unknown evidence id, too long)."""


class FeedbackLog:
    def __init__(self, data_dir: str | Path) -> None:
        self.path = Path(data_dir).expanduser() / FEEDBACK_FILE

    def _connect(self):  # noqa: ANN202 - a context manager of sqlite3.Connection
        return local_db(self.path, _SCHEMA, FeedbackError)

    def add(
        self,
        answer: Answer,
        verdict: str,
        evidence_id: str | None = None,
        comment: str = "",
        history_id: int | None = None,
        index_generation: int | None = None,
    ) -> int:
        if verdict not in VERDICTS:
            raise FeedbackError(f"unknown feedback verdict {verdict!r}: choose one of {', '.join(VERDICTS)}")
        if evidence_id is not None and evidence_id not in {e.evidence_id for e in answer.evidence}:
            raise FeedbackError(f"the answer has no evidence {evidence_id!r}")
        comment = (comment or "").strip()
        if len(comment) > MAX_COMMENT_CHARS:
            raise FeedbackError(f"the comment is {len(comment)} characters long; the limit is {MAX_COMMENT_CHARS}")
        with self._connect() as conn:
            cur = conn.execute(
                "INSERT INTO feedback (created_at, verdict, evidence_id, comment, question, history_id,"
                " index_generation, answer_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (datetime.now(timezone.utc).isoformat(), verdict, evidence_id, comment, answer.question,
                 history_id, index_generation, answer.model_dump_json()),
            )
            return int(cur.lastrowid)

    def records(self) -> list[FeedbackRecord]:
        with self._connect() as conn:
            rows = list(conn.execute("SELECT * FROM feedback ORDER BY id"))
        return [
            FeedbackRecord(
                feedback_id=r["id"], created_at=datetime.fromisoformat(r["created_at"]), verdict=r["verdict"],
                evidence_id=r["evidence_id"], comment=r["comment"], question=r["question"],
                history_id=r["history_id"], index_generation=r["index_generation"],
                answer=Answer.model_validate_json(r["answer_json"]),
            )
            for r in rows
        ]

    def export_jsonl(self, out: IO[str]) -> int:
        """One JSON object per line, oldest first; returns how many were written."""
        count = 0
        for record in self.records():
            out.write(json.dumps(record.model_dump(mode="json"), ensure_ascii=False) + "\n")
            count += 1
        return count
