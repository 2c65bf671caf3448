"""Does the answer answer the question asked? Scores `Assistant.ask` on tests/evidence/data/answering.jsonl.

    python -m tests.evidence.answering_eval [INDEX_DIR]

The question list was written here against the demo corpus (open-medicine guideline summaries
and the project's sample PDFs): for each answerable question the guideline(s) that answer it and
the answer sentence(s), copied from the source; the unanswerable ones share words and topic with
the corpus but ask something (a population, a timing, a drug) no indexed passage states.
Measured: answered share (answerable) and "does not address"/insufficient share (unanswerable),
answer-sentence recall (a gold sentence is quoted), quoted-sentence precision (quoted lines from a
gold document), and the share of questions whose E1 comes from a gold document.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from pydantic import BaseModel, Field

QUESTIONS = Path(__file__).parent / "data" / "answering.jsonl"


class AnsweringQuestion(BaseModel):
    id: str
    question: str
    documents: list[str] = Field(default_factory=list)  # stable keys (guideline directory or sample file name)
    answers: list[str] = Field(default_factory=list)  # any one quoted is a hit
    unanswerable: bool = False


class AnsweringReport(BaseModel):
    answerable: int
    unanswerable: int
    answered: float  # answerable questions answered (not "insufficient"/"does not address")
    declined: float  # unanswerable questions answered "does not address" or "insufficient"
    warned: float  # unanswerable questions declined or answered with a "partly addresses" warning
    sentence_recall: float  # answerable questions with a gold answer sentence quoted
    sentence_precision: float  # quoted lines that come from a gold document
    gold_first: float  # answerable questions whose E1 is from a gold document
    failures: dict[str, str] = Field(default_factory=dict)


def load(path: Path = QUESTIONS) -> list[AnsweringQuestion]:
    return [AnsweringQuestion.model_validate_json(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("**", "")).strip()


def evaluate(assistant, questions: list[AnsweringQuestion]) -> AnsweringReport:  # type: ignore[no-untyped-def]
    answered = declined = warned = recall = first = quoted_total = quoted_gold = 0
    failures: dict[str, str] = {}
    for q in questions:
        answer = assistant.ask(q.question, generator="extractive")
        if q.unanswerable:
            declined += answer.insufficient_evidence
            warned += answer.insufficient_evidence or any(w.code == "partial_answer" for w in answer.warnings)
            if not answer.insufficient_evidence:
                failures[q.id] = "quoted: " + " | ".join(re.findall(r"^- (.{0,60})", answer.text, re.M))[:200]
            continue
        key = {e.evidence_id: Path(e.path).name for e in answer.evidence}
        lines = [line for line in answer.text.splitlines() if re.search(r"\[E\d+\]", line)]
        answered += not answer.insufficient_evidence
        hit = any(_flat(a) in _flat(line) for a in q.answers for line in lines)
        recall += hit
        top = key.get("E1")
        first += top in q.documents
        for line in lines:
            ids = re.findall(r"\[(E\d+)\]", line)
            quoted_total += 1
            quoted_gold += any(key.get(i) in q.documents for i in ids)
        if not hit or top not in q.documents:
            failures[q.id] = f"E1={top} hit={hit} insufficient={answer.insufficient_evidence}"
    n_a = sum(not q.unanswerable for q in questions)
    n_u = len(questions) - n_a
    return AnsweringReport(
        answerable=n_a, unanswerable=n_u,
        answered=round(answered / n_a, 3), declined=round(declined / n_u, 3) if n_u else 1.0,
        warned=round(warned / n_u, 3) if n_u else 1.0,
        sentence_recall=round(recall / n_a, 3), sentence_precision=round(quoted_gold / quoted_total, 3) if quoted_total else 0.0,
        gold_first=round(first / n_a, 3), failures=failures,
    )


def main(argv: list[str]) -> int:
    from app.assistant import Assistant

    index = Path(argv[0]) if argv else Path("/tmp/pipeline-data/index")
    assistant = Assistant(data_dir=index.parent, index_dir=index, generator="extractive")
    report = evaluate(assistant, load())
    print(report.model_dump_json(indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
