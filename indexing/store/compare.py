"""Whether two indexes hold the same library: the check behind "a Ray run equals a local run"
(tests/indexing/test_ray_runner.py, bench/ray_index.py).

Compared: documents (path, title, metadata, grade, page and chunk counts, every file name),
chunks (text, pages, headings, tokens, stated grades), each chunk's vector within `atol`, and
the top hits of lexical and dense search for given queries. Not compared: when a document was
indexed, and segment layout (commits of different sizes give the same live rows).
"""

from __future__ import annotations

import numpy as np

from indexing.store.store import IndexStore

# Float32 vectors of the same text embedded in batches of different sizes differ by ~1e-7
# (padding changes the summation order); 1e-4 on unit vectors is far below any ranking change.
VECTOR_ATOL = 1e-4


def _documents(store: IndexStore) -> dict[str, dict]:
    return {d.document_id: d.model_dump(exclude={"indexed_at"}) for d in store.documents()}


def index_differences(
    a: IndexStore, b: IndexStore, queries: list[str] = (), query_vectors: np.ndarray | None = None,
    k: int = 10, atol: float = VECTOR_ATOL,
) -> list[str]:
    """What differs between `a` and `b`, one line each, at most a few per kind; [] when equal."""
    out: list[str] = []
    docs_a, docs_b = _documents(a), _documents(b)
    if set(docs_a) != set(docs_b):
        out.append(f"documents only in a: {sorted(set(docs_a) - set(docs_b))[:3]}, only in b: {sorted(set(docs_b) - set(docs_a))[:3]}")
    out += [f"document {i[:12]} differs" for i in sorted(set(docs_a) & set(docs_b)) if docs_a[i] != docs_b[i]][:3]
    for document_id in sorted(set(docs_a) & set(docs_b)):
        chunks_a = [c.model_dump() for c in a.document_chunks(document_id)]
        if chunks_a != [c.model_dump() for c in b.document_chunks(document_id)]:
            out.append(f"chunks of document {document_id[:12]} differ")
    ids_a, vectors_a = a.live_vectors()
    ids_b, vectors_b = b.live_vectors()
    if sorted(ids_a) != sorted(ids_b):
        out.append(f"live chunk ids differ ({len(ids_a)} vs {len(ids_b)})")
    else:
        order_b = {c: i for i, c in enumerate(ids_b)}
        gap = float(np.max(np.abs(vectors_a - vectors_b[[order_b[c] for c in ids_a]]), initial=0.0))
        if gap > atol:
            out.append(f"vectors differ by up to {gap:.2e} (> {atol:.0e})")
    out += _search_differences(a, b, queries, query_vectors, k, atol)
    return out


def _same_hits(hits_a: list[tuple[str, float]], hits_b: list[tuple[str, float]], atol: float) -> bool:
    """Same chunks at the same ranks, or scores within `atol` (near-ties may swap places)."""
    if [c for c, _ in hits_a] == [c for c, _ in hits_b]:
        return True
    return len(hits_a) == len(hits_b) and all(abs(x - y) <= atol for (_, x), (_, y) in zip(hits_a, hits_b))


def _search_differences(a, b, queries, query_vectors, k: int, atol: float) -> list[str]:
    out = []
    for query in queries:
        if not _same_hits(a.search_lexical(query, k), b.search_lexical(query, k), 1e-9):
            out.append(f"lexical hits differ for {query!r}")
    for n, vector in enumerate(query_vectors if query_vectors is not None else []):
        if not _same_hits(a.search_dense(vector, k), b.search_dense(vector, k), atol):
            out.append(f"dense hits differ for query {n}")
    return out
