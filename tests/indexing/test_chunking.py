"""Chunking: headings in every chunk, recommendations whole, pages right, sizes in model tokens."""

from __future__ import annotations

import re

from indexing.chunking import chunk_document
from indexing.cleaning import clean_document
from indexing.schema import Chunk, Document, Page
from tests.indexing import minilm_counter

DOC_ID = "ab" * 32


def _doc(pages: list[str], fmt: str = "markdown") -> Document:
    return Document(document_id=DOC_ID, path="x", format=fmt, title="T",
                    pages=[Page(number=i + 1, text=t) for i, t in enumerate(pages)])


def _chunks(pages: list[str], fmt: str = "markdown", max_tokens: int = 200, overlap: int = 40) -> list[Chunk]:
    return chunk_document(clean_document(_doc(pages, fmt)), minilm_counter(), max_tokens=max_tokens, overlap=overlap)


def _flat(text: str) -> str:
    return " ".join(text.split())


_RECS = [
    f"{i}. In adults with stage {i} hypertension and an estimated 10-year cardiovascular risk above "
    f"{i + 5} percent, treatment with an ACE inhibitor or a thiazide diuretic is recommended to lower "
    f"blood pressure and prevent events (Class I, LOE {'ABC'[i % 3]})."
    for i in range(1, 11)
]


def test_headings_become_the_path_and_open_the_section() -> None:
    md = "# Hypertension Guideline\n\n## Diagnosis\n\nMeasure blood pressure twice.\n\n## Treatment\n\n### Drugs\n\nUse an ACE inhibitor.\n"
    chunks = _chunks([md])
    assert [c.heading_path for c in chunks] == [
        ["Hypertension Guideline", "Diagnosis"],
        ["Hypertension Guideline", "Treatment", "Drugs"],
    ]
    assert chunks[0].text == "Hypertension Guideline\nDiagnosis\nMeasure blood pressure twice."
    assert chunks[1].text == "Treatment\nDrugs\nUse an ACE inhibitor."  # empty parent printed with its child
    assert all("#" not in c.text for c in chunks)
    assert [c.chunk_id for c in chunks] == [f"{DOC_ID[:16]}:0", f"{DOC_ID[:16]}:1"]
    assert [c.ordinal for c in chunks] == [0, 1]


def test_numbered_recommendations_are_never_split() -> None:
    md = "# Guideline\n\n## Recommendations\n\n" + "\n".join(_RECS) + "\n"
    chunks = _chunks([md], max_tokens=120, overlap=30)
    assert len(chunks) > 3
    counter = minilm_counter()
    for chunk in chunks:
        assert chunk.n_tokens == counter.count(chunk.text) <= 120
        assert chunk.heading_path == ["Guideline", "Recommendations"]
    for rec in _RECS:
        holders = [c for c in chunks if rec in c.text]
        assert len(holders) == 1, rec
    for chunk in chunks:  # no fragment of a recommendation anywhere
        for line in chunk.text.split("\n"):
            if line[:1].isdigit():
                assert line in _RECS


def test_bullet_recommendations_and_their_lead_in_stay_together() -> None:
    intro = " ".join(f"Background sentence {i} explains why blood pressure control matters." for i in range(6))
    bullets = "\n".join(f"- Recommendation bullet {i}: offer drug {i} to eligible adults (strong recommendation)." for i in range(4))
    md = f"# G\n\n{intro}\n\nThe panel recommends the following:\n\n{bullets}\n"
    chunks = _chunks([md], max_tokens=90, overlap=0)
    lead = next(c for c in chunks if "The panel recommends the following:" in c.text)
    assert "- Recommendation bullet 0: offer drug 0" in lead.text
    for i in range(4):
        assert sum(f"- Recommendation bullet {i}: offer drug {i} to eligible adults (strong recommendation)." in c.text
                   for c in chunks) == 1


def test_prose_is_packed_by_sentence_with_overlap() -> None:
    sentences = [f"Sentence number {i} reports a distinct finding about renal outcome {i}." for i in range(40)]
    md = "# Trial\n\n## Results\n\n" + " ".join(sentences) + "\n"
    chunks = _chunks([md], max_tokens=80, overlap=25)
    assert len(chunks) >= 4
    for chunk in chunks:
        assert chunk.n_tokens <= 80
    for earlier, later in zip(chunks, chunks[1:]):
        # the later chunk opens with the tail of the earlier one
        opening = later.text.split(".")[0]
        assert opening in earlier.text
    joined = " ".join(c.text for c in chunks)
    for s in sentences:
        assert s in joined


def test_no_overlap_when_asked_for_none() -> None:
    sentences = [f"Sentence {i} is here." for i in range(60)]
    chunks = _chunks(["# A\n\n" + " ".join(sentences)], max_tokens=40, overlap=0)
    texts = [c.text for c in chunks]
    assert sum(t.count("Sentence ") for t in texts) == 60


