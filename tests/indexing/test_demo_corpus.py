"""The demo corpus: open-medicine guidelines with registry metadata, then the project's samples."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from indexing.chunking import chunk_document
from indexing.cleaning import clean_document
from indexing.readers import read_document
from indexing.readers.demo import demo_documents, demo_paths, open_medicine_dir
from indexing.schema import Document
from tests.indexing import minilm_counter


@pytest.fixture(scope="module")
def registry() -> list[dict]:
    return json.loads((open_medicine_dir() / "registry.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def corpus() -> list[Document]:
    return list(demo_documents())


def test_one_document_per_guideline_then_the_samples(corpus: list[Document], registry: list[dict]) -> None:
    samples = demo_paths()
    assert len(samples) == 8
    assert len(corpus) == len(registry) + len(samples)
    assert [d.title for d in corpus[: len(registry)]] == [g["title"] for g in registry]
    assert [Path(d.path).name for d in corpus[len(registry):]] == [p.name for p in samples]
    assert len({d.document_id for d in corpus}) == len(corpus)


def test_guideline_pages_are_sections_in_registry_order(corpus: list[Document], registry: list[dict]) -> None:
    root = open_medicine_dir() / "content"
    for doc, entry in zip(corpus, registry):
        files = [root / entry["id"] / f"{s}.md" for s in entry["sections"]]
        assert [p.number for p in doc.pages] == list(range(1, len(files) + 1))
        assert doc.document_id == hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()
        assert doc.format == "markdown"
        assert doc.meta.title == entry["title"]
        assert doc.meta.organization == entry["organization"]
        assert doc.meta.year == entry["year"]
        assert doc.meta.doi == entry["doi"]
        assert doc.meta.keywords == entry["topics"]
        assert doc.meta.source_type is None and doc.meta.evidence_level is None  # the grader decides
        first_heading = next(ln for ln in files[0].read_text(encoding="utf-8").splitlines() if ln.startswith("#"))
        assert first_heading in doc.pages[0].text


def test_samples_carry_their_sidecar_facts_and_disclaimer() -> None:
    for path in demo_paths():
        sidecar = json.loads(path.with_name(path.name + ".meta.json").read_text(encoding="utf-8"))
        doc = read_document(path)
        assert doc.format == "pdf"
        assert doc.title == sidecar["title"]
        assert doc.meta.year == sidecar["year"] and doc.meta.organization == sidecar["organization"]
        assert doc.meta.doi == sidecar.get("doi")
        assert doc.meta.language == ("zh" if path.name.startswith("zh-") else "en")
        for page in doc.pages:
            assert "m1-evidence" in page.text  # every page says who wrote the summary
        assert not doc.warnings


def test_chinese_sample_recommendations_stay_whole_with_their_grades() -> None:
    path = next(p for p in demo_paths() if p.name == "zh-acute-ischemic-stroke-2018.pdf")
    doc = clean_document(read_document(path))
    assert [p.number for p in doc.pages] == [1, 2]
    text = "\n".join(p.text for p in doc.pages)
    assert "对缺血性脑卒中发病3 h内（I级推荐，A级证据）和3～4.5 h（I级推荐，B级证据）的患者" in doc.pages[0].text
    assert "本摘要由" not in text  # the running footer is gone from both pages
    recommendations = [ln for ln in text.split("\n") if re.match(r"^\d\. ", ln)]
    assert len(recommendations) == 7
    chunks = chunk_document(doc, minilm_counter())
    for rec in recommendations:
        assert sum(rec in c.text for c in chunks) == 1, rec
    grade_chunk = next(c for c in chunks if "阿司匹林150～300 mg/d" in c.text)
    assert grade_chunk.heading_path == ["三、抗血小板治疗"]
    assert (grade_chunk.page_start, grade_chunk.page_end) == (2, 2)
    assert not re.search(r"[\u4e00-\u9fff] [\u4e00-\u9fff]", text)


def test_whole_demo_corpus_chunks_within_limits(corpus: list[Document]) -> None:
    counter = minilm_counter()
    total = 0
    for doc in corpus:
        chunks = chunk_document(clean_document(doc), counter, max_tokens=200, overlap=40)
        assert chunks, doc.title
        total += len(chunks)
        pages = {p.number for p in doc.pages}
        for chunk in chunks:
            assert chunk.text.strip()
            assert chunk.n_tokens <= 200
            assert chunk.page_start in pages and chunk.page_end in pages
            assert chunk.page_start <= chunk.page_end
        if doc.format == "markdown":
            assert all(c.heading_path for c in chunks)
    assert total > len(corpus) * 5


def _words(text: str) -> Counter[str]:
    return Counter(re.findall(r"[\u4e00-\u9fff]|[^\s\u4e00-\u9fff#]+", text))


def test_no_text_is_lost_between_cleaning_and_chunks(corpus: list[Document]) -> None:
    counter = minilm_counter()
    for doc in corpus:
        clean = clean_document(doc)
        chunks = chunk_document(clean, counter, max_tokens=120, overlap=20)
        expected = _words("\n".join(p.text for p in clean.pages))
        got = _words("\n".join(c.text for c in chunks))
        missing = expected - got
        assert not missing, (doc.title, list(missing)[:10])
