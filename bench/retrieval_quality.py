"""Retrieval quality on the demo corpus: hybrid vs dense-only vs lexical-only, plus abstention.

    python bench/retrieval_quality.py [--index DIR] [--k 5] [--calibrate]

Without --index the demo corpus is indexed into a temporary directory first (a few minutes).
Prints a table and writes bench/results/retrieval_quality.json. --calibrate also prints, per
question, the scores the relevance cut sees (how the thresholds in evidence/retrieval.py were
chosen). tests/evidence/test_retrieval.py imports `evaluate` from here.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from evidence.retrieval import Retriever  # noqa: E402
from evidence.schema import Evidence  # noqa: E402

QUESTIONS = ROOT / "tests" / "evidence" / "data" / "questions.jsonl"


class Question(BaseModel):
    id: str
    lang: str
    question: str
    documents: list[str]  # stable keys: open-medicine guideline id or sample file name
    off_topic: bool = False


class RetrieverScore(BaseModel):
    name: str
    recall: float  # mean over on-topic questions of |expected ∩ top-k documents| / |expected|
    hit: float  # share of on-topic questions with at least one expected document in the top k
    mrr: float  # mean reciprocal rank of the first expected document (0 when absent)
    recall_en: float
    recall_zh: float
    misses: list[str]  # ids of on-topic questions with recall < 1


class QualityReport(BaseModel):
    k: int
    questions: int
    on_topic: int
    off_topic: int
    retrievers: list[RetrieverScore]
    off_topic_abstained: float  # share of off-topic questions for which hybrid search returned nothing
    on_topic_abstained: list[str]  # on-topic questions hybrid search wrongly returned nothing for
    seconds: float


def load_questions(path: Path = QUESTIONS) -> list[Question]:
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                out.append(Question.model_validate_json(line))
            except ValueError as exc:
                raise ValueError(f"{path}:{n}: not a question record ({exc})") from exc
    return out


def document_key(evidence: Evidence) -> str:
    """The stable key of a passage's document: the guideline directory or the sample file name."""
    return Path(evidence.path).name


def _ranked_documents(results: list[Evidence]) -> list[str]:
    keys: list[str] = []
    for e in results:
        key = document_key(e)
        if key not in keys:
            keys.append(key)
    return keys


def _score(name: str, questions: list[Question], runs: dict[str, list[str]]) -> RetrieverScore:
    recalls: dict[str, float] = {}
    hits, rr = [], []
    for q in questions:
        docs = runs[q.id]
        expected = set(q.documents)
        recalls[q.id] = len(expected & set(docs)) / len(expected)
        hits.append(1.0 if expected & set(docs) else 0.0)
        rank = next((i for i, d in enumerate(docs, 1) if d in expected), None)
        rr.append(1.0 / rank if rank else 0.0)

    def mean(values: list[float]) -> float:
        return round(sum(values) / len(values), 4) if values else 0.0

    return RetrieverScore(
        name=name,
        recall=mean(list(recalls.values())),
        hit=mean(hits),
        mrr=mean(rr),
        recall_en=mean([recalls[q.id] for q in questions if q.lang == "en"]),
        recall_zh=mean([recalls[q.id] for q in questions if q.lang == "zh"]),
        misses=[qid for qid, r in recalls.items() if r < 1.0],
    )


def evaluate(retriever: Retriever, questions: list[Question], k: int = 5) -> QualityReport:
    """Recall@k of the three rankers over the documents of the top-k passages."""
    started = time.perf_counter()
    on_topic = [q for q in questions if not q.off_topic]
    off_topic = [q for q in questions if q.off_topic]
    runs: dict[str, dict[str, list[str]]] = {"hybrid": {}, "dense": {}, "lexical": {}}
    abstained_wrongly: list[str] = []
    for q in on_topic:
        hybrid = retriever.search(q.question, k=k)
        if not hybrid:
            abstained_wrongly.append(q.id)
        runs["hybrid"][q.id] = _ranked_documents(hybrid)
        runs["dense"][q.id] = _ranked_documents(retriever.search_dense(q.question, k=k))
        runs["lexical"][q.id] = _ranked_documents(retriever.search_lexical(q.question, k=k))
    abstained = sum(1 for q in off_topic if not retriever.search(q.question, k=k))
    return QualityReport(
        k=k,
        questions=len(questions),
        on_topic=len(on_topic),
        off_topic=len(off_topic),
        retrievers=[_score(name, on_topic, runs[name]) for name in ("hybrid", "dense", "lexical")],
        off_topic_abstained=round(abstained / len(off_topic), 4) if off_topic else 1.0,
        on_topic_abstained=abstained_wrongly,
        seconds=round(time.perf_counter() - started, 2),
    )


