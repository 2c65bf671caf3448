"""Every question and answer, kept locally in SQLite so a clinician can reopen it later.

An answer is stored once, as the JSON of its `Answer`, and never updated: its evidence keeps the
document's content hash (`document_id`), the pages and the quoted passage text as they were
when the answer was written. Reopening shows exactly that, and `source_states` compares each
cited document with the index *now*, so an answer whose source was re-indexed with new content
or removed says so instead of silently pointing at a different passage.

The file is `<data_dir>/history.sqlite3`; one connection per call, so any thread may use it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from app.local_db import local_db
from evidence.schema import Answer

HISTORY_FILE = "history.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    asked TEXT NOT NULL,             -- what the user typed (a follow-up may be short)
    question TEXT NOT NULL,          -- the standalone question that was answered
    conversation_id TEXT,
    index_generation INTEGER,
    answer_json TEXT NOT NULL        -- the Answer as written; never updated
);
CREATE INDEX IF NOT EXISTS answers_conversation ON answers(conversation_id);
"""


class HistoryEntry(BaseModel):
    entry_id: int
    created_at: datetime
    asked: str
    question: str
    conversation_id: str | None = None
    index_generation: int | None = None
    answer: Answer


class SourceState(BaseModel):
    """How one cited document stands in the index now, compared with when it was cited."""

    evidence_id: str
    status: Literal["current", "changed", "removed"]
    message: str = ""


class History:
    """The local question-and-answer history under one data directory."""

    def __init__(self, data_dir: str | Path) -> None:
        self.path = Path(data_dir).expanduser() / HISTORY_FILE

    def _connect(self):  # noqa: ANN202 - a context manager of sqlite3.Connection
        return local_db(self.path, _SCHEMA, HistoryError)

    def add(
        self,
        answer: Answer,
        asked: str | None = None,
        conversation_id: str | None = None,
        index_generation: int | None = None,
    ) -> int:
        """Store an answer; returns its entry id."""
        now = datetime.now(timezone.utc).isoformat()
        with self._connect() as conn:
            cur = conn.execute(
                "INSERT INTO answers (created_at, asked, question, conversation_id, index_generation, answer_json)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (now, asked or answer.question, answer.question, conversation_id, index_generation, answer.model_dump_json()),
            )
            return int(cur.lastrowid)

    def entries(self, limit: int | None = None, conversation_id: str | None = None) -> list[HistoryEntry]:
        """Newest first (or, for one conversation, in the order asked)."""
        sql = "SELECT * FROM answers"
        params: list[Any] = []
        if conversation_id is not None:
            sql += " WHERE conversation_id = ? ORDER BY id ASC"
            params.append(conversation_id)
        else:
            sql += " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        with self._connect() as conn:
            conn.row_factory = sqlite3.Row
            return [_entry(row) for row in conn.execute(sql, params)]

    def get(self, entry_id: int) -> HistoryEntry:
        with self._connect() as conn:
            conn.row_factory = sqlite3.Row
            row = conn.execute("SELECT * FROM answers WHERE id = ?", (int(entry_id),)).fetchone()
        if row is None:
            raise HistoryError(f"no history entry {entry_id}")
        return _entry(row)

    def delete(self, entry_id: int) -> None:
        with self._connect() as conn:
            if conn.execute("DELETE FROM answers WHERE id = ?", (int(entry_id),)).rowcount == 0:
                raise HistoryError(f"no history entry {entry_id}")

    def clear(self) -> int:
        """Delete every entry; returns how many there were."""
        with self._connect() as conn:
            return int(conn.execute("DELETE FROM answers").rowcount)


class HistoryError(ValueError):
    """An entry that does not exist, or a history file that cannot be read."""


def _entry(row: sqlite3.Row) -> HistoryEntry:
    return HistoryEntry(
        entry_id=row["id"],
        created_at=datetime.fromisoformat(row["created_at"]),
        asked=row["asked"],
        question=row["question"],
        conversation_id=row["conversation_id"],
        index_generation=row["index_generation"],
        answer=Answer.model_validate_json(row["answer_json"]),
    )


def source_states(answer: Answer, documents: Iterable[Any]) -> dict[str, SourceState]:
    """Each evidence item's document compared with the indexed `documents` (records with
    `document_id`, `path` and optionally `paths`).

    The document id is the hash of the content, so the same id still indexed means the cited
    passage is still in the source word for word. The same file now indexed under another id
    means the source was changed since; neither means it was removed from the index.
    """
    ids = set()
    paths = set()
    for record in documents:
        ids.add(record.document_id)
        paths.update(str(p) for p in [record.path, *(getattr(record, "paths", None) or [])] if p)
    states = {}
    for item in answer.evidence:
        if item.document_id in ids:
            states[item.evidence_id] = SourceState(evidence_id=item.evidence_id, status="current")
        elif item.path and item.path in paths:
            states[item.evidence_id] = SourceState(
                evidence_id=item.evidence_id,
                status="changed",
                message="This source has changed since the answer was written: the passage shown is the text "
                "that was cited then, and may no longer be in the current version.",
            )
        else:
            states[item.evidence_id] = SourceState(
                evidence_id=item.evidence_id,
                status="removed",
                message="This source has been removed from the index since the answer was written: the passage "
                "shown is the text that was cited then.",
            )
    return states