def test_page_ranges_follow_the_text_across_pages() -> None:
    page1 = "1. Background\nIntro text on page one about lipid targets and why they matter to patients at risk of"
    page2 = "coronary events, continued on page two.\n2. Methods\nWe pooled 26 trials of statin therapy."
    page3 = "3. Results\nEach 1.0 mmol/L reduction in LDL cholesterol lowered major vascular events."
    chunks = _chunks([page1, page2, page3], fmt="text")
    background, methods, results = chunks
    assert background.heading_path == ["1. Background"]
    assert (background.page_start, background.page_end) == (1, 2)
    assert "at risk of coronary events, continued on page two." in background.text
    assert (methods.page_start, methods.page_end) == (2, 2) and methods.heading_path == ["2. Methods"]
    assert (results.page_start, results.page_end) == (3, 3)


def test_numbered_pdf_headings_nest() -> None:
    text = ("3 Treatment\nGeneral principles come first in this section of the guideline text.\n"
            "3.1 Lifestyle\nSalt restriction lowers pressure in most adults who try it.\n"
            "3.2 Drug therapy\nThiazides are a reasonable first choice for many adults.\n"
            "4 Follow-up\nReview patients every three months until controlled.")
    paths = [c.heading_path for c in _chunks([text], fmt="pdf")]
    assert paths == [["3 Treatment"], ["3 Treatment", "3.1 Lifestyle"], ["3 Treatment", "3.2 Drug therapy"], ["4 Follow-up"]]


def test_chinese_chunks_end_at_sentence_marks_and_gain_no_spaces() -> None:
    sentences = [f"第{i}条：高血压患者应当定期监测血压并坚持长期治疗，以降低心脑血管事件风险{'。！？；'[i % 4]}" for i in range(1, 30)]
    text = "一、总体原则\n" + "".join(sentences)
    chunks = _chunks([text], fmt="pdf", max_tokens=100, overlap=0)
    assert len(chunks) > 2
    for chunk in chunks:
        assert chunk.n_tokens <= 100
        assert chunk.heading_path == ["一、总体原则"]
        body = chunk.text.removeprefix("一、总体原则\n")
        assert body[-1] in "。！？；"
        assert not re.search(r"[\u4e00-\u9fff] [\u4e00-\u9fff]", chunk.text)
    assert "".join(c.text.removeprefix("一、总体原则\n") for c in chunks) == "".join(sentences)


def test_an_over_long_sentence_is_cut_within_the_limit() -> None:
    words = " ".join(f"word{i}" for i in range(400))
    chunks = _chunks([f"# H\n\n{words}."], max_tokens=60, overlap=10)
    assert all(c.n_tokens <= 60 for c in chunks)
    assert "word0" in chunks[0].text and "word399" in chunks[-1].text


def test_over_long_recommendation_is_split_rather_than_lost() -> None:
    rec = "1. " + " ".join(f"clause{i}," for i in range(150)) + " end."
    chunks = _chunks([f"# H\n\n{rec}"], max_tokens=60, overlap=10)
    assert all(c.n_tokens <= 60 for c in chunks)
    assert "clause0" in chunks[0].text and "end." in chunks[-1].text


def test_empty_document_has_no_chunks() -> None:
    assert _chunks(["", "   "], fmt="text") == []


def test_chinese_clauses_between_semicolons_are_packed_like_sentences() -> None:
    """Chinese guidelines run long sentences on with "；": the chunker fills a chunk clause by clause."""
    first = "高血压患者应在每日清晨测量血压并记录结果以便随访。"
    clauses = ["合并糖尿病者首选血管紧张素转换酶抑制剂；", "不能耐受者改用血管紧张素受体拮抗剂。"]
    chunks = _chunks(["# 标题\n\n" + first + "".join(clauses)], max_tokens=60, overlap=0)
    assert [c.text.removeprefix("标题").strip() for c in chunks] == [first + clauses[0], clauses[1]]


def test_pdf_recommendation_labels_and_deep_numbers_are_items() -> None:
    text = ("Recommendations\n"
            "Recommendation 1. Adults with resistant hypertension should be screened for primary aldosteronism.\n"
            "Recommendation 2. A mineralocorticoid receptor antagonist is reasonable as a fourth drug.\n"
            "3.2.1 In patients with chronic kidney disease, an ACE inhibitor is recommended to slow progression.\n"
            "3.2.2 Serum potassium should be checked within two weeks of starting treatment.")
    chunks = _chunks([text], fmt="pdf", max_tokens=45, overlap=10)
    lines = text.split("\n")[1:]
    for line in lines:
        assert sum(line in c.text for c in chunks) == 1, line
    assert all(c.heading_path == ["Recommendations"] for c in chunks)


def test_markdown_tables_and_code_survive_as_lines() -> None:
    md = ("# Doses\n\n| Drug | Dose |\n|---|---|\n| **Amlodipine** | 5 mg |\n| Lisinopril | 10 mg |\n\n"
          "```\nkeep   this   verbatim\n```\n")
    (chunk,) = _chunks([md])
    assert chunk.text == "Doses\nDrug | Dose\nAmlodipine | 5 mg\nLisinopril | 10 mg\nkeep this verbatim"


def test_headings_without_text_are_kept_in_the_next_chunk() -> None:
    chunks = _chunks(["# Wrapped Title Part One\n# Part Two\n\nBody text here.\n"])
    assert [c.text for c in chunks] == ["Wrapped Title Part One\nPart Two\nBody text here."]
    assert chunks[0].heading_path == ["Part Two"]
