"""Hybrid retrieval: dense (FAISS) and lexical (BM25) ranks fused, filtered, deduplicated, graded.

Reciprocal-rank fusion needs no score calibration between the two retrievers, so it works the
same for English and Chinese questions (the English embedding model is weak on Chinese; BM25 on
jieba words and character bigrams is not). Filters restrict both candidate pools *before*
ranking, so a narrow filter never leaves the top k empty while matching passages exist. A
relevance cut keeps passages that are plainly off topic out of the evidence: with nothing left,
the answer says "insufficient evidence" instead of citing noise.
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from evidence.focus import Focus, question_focus, weighted_coverage
from evidence.schema import Evidence, RetrievalScores, SearchFilters
from evidence.synonyms import canonical_map, clinical_wording, expand_query
from indexing.lexical import lexical_tokens
from indexing.schema import Chunk
from indexing.text import has_cjk

RRF_K = 60  # the usual constant (Cormack et al. 2009): flattens rank differences deep in a pool
MIN_POOL = 50
POOL_FACTOR = 5
# The default embedding model (all-MiniLM-L6-v2) is English-only: on Chinese questions its
# ranking is weakly informative (dense-only recall@5 0.87 vs BM25 1.0 on the Chinese questions;
# unrelated Chinese text scores cosine 0.4-0.7), so its vote counts 0.3 in the fusion there: a
# tie-breaker between BM25 ranks, not an equal voice. Set 1.0 for a multilingual model.
DENSE_WEIGHT_CJK = 0.3
# Relevance cut, calibrated on the demo corpus (bench/retrieval_quality.py --calibrate; numbers
# in the module docstring of tests/evidence/test_retrieval.py). English: the best passage of an
# on-topic question has cosine >= 0.46 and covers >= 0.39 of the question's IDF-weighted terms;
# off-topic questions reach cosine <= 0.25; medical questions the corpus does not cover
# (migraine, Lyme disease, head lice, scabies, acne) reach cosine 0.35-0.54 but miss their rare
# subject word, so their weighted coverage stays low. Chinese questions: the English model gives
# even unrelated Chinese text a cosine of 0.4-0.75, so only term coverage decides (on-topic best
# >= 0.31, off-topic <= 0.22).
MIN_DENSE = 0.45  # cosine, together with MIN_WEIGHTED_COVERAGE
MIN_WEIGHTED_COVERAGE = 0.3  # IDF-weighted share of the question's terms found in the passage
STRONG_DENSE = 0.6  # cosine alone enough (a paraphrase that shares no words)
MIN_DENSE_WITH_TERMS = 0.3  # cosine needed together with MIN_COVERAGE
MIN_COVERAGE = 0.75  # IDF-weighted coverage that, with a modest cosine, is enough
MIN_COVERAGE_CJK = 0.28  # Chinese questions: share of the question's Chinese terms
MIN_COVERAGE_LATIN_IN_CJK = 0.99  # ... or every Latin-script term of a Chinese question (qSOFA, LDL-C)
# ... or, for a passage with no Chinese text, this share (and at least two) of the question's
# concepts that have an English name (evidence.synonyms: "房颤" is AF, "华法林" warfarin; Latin
# words of the question): a Chinese question about an English guideline has no Chinese term to
# find there (issue 9: a109-a112), and a Chinese run with no English name ("需要处理") cannot be
# found in it by words, so it is left out of the share (`_named_in_latin`). The embedder cannot
# stand in: all-MiniLM-L6-v2 is English-only (DENSE_WEIGHT_CJK).
MIN_CROSS_LANGUAGE = 0.6
# Subject ranking (evidence.focus): share of the relevance score that is the subject score, and
# the share of the best subject score a passage needs to count as on the question's subject.
# Chosen on tests/evidence/data/answering.jsonl (numbers in tests/evidence/test_answering.py).
SUBJECT_SHARE = 0.6
ON_SUBJECT = 0.7
NEAR_DUPLICATE = 0.8  # shingle Jaccard (or containment) above which two passages are one
SHINGLE = 5
QUERY_CACHE = 256  # recent question vectors kept: the UI and API often ask the same question twice
_VECTORS: OrderedDict[tuple[object, str], np.ndarray] = OrderedDict()
_VECTORS_LOCK = threading.Lock()


class StoreReader(Protocol):
    """The part of `indexing.store.IndexStore` retrieval reads."""

    def search_dense(self, query_vector: np.ndarray, k: int, chunk_filter: set[str] | None = None) -> list[tuple[str, float]]: ...

    def search_lexical(self, query: str, k: int, chunk_filter: set[str] | None = None) -> list[tuple[str, float]]: ...

    def chunks(self, chunk_ids: list[str]) -> list[Chunk]: ...

    def document(self, document_id: str): ...  # -> DocumentRecord | None

    def chunk_ids_where(self, source_types=None, year_min=None, year_max=None, max_level=None, document_ids=None) -> set[str]: ...


class QueryEmbedder(Protocol):
    def embed_queries(self, texts: list[str]) -> np.ndarray: ...


@dataclass
class Candidate:
    chunk_id: str
    fused: float = 0.0
    dense: float | None = None
    lexical: float | None = None
    dense_rank: int | None = None
    lexical_rank: int | None = None
    coverage: float = 0.0  # IDF-weighted share of the question's terms, or of its concepts when higher
    coverage_cjk: float = 0.0  # of the question's Chinese terms
    coverage_latin: float = 0.0  # of the question's Latin-script terms (0 when it has none)
    concepts_found: int = 0  # Chinese question, passage without Chinese: its concepts named in English
    coverage_concepts: float = 0.0  # ... as a share of the question's concepts
    chunk: Chunk | None = None
    shingles: set[str] = field(default_factory=set)
    merged: list[str] = field(default_factory=list)


def _is_cjk(text: str) -> bool:
    """A Chinese question or passage: two Han characters (one stray character is not enough)."""
    return has_cjk(text, at_least=2)


def _shingles(text: str) -> set[str]:
    """Word 5-grams (character 5-grams for Chinese) of normalised text."""
    t = re.sub(r"\s+", " ", text.lower()).strip()
    if _is_cjk(t):
        t = t.replace(" ", "")
        return {t[i : i + SHINGLE] for i in range(max(1, len(t) - SHINGLE + 1))}
    words = re.findall(r"\w+", t)
    return {" ".join(words[i : i + SHINGLE]) for i in range(max(1, len(words) - SHINGLE + 1))}


def near_duplicates(a: set[str], b: set[str]) -> bool:
    """High Jaccard, or one passage (nearly) contained in the other."""
    if not a or not b:
        return False
    inter = len(a & b)
    return inter / len(a | b) >= NEAR_DUPLICATE or inter / min(len(a), len(b)) >= 0.9


_TERMS: OrderedDict[tuple[str, int], frozenset[str]] = OrderedDict()
_TERMS_LOCK = threading.Lock()
TERMS_CACHE = 20000  # passages whose index terms are kept, keyed by chunk id and text hash


def _chunk_terms(chunk: Chunk) -> frozenset[str]:
    """The passage's index terms (text and headings), cached by chunk id."""
    key = (chunk.chunk_id, hash((chunk.text, tuple(chunk.heading_path))))
    with _TERMS_LOCK:
        terms = _TERMS.get(key)
        if terms is not None:
            _TERMS.move_to_end(key)
            return terms
    terms = _index_terms(chunk.text + "\n" + " ".join(chunk.heading_path))
    with _TERMS_LOCK:
        _TERMS[key] = terms
        while len(_TERMS) > TERMS_CACHE:
            _TERMS.popitem(last=False)
    return terms