def calibration_rows(retriever: Retriever, questions: list[Question], k: int = 5) -> list[dict]:
    """Per question, what the relevance cut sees on the top-k uncut passages: the best cosine and
    the best coverage (IDF-weighted for English, Chinese-term share for Chinese), overall and
    for passages of the expected documents."""
    from indexing.lexical import lexical_tokens
    from indexing.text import has_cjk

    rows = []
    for q in questions:
        results = retriever.search(q.question, k=k, relevance_cut=False)
        terms = set(lexical_tokens(q.question))
        cjk = {t for t in terms if has_cjk(t)}
        weights = {t: 1.0 for t in cjk} if q.lang == "zh" and cjk else retriever._term_weights(terms)
        total = sum(weights.values()) or 1.0

        def coverage(e: Evidence) -> float:
            found = set(lexical_tokens(e.text + "\n" + " ".join(e.heading_path)))
            return round(sum(w for t, w in weights.items() if t in found) / total, 3)

        expected = [e for e in results if document_key(e) in q.documents]
        rows.append({
            "id": q.id,
            "lang": q.lang,
            "off_topic": q.off_topic,
            "max_dense": round(max((e.scores.dense or 0.0) for e in results), 3) if results else 0.0,
            "max_coverage": max((coverage(e) for e in results), default=0.0),
            "expected_dense": round(max(((e.scores.dense or 0.0) for e in expected), default=0.0), 3),
            "expected_coverage": max((coverage(e) for e in expected), default=0.0),
        })
    return rows


def _table(report: QualityReport) -> str:
    lines = [f"recall@{report.k} on {report.on_topic} on-topic questions ({report.off_topic} off-topic)",
             f"{'retriever':<10} {'recall':>7} {'hit':>6} {'MRR':>6} {'EN':>6} {'ZH':>6}  misses"]
    for r in report.retrievers:
        lines.append(f"{r.name:<10} {r.recall:>7.3f} {r.hit:>6.3f} {r.mrr:>6.3f} {r.recall_en:>6.3f} {r.recall_zh:>6.3f}  {' '.join(r.misses)}")
    lines.append(f"off-topic questions answered 'insufficient evidence': {report.off_topic_abstained:.0%}; "
                 f"on-topic questions wrongly cut: {report.on_topic_abstained or 'none'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, help="an index directory holding the demo corpus")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--calibrate", action="store_true")
    args = parser.parse_args(argv)

    from indexing.embedding import load_embedder
    from indexing.store import IndexStore

    embedder = load_embedder()
    with tempfile.TemporaryDirectory(prefix="m1e-rq-") as tmp:
        index_dir = args.index
        if index_dir is None:
            from indexing.pipeline import IndexPipeline

            try:
                from evidence.annotator import EvidenceAnnotator

                annotator = EvidenceAnnotator()
            except ImportError:
                annotator = None
            index_dir = Path(tmp) / "index"
            IndexPipeline(index_dir, embedder=embedder, annotator=annotator).run_demo()
        store = IndexStore.open(index_dir)
        retriever = Retriever(store, embedder)
        questions = load_questions()
        report = evaluate(retriever, questions, k=args.k)
        print(_table(report))
        if args.calibrate:
            print(f"\n{'id':<5} {'lang':<4} {'off':<4} {'maxdense':>8} {'maxcov':>7} {'expdense':>8} {'expcov':>7}")
            for row in calibration_rows(retriever, questions, k=args.k):
                print(f"{row['id']:<5} {row['lang']:<4} {str(row['off_topic'])[0]:<4} {row['max_dense']:>8} {row['max_coverage']:>7} "
                      f"{row['expected_dense']:>8} {row['expected_coverage']:>7}")
        out = ROOT / "bench" / "results" / "retrieval_quality.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
        print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