def _index_terms(text: str) -> frozenset[str]:
    """Lexical tokens with single-word synonyms folded together ("hba1c" and "a1c" are one term)."""
    canonical = canonical_map(lexical_tokens)
    return frozenset(canonical.get(t, t) for t in lexical_tokens(text))


def clear_query_cache() -> None:
    """Forget cached question vectors (benchmarks measure the model, not the cache)."""
    with _VECTORS_LOCK:
        _VECTORS.clear()


def rrf(rankings: Sequence[Sequence[str]], k: int = RRF_K, weights: Sequence[float] | None = None) -> dict[str, float]:
    """Reciprocal-rank fusion: sum over rankings of weight / (k + rank), ranks from 1."""
    scores: dict[str, float] = {}
    for i, ranking in enumerate(rankings):
        w = 1.0 if weights is None else weights[i]
        for rank, chunk_id in enumerate(ranking, 1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + w / (k + rank)
    return scores


class Retriever:
    """Question in, graded and cited evidence out."""

    def __init__(
        self,
        store: StoreReader,
        embedder: QueryEmbedder,
        *,
        rrf_k: int = RRF_K,
        dense_weight_cjk: float = DENSE_WEIGHT_CJK,
        min_dense: float = MIN_DENSE,
        min_weighted_coverage: float = MIN_WEIGHTED_COVERAGE,
        strong_dense: float = STRONG_DENSE,
        min_dense_with_terms: float = MIN_DENSE_WITH_TERMS,
        min_coverage: float = MIN_COVERAGE,
        min_coverage_cjk: float = MIN_COVERAGE_CJK,
    ):
        self.store = store
        self.embedder = embedder
        self.rrf_k = rrf_k
        self.dense_weight_cjk = dense_weight_cjk
        self.min_dense = min_dense
        self.min_weighted_coverage = min_weighted_coverage
        self.strong_dense = strong_dense
        self.min_dense_with_terms = min_dense_with_terms
        self.min_coverage = min_coverage
        self.min_coverage_cjk = min_coverage_cjk
        self._idf: dict[str, float] = {}
        self._idf_generation: object = None

    # -- public -----------------------------------------------------------------------------

    def search(self, question: str, k: int = 8, filters: SearchFilters | None = None, *, relevance_cut: bool = True) -> list[Evidence]:
        """Top-k relevant passages by fused rank, near-duplicates merged, grouped by document."""
        question = self._check(question, k)
        allowed = self._allowed(filters)
        if allowed is not None and not allowed:
            return []
        pool = max(MIN_POOL, POOL_FACTOR * k)
        # lay and brand words in clinical names ("brain bleed" -> "intracerebral hemorrhage",
        # evidence.synonyms.LAY_TERMS): the embedder and the relevance cut see the guideline's wording
        wording = clinical_wording(question)
        dense = self._dense(wording, pool, allowed)
        lexical = self.store.search_lexical(expand_query(question), pool, chunk_filter=allowed)
        candidates = self._fuse(dense, lexical, self.dense_weight_cjk if _is_cjk(question) else 1.0)
        self._load(candidates)
        if not relevance_cut:
            return self._finish(candidates, k)
        terms = set(_index_terms(wording))
        weights = self._term_weights(terms)
        focus = question_focus(question, _index_terms)
        focus_weights = self._term_weights(focus.tokens())
        return self._finish(candidates, k, keep=lambda c: self._relevant(question, terms, weights, c, focus, focus_weights),
                            rank=lambda found: rank_by_subject(found, focus, focus_weights))

    def search_dense(self, question: str, k: int = 8, filters: SearchFilters | None = None) -> list[Evidence]:
        """Dense ranking alone (for evaluation): no fusion, no relevance cut."""
        question = self._check(question, k)
        allowed = self._allowed(filters)
        if allowed is not None and not allowed:
            return []
        hits = self._dense(question, max(MIN_POOL, POOL_FACTOR * k), allowed)
        candidates = self._fuse(hits, [])
        self._load(candidates)
        return self._finish(candidates, k, group=False)

    def search_lexical(self, question: str, k: int = 8, filters: SearchFilters | None = None) -> list[Evidence]:
        """Lexical (BM25) ranking alone (for evaluation): no fusion, no relevance cut."""
        question = self._check(question, k)
        allowed = self._allowed(filters)
        if allowed is not None and not allowed:
            return []
        hits = self.store.search_lexical(expand_query(question), max(MIN_POOL, POOL_FACTOR * k), chunk_filter=allowed)
        candidates = self._fuse([], hits)
        self._load(candidates)
        return self._finish(candidates, k, group=False)

    def is_relevant(self, question: str, c: Candidate) -> bool:
        """The relevance cut (see the constants above)."""
        if _is_cjk(question):
            return (c.coverage_cjk >= self.min_coverage_cjk or c.coverage_latin >= MIN_COVERAGE_LATIN_IN_CJK
                    or (c.concepts_found >= 2 and c.coverage_concepts >= MIN_CROSS_LANGUAGE))
        if c.dense is None:  # found by BM25 only (outside the dense pool)
            return c.coverage >= self.min_coverage
        if c.dense >= self.strong_dense:
            return True
        if c.dense >= self.min_dense and c.coverage >= self.min_weighted_coverage:
            return True
        return c.dense >= self.min_dense_with_terms and c.coverage >= self.min_coverage

    # -- steps ------------------------------------------------------------------------------

    @staticmethod
    def _check(question: str, k: int) -> str:
        if not isinstance(question, str) or not question.strip():
            raise ValueError("question is empty")
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        return question.strip()

    def _allowed(self, filters: SearchFilters | None) -> set[str] | None:
        """Chunk ids the filters allow, or None when nothing is filtered."""
        if filters is None:
            return None
        f = filters
        if f.year_min is not None and f.year_max is not None and f.year_min > f.year_max:
            raise ValueError(f"filters: year_min {f.year_min} is after year_max {f.year_max}")
        if not (f.source_types or f.year_min is not None or f.year_max is not None or f.min_level is not None or f.document_ids):
            return None
        return set(
            self.store.chunk_ids_where(
                source_types=f.source_types or None,
                year_min=f.year_min,
                year_max=f.year_max,
                max_level=f.min_level,
                document_ids=f.document_ids or None,
            )
        )

    def query_vector(self, question: str) -> np.ndarray:
        """The question's embedding, from a small process-wide LRU cache when asked recently."""
        key = (getattr(self.embedder, "name", None) or id(self.embedder), question)
        with _VECTORS_LOCK:
            vector = _VECTORS.get(key)
            if vector is not None:
                _VECTORS.move_to_end(key)
                return vector
        vector = np.asarray(self.embedder.embed_queries([question]), dtype=np.float32)[0]
        vector.setflags(write=False)  # shared between callers
        with _VECTORS_LOCK:
            _VECTORS[key] = vector
            while len(_VECTORS) > QUERY_CACHE:
                _VECTORS.popitem(last=False)
        return vector

    def _dense(self, question: str, pool: int, allowed: set[str] | None) -> list[tuple[str, float]]:
        return self.store.search_dense(self.query_vector(question), pool, chunk_filter=allowed)

    def _fuse(self, dense: list[tuple[str, float]], lexical: list[tuple[str, float]], dense_weight: float = 1.0) -> list[Candidate]:
        fused = rrf([[cid for cid, _ in dense], [cid for cid, _ in lexical]], self.rrf_k, (dense_weight, 1.0))
        by_id = {cid: Candidate(cid, fused=score) for cid, score in fused.items()}
        for rank, (cid, score) in enumerate(dense, 1):
            by_id[cid].dense, by_id[cid].dense_rank = float(score), rank
        for rank, (cid, score) in enumerate(lexical, 1):
            by_id[cid].lexical, by_id[cid].lexical_rank = float(score), rank
        return sorted(by_id.values(), key=lambda c: (-c.fused, c.dense_rank or 10**9, c.lexical_rank or 10**9))

    def _load(self, candidates: list[Candidate]) -> None:
        ids = [c.chunk_id for c in candidates]
        found = {chunk.chunk_id: chunk for chunk in (self.store.chunks(ids) if ids else []) if chunk is not None}
        for c in candidates:
            c.chunk = found.get(c.chunk_id)

    def _term_weights(self, terms: set[str]) -> dict[str, float]:
        """IDF of each question term over the indexed passages: a question's rare subject word
        ("migraine") must be in a passage for it to count as on topic; "treatment" need not."""
        generation = getattr(self.store, "generation", None)
        if generation != self._idf_generation or not self._idf:
            self._idf = {"": float(self._passage_count())}
            self._idf_generation = generation
        n = self._idf[""]
        weights = {}
        for t in terms:
            if t not in self._idf:
                df = self._document_frequency(t, n)
                self._idf[t] = math.log(1.0 + n / (df + 0.5))
            weights[t] = self._idf[t]
        return weights

    def _document_frequency(self, term: str, n: float) -> int:
        """The store's global df where it keeps one (segment postings); else count the matches."""
        if not n:
            return 0
        own = getattr(self.store, "document_frequency", None)
        if own is not None:
            return int(own(term))
        return len(self.store.search_lexical(term, int(n)))

    def _passage_count(self) -> int:
        stats = getattr(self.store, "stats", None)
        if stats is not None:
            return int(stats().chunks)
        return len(self.store.chunk_ids_where())

    def _relevant(self, question: str, terms: set[str], weights: dict[str, float], c: Candidate, focus: Focus | None = None,
                  focus_weights: dict[str, float] | None = None) -> bool:
        """Coverage is computed only for candidates that reach the cut (lazily, in rank order). It is
        the larger of two readings: the share of all the question's terms, and the share of its
        concepts (evidence.focus: frame words such as "need" or "before" dropped, synonyms and
        abbreviations folded, so "PE" names "pulmonary embolism"). A question's own phrasing
        ("worthwhile", "recheck", "climbs") is rare in a guideline corpus, so as a term it weighs
        much and pulled the passage that answers it under the cut. The concepts' reading counts only
        beside a cosine of at least `min_dense`: with a weaker one, word overlap alone would let in
        passages that crowd the answer out of the top k."""
        lowest = min(self.min_dense, self.min_dense_with_terms, self.strong_dense)
        if c.dense is not None and c.dense < lowest and not _is_cjk(question):
            return False  # no coverage can make up for this cosine (see is_relevant)
        if c.chunk is not None and terms:
            chunk_terms = _chunk_terms(c.chunk)
            found = terms & chunk_terms
            cjk = {t for t in terms if has_cjk(t)}
            latin = terms - cjk
            total = sum(weights.values()) or 1.0
            c.coverage = sum(weights[t] for t in found) / total
            if focus is not None and focus.concepts and focus_weights is not None and c.dense is not None and c.dense >= self.min_dense:
                c.coverage = max(c.coverage, weighted_coverage(focus, focus_weights, chunk_terms))
            c.coverage_cjk = len(found & cjk) / len(cjk) if cjk else 0.0
            c.coverage_latin = len(found & latin) / len(latin) if latin else 0.0
            nameable = [concept for concept in focus.concepts if _named_in_latin(concept)] if focus is not None else []
            if nameable and cjk and not _is_cjk(c.chunk.text):
                c.concepts_found = sum(concept.found_in(chunk_terms) >= 0.5 for concept in nameable)
                c.coverage_concepts = c.concepts_found / len(nameable)
        return self.is_relevant(question, c)

    def _finish(self, candidates: list[Candidate], k: int, group: bool = True, keep=None, rank=None) -> list[Evidence]:
        """Relevant, de-duplicated passages in fused order; with `rank`, every relevant passage of
        the pool is re-ranked by it before the top k are taken (a passage on the question's subject
        deep in the fused ranking must still be found)."""
        kept: list[Candidate] = []
        for c in candidates:
            if c.chunk is None:  # removed from the store between search and load
                continue
            if keep is not None and not keep(c):
                continue
            c.shingles = _shingles(c.chunk.text)
            twin = next((p for p in kept if near_duplicates(p.shingles, c.shingles)), None)
            if twin is not None:
                twin.merged.append(c.chunk_id)
                continue
            kept.append(c)
            if len(kept) == k and rank is None:
                break
        evidence = self._evidence(kept)
        if rank is not None:
            evidence = rank(evidence)[:k]
        return group_by_document(evidence) if group else evidence

    def _evidence(self, kept: list[Candidate]) -> list[Evidence]:
        records: dict[str, object] = {}
        out: list[Evidence] = []
        for c in kept:
            chunk = c.chunk
            assert chunk is not None
            if chunk.document_id not in records:
                records[chunk.document_id] = self.store.document(chunk.document_id)
            record = records[chunk.document_id]
            meta = getattr(record, "meta", None)
            out.append(
                Evidence(
                    chunk_id=chunk.chunk_id,
                    document_id=chunk.document_id,
                    text=chunk.text,
                    page_start=chunk.page_start,
                    page_end=chunk.page_end,
                    heading_path=list(chunk.heading_path),
                    title=getattr(record, "title", None) or (meta.title if meta and meta.title else "untitled"),
                    path=getattr(record, "path", "") or "",
                    year=meta.year if meta else None,
                    organization=meta.organization if meta else None,
                    doi=meta.doi if meta else None,
                    grade=getattr(record, "grade", None),
                    stated_grades=list(chunk.stated_grades),
                    scores=RetrievalScores(
                        fused=c.fused, dense=c.dense, lexical=c.lexical, dense_rank=c.dense_rank, lexical_rank=c.lexical_rank
                    ),
                    merged_chunk_ids=list(c.merged),
                )
            )
        return out


def _named_in_latin(concept) -> bool:
    """A concept an English passage can name: it has a Latin-script name (an English word of the
    question, or an English name through evidence.synonyms: "房颤" is AF, "血糖" blood glucose). A
    Chinese run with no English name ("缓解时", "需要处理") cannot be found in an English passage
    by words, so it neither counts for nor against one (MIN_CROSS_LANGUAGE)."""
    return any(not has_cjk(t) for name in concept.names for t in name)


def subject_score(e: Evidence, focus: Focus, weights: dict[str, float]) -> float:
    """How well the passage's subject matches the question's, 0..1: the question's concepts
    (IDF-weighted) named in the document title or section headings count fully, named only in
    the passage text 0.6 (a passage about ACS that mentions AF in passing is not about AF)."""
    heading = _index_terms(e.title + "\n" + "\n".join(e.heading_path))
    body = _index_terms(e.text)
    return weighted_coverage(focus, weights, heading | (body & heading), body)


def rank_by_subject(evidence: list[Evidence], focus: Focus, weights: dict[str, float]) -> list[Evidence]:
    """Order by relevance = SUBJECT_SHARE x subject score + the rest x fused rank score (scaled to
    the best); passages whose subject score falls below ON_SUBJECT x the best are marked
    off-subject (listed after those on the question's subject)."""
    if not evidence or not focus.concepts:
        return evidence
    best_fused = max((e.scores.fused for e in evidence if e.scores), default=0.0) or 1.0
    out = []
    for e in evidence:
        subject = subject_score(e, focus, weights)
        fused = (e.scores.fused if e.scores else 0.0) / best_fused
        scores = (e.scores or RetrievalScores(fused=0.0)).model_copy(update={"subject": round(subject, 4)})
        scores.relevance = round(SUBJECT_SHARE * subject + (1 - SUBJECT_SHARE) * fused, 4)
        out.append(e.model_copy(update={"scores": scores}))
    out.sort(key=lambda e: -e.scores.relevance)
    best_subject = max(e.scores.subject for e in out)
    for e in out:
        e.scores.on_subject = e.scores.subject >= ON_SUBJECT * best_subject
    return out


def group_by_document(evidence: list[Evidence]) -> list[Evidence]:
    """Documents in order of their best passage; passages within a document in rank order."""
    order: dict[str, list[Evidence]] = {}
    for e in evidence:
        order.setdefault(e.document_id, []).append(e)
    return [e for group in order.values() for e in group]
