"""The cited span in its source: boxes of a quoted sentence on PDF pages the test draws (so it
knows where every word is), the marker drawn where the boxes are, and markdown spans marked."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import ImageChops
from reportlab.pdfbase.pdfmetrics import stringWidth

from app.ui.highlight import (
    Box,
    cited_quotes,
    HighlightError,
    find_fragments,
    keyed_text,
    mark_span,
    matching_key,
    render_with_highlight,
    span_boxes,
)
from app.ui.preview import PreviewError
from tests.indexing.pdf_factory import HEIGHT, LEADING, LEFT, TOP, WIDTH, _cjk_font, chinese_pdf, lines_pdf, two_column_pdf


def word_center(line: str, word: str, x: float, baseline: float, font: str, size: float) -> tuple[float, float]:
    """Centre of `word`'s first occurrence in `line` drawn at (x, baseline) (PDF coordinates),
    in the top-left-origin points that `Box` uses."""
    at = line.index(word)
    left = x + stringWidth(line[:at], font, size)
    right = left + stringWidth(word, font, size)
    return (left + right) / 2, HEIGHT - baseline - size * 0.35


def covered(boxes: list[Box], point: tuple[float, float]) -> bool:
    x, y = point
    return any(b.left <= x <= b.right and b.top <= y <= b.bottom for b in boxes)


def line_baseline(i: int) -> float:
    return TOP - i * LEADING


PARAGRAPH = [
    "Sepsis is a medical emergency that needs prompt care.",
    "Clinicians should give broad antibiotics within one hour",
    "of recognition in adults with septic shock. Fluids follow",
    "the early treat-",
    "ment plan that the unit agreed on last year.",
]


@pytest.fixture(scope="module")
def paragraph_pdf(tmp_path_factory) -> Path:
    return lines_pdf(tmp_path_factory.mktemp("hl") / "paragraph.pdf", [["Cover page."], PARAGRAPH])


def test_a_sentence_wrapped_over_two_lines_gets_one_box_per_line(paragraph_pdf):
    quote = "Clinicians should give broad antibiotics within one hour of recognition in adults with septic shock."
    boxes = span_boxes(paragraph_pdf, 2, quote)
    assert len(boxes) == 2
    for i, line, word in [(1, PARAGRAPH[1], "Clinicians"), (1, PARAGRAPH[1], "hour"), (2, PARAGRAPH[2], "of"),
                          (2, PARAGRAPH[2], "shock")]:
        assert covered(boxes, word_center(line, word, LEFT, line_baseline(i), "Helvetica", 11)), word
    for i, line, word in [(0, PARAGRAPH[0], "emergency"), (2, PARAGRAPH[2], "Fluids"), (3, PARAGRAPH[3], "early")]:
        assert not covered(boxes, word_center(line, word, LEFT, line_baseline(i), "Helvetica", 11)), word
    # one box per line: the first spans from "Clinicians" to "hour", nothing above or below it
    # the full stop after "shock" is marked too (the quote ends with it), "Fluids" is not
    last = max(boxes, key=lambda b: b.top)
    end_of_sentence = LEFT + stringWidth(PARAGRAPH[2][: PARAGRAPH[2].index("shock.") + 6], "Helvetica", 11)
    assert end_of_sentence - 0.5 <= last.right < end_of_sentence + stringWidth(" ", "Helvetica", 11)
    first = min(boxes, key=lambda b: b.top)
    assert first.left == pytest.approx(LEFT, abs=2)
    assert first.bottom - first.top < 2 * LEADING


def test_a_word_hyphenated_across_lines_is_found_as_the_stored_passage_writes_it(paragraph_pdf):
    boxes = span_boxes(paragraph_pdf, 2, "Fluids follow the early treatment plan that the unit agreed on last year.")
    assert len(boxes) == 3
    for i, word in [(2, "Fluids"), (3, "treat"), (4, "ment"), (4, "year")]:
        assert covered(boxes, word_center(PARAGRAPH[i], word, LEFT, line_baseline(i), "Helvetica", 11)), word
    assert not covered(boxes, word_center(PARAGRAPH[2], "shock", LEFT, line_baseline(2), "Helvetica", 11))


def test_whitespace_case_ligatures_and_citation_markers_do_not_hide_the_quote(paragraph_pdf):
    quote = "  SEPSIS is a medical\n emergency that needs   prompt care. [E2]"
    boxes = span_boxes(paragraph_pdf, 2, quote)
    assert len(boxes) == 1
    assert covered(boxes, word_center(PARAGRAPH[0], "prompt", LEFT, line_baseline(0), "Helvetica", 11))
    # a stored passage may keep the ligature character the page's text layer spells out
    ligature = span_boxes(paragraph_pdf, 2, "\ufb02uids follow the early treatment plan")
    assert ligature and ligature == span_boxes(paragraph_pdf, 2, "Fluids follow the early treatment plan")


def test_a_quote_that_is_not_on_the_page_gives_no_boxes(paragraph_pdf):
    assert span_boxes(paragraph_pdf, 2, "Clinicians should give narrow antibiotics within six hours of admission.") == []
    assert span_boxes(paragraph_pdf, 1, "Sepsis is a medical emergency that needs prompt care.") == []  # other page
    assert span_boxes(paragraph_pdf, 2, "") == []
    assert span_boxes(paragraph_pdf, 2, " ... [E1] ") == []


LEFT_COL = [
    "Metformin remains the first-line",
    "drug for most adults with type 2",
    "diabetes unless contraindicated.",
    "Review renal function yearly.",
]
RIGHT_COL = [
    "Insulin is started when targets",
    "are not met despite oral drugs,",
    "with titration every three days.",
    "Hypoglycaemia must be taught.",
]


def test_two_columns_drawn_row_by_row_still_give_the_left_column_sentence(tmp_path):
    pdf = two_column_pdf(tmp_path / "columns.pdf", "Diabetes care", LEFT_COL, RIGHT_COL, interleaved=True)
    boxes = span_boxes(pdf, 1, "Metformin remains the first-line drug for most adults with type 2 diabetes unless contraindicated.")
    assert len(boxes) == 3
    x_right = LEFT + (WIDTH - 2 * LEFT - 24) / 2 + 24
    for i, word in enumerate(["Metformin", "adults", "contraindicated"]):
        assert covered(boxes, word_center(LEFT_COL[i], word, LEFT, TOP - i * 12, "Helvetica", 9)), word
    for i, word in enumerate(["Insulin", "despite", "titration"]):
        assert not covered(boxes, word_center(RIGHT_COL[i], word, x_right, TOP - i * 12, "Helvetica", 9)), word
    assert not covered(boxes, word_center(LEFT_COL[3], "renal", LEFT, TOP - 36, "Helvetica", 9))
    assert all(b.right < x_right for b in boxes)
    right = span_boxes(pdf, 1, "Insulin is started when targets are not met despite oral drugs, with titration every three days.")
    assert len(right) == 3 and all(b.left > x_right - 2 for b in right)


ZH_LINES = ["高血压患者推荐首先进行生活方式干预，包括限盐、", "减重和规律运动。其他内容在这里。", "糖尿病患者另行评估。"]


def test_chinese_across_a_line_break_with_half_width_punctuation_in_the_quote(tmp_path):
    pdf = chinese_pdf(tmp_path / "zh.pdf", [ZH_LINES])
    font, step = _cjk_font(), LEADING + 3
    boxes = span_boxes(pdf, 1, "高血压患者推荐首先进行生活方式干预, 包括限盐、减重和规律运动。")
    assert len(boxes) == 2
    for i, word in [(0, "高血压"), (0, "限盐"), (1, "规律运动")]:
        assert covered(boxes, word_center(ZH_LINES[i], word, LEFT, TOP - i * step, font, 11)), word
    assert not covered(boxes, word_center(ZH_LINES[1], "其他内容", LEFT, TOP - step, font, 11))
    assert not covered(boxes, word_center(ZH_LINES[2], "糖尿病", LEFT, TOP - 2 * step, font, 11))
    assert span_boxes(pdf, 1, "高血压患者推荐首先使用药物治疗。") == []


def test_a_rotated_page_gets_boxes_where_the_rendered_text_is(tmp_path, paragraph_pdf):
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=str(paragraph_pdf))
    writer.pages[1].rotate(90)
    rotated = tmp_path / "rotated.pdf"
    writer.write(str(rotated))
    quote = "Sepsis is a medical emergency that needs prompt care."
    (box,) = span_boxes(rotated, 2, quote)
    assert box.bottom - box.top > box.right - box.left  # the line now runs down the page
    image = render_with_highlight(rotated, 2, [], scale=1.0).convert("L")
    inside = image.crop((int(box.left), int(box.top), int(box.right) + 1, int(box.bottom) + 1))
    assert inside.getextrema()[0] < 100  # the glyphs are inside the box


def test_the_marker_is_drawn_on_the_boxes_and_nowhere_else(paragraph_pdf):
    quote = "Clinicians should give broad antibiotics within one hour of recognition in adults with septic shock."
    boxes = span_boxes(paragraph_pdf, 2, quote)
    scale = 1.5
    plain = render_with_highlight(paragraph_pdf, 2, [], scale=scale)
    marked = render_with_highlight(paragraph_pdf, 2, boxes, scale=scale)
    assert plain.size == marked.size == (round(WIDTH * scale), round(HEIGHT * scale))
    for box in boxes:
        x, y = (box.left + box.right) / 2 * scale, (box.top + box.bottom) / 2 * scale
        r, g, b = marked.getpixel((int(x), int(y)))
        assert r > b + 60 and g > b + 40  # yellowish, whether it lands on a glyph or paper
        assert marked.getpixel((int(x), int(y))) != plain.getpixel((int(x), int(y)))
    diff = ImageChops.difference(plain, marked).getbbox()
    left, top = min(b.left for b in boxes), min(b.top for b in boxes)
    right, bottom = max(b.right for b in boxes), max(b.bottom for b in boxes)
    assert diff[0] >= (left - 2) * scale and diff[1] >= (top - 2) * scale
    assert diff[2] <= (right + 2) * scale + 1 and diff[3] <= (bottom + 2) * scale + 1
    # the line above and the line below are untouched
    for i in (0, 3):
        x, y = word_center(PARAGRAPH[i], PARAGRAPH[i].split()[1], LEFT, line_baseline(i), "Helvetica", 11)
        area = (int((x - 10) * scale), int((y - 3) * scale), int((x + 10) * scale), int((y + 3) * scale))
        assert ImageChops.difference(plain.crop(area), marked.crop(area)).getbbox() is None


def test_bad_files_pages_and_sizes_are_refused_with_the_file_named(tmp_path, paragraph_pdf):
    missing = tmp_path / "missing.pdf"
    with pytest.raises(HighlightError, match="missing.pdf"):
        span_boxes(missing, 1, "x")
    not_pdf = tmp_path / "notes.pdf"
    not_pdf.write_text("just text")
    with pytest.raises(HighlightError, match="notes.pdf: cannot open"):
        render_with_highlight(not_pdf, 1, [])
    with pytest.raises(HighlightError, match="has no page 3 \\(it has 2\\)"):
        span_boxes(paragraph_pdf, 3, "Sepsis")
    with pytest.raises(PreviewError, match="over the limit of 1,000,000"):  # the preview's handler catches it
        render_with_highlight(paragraph_pdf, 2, [], scale=2.0, max_pixels=1_000_000)
    with pytest.raises(HighlightError, match="scale must be positive"):
        render_with_highlight(paragraph_pdf, 2, [], scale=0)


# ----------------------------------------------------------------------------- markdown sections

SECTION = (
    "## Treatment\n\n"
    "- **Aspirin** is recommended for secondary\n  prevention in adults (Class I, LOE A).\n"
    "- Statins are recommended for all adults with ASCVD.\n"
)


def test_mark_span_flags_the_quoted_sentence_and_keeps_every_character():
    pieces = mark_span(SECTION, "Aspirin is recommended for secondary prevention in adults (Class I, LOE A). [E1]")
    assert "".join(text for text, _ in pieces) == SECTION
    marked = [text for text, flag in pieces if flag]
    assert len(marked) == 1
    assert marked[0].startswith("Aspirin") and marked[0].endswith("LOE A).")
    assert "Statins" not in marked[0] and "Treatment" not in marked[0]


def test_mark_span_is_tolerant_like_the_pdf_match():
    text = "首先进行生活方式干预，包括限盐、减重。The ﬁrst-line drug is metformin."
    pieces = mark_span(text, "生活方式干预,包括限盐、减重。")
    assert [t for t, f in pieces if f] == ["生活方式干预，包括限盐、减重。"]
    pieces = mark_span(text, "The first-line drug is metformin.")
    assert [t for t, f in pieces if f] == ["The ﬁrst-line drug is metformin."]
    treat = "Start the early treat-\nment plan today."
    assert [t for t, f in mark_span(treat, "early treatment plan") if f] == ["early treat-\nment plan"]


def test_mark_span_without_a_match_returns_the_text_unmarked():
    assert mark_span(SECTION, "Beta blockers are recommended after myocardial infarction.") == [(SECTION, False)]
    assert mark_span("", "anything") == []


def test_a_different_sentence_sharing_phrases_is_not_a_match():
    page = keyed_text("Aspirin is recommended for patients with diabetes and high risk. Other text follows here.")
    quote, _ = matching_key("Statins are recommended for patients with diabetes and high cardiovascular risk.")
    assert find_fragments(page, quote) == []


@pytest.mark.parametrize("page, quote", [
    ("Aspirin should be given and is not recommended for primary prevention in older adults.",
     "Aspirin should be given and is recommended for primary prevention in older adults."),
    ("Lower the systolic pressure to a target below 140 mmHg in most adults.",
     "Lower the systolic pressure to a target below 130 mmHg in most adults."),
    ("对于一般高血压患者，不推荐常规使用阿司匹林进行一级预防。", "对于一般高血压患者，推荐常规使用阿司匹林进行一级预防。"),
])
def test_a_negation_or_a_different_number_is_never_passed_over(page, quote):
    assert find_fragments(keyed_text(page), matching_key(quote)[0]) == []
    assert mark_span(page, quote) == [(page, False)]


def test_a_character_the_text_layer_lost_is_passed_over_only_where_the_page_has_an_unreadable_one():
    quote = matching_key("Aspirin is recommended for patients with diabetes and high risk.")[0]
    assert find_fragments(keyed_text("Aspirin is recommended for patients with diabetes and h\ufffdgh risk."), quote)
    assert find_fragments(keyed_text("Aspirin is recommended for patients with diabetes and h\ue001gh risk."), quote)
    assert find_fragments(keyed_text("Aspirin is recommended for patients with diabetes and hagh risk."), quote) == []


def test_a_passage_running_on_to_the_next_page_is_marked_where_it_is_with_a_lower_coverage(paragraph_pdf):
    passage = " ".join(PARAGRAPH[3:]) + " The next page goes on about fluid volumes and vasopressors in detail."
    assert span_boxes(paragraph_pdf, 2, passage) == []  # by default the whole quote must be there
    boxes = span_boxes(paragraph_pdf, 2, passage, min_coverage=0.4)
    assert len(boxes) == 2
    assert covered(boxes, word_center(PARAGRAPH[4], "agreed", LEFT, line_baseline(4), "Helvetica", 11))
    assert not covered(boxes, word_center(PARAGRAPH[2], "Fluids", LEFT, line_baseline(2), "Helvetica", 11))


def test_pieces_of_a_quote_count_only_when_they_break_where_the_page_breaks_lines(paragraph_pdf):
    # halves of two different lines, glued: every word is on the page, but not this sentence
    glued = "Clinicians should give broad antibiotics ment plan that the unit agreed on last year."
    assert span_boxes(paragraph_pdf, 2, glued) == []
    # whole lines in another order (what a row-by-row two-column page does to a passage) are found
    reordered = PARAGRAPH[4] + " " + PARAGRAPH[1]
    boxes = span_boxes(paragraph_pdf, 2, reordered)
    assert len(boxes) == 2
    assert covered(boxes, word_center(PARAGRAPH[1], "broad", LEFT, line_baseline(1), "Helvetica", 11))
    assert covered(boxes, word_center(PARAGRAPH[4], "agreed", LEFT, line_baseline(4), "Helvetica", 11))


def test_a_long_quote_in_the_same_words_as_the_page_is_not_found(tmp_path):
    """A page and a quote drawn from the same dozen words share many two- and three-word
    phrases; 90% of the quote is covered by them, but they do not break at line ends."""
    import random

    rng = random.Random(7)
    words = "patients with diabetes should receive therapy treatment blood pressure target risk outcome".split()
    lines = [" ".join(rng.choice(words) for _ in range(12)) for _ in range(40)]
    pdf = lines_pdf(tmp_path / "dense.pdf", [lines], size=8)
    assert span_boxes(pdf, 1, " ".join(rng.choice(words) for _ in range(120))) == []
    assert len(span_boxes(pdf, 1, " ".join(lines[5:9]))) == 4


def test_a_passage_that_began_on_the_page_before_is_marked_after_a_look_alike_phrase(paragraph_pdf):
    # its start shares "Clinicians should give broad" with line 2: that first try is dropped
    passage = "Clinicians should give broad support to families. " + PARAGRAPH[0] + " " + PARAGRAPH[1]
    boxes = span_boxes(paragraph_pdf, 2, passage, min_coverage=0.5)
    assert len(boxes) == 2
    assert covered(boxes, word_center(PARAGRAPH[0], "emergency", LEFT, line_baseline(0), "Helvetica", 11))
    assert covered(boxes, word_center(PARAGRAPH[1], "antibiotics", LEFT, line_baseline(1), "Helvetica", 11))
    assert not covered(boxes, word_center(PARAGRAPH[2], "recognition", LEFT, line_baseline(2), "Helvetica", 11))
    pieces = mark_span("\n".join(PARAGRAPH), passage, min_coverage=0.5)
    assert [t for t, f in pieces if f] == [PARAGRAPH[0] + "\n" + PARAGRAPH[1]]


# ----------------------------------------------------------------------------- quotes from answers


def test_cited_quotes_takes_the_words_before_each_marker():
    answer = (
        "**Treatment (guideline, level 1; p. 2)**\n"
        "- Aspirin is recommended for secondary prevention (Class I, LOE A). [E1] (Class I, LOE A) (under “Recs”)\n"
        "Metformin is first-line [E3]. It lowers HbA1c by about 1% [E3][E1]. 二甲双胍是首选药物[E4]。"
    )
    assert cited_quotes(answer, "E1") == ["Aspirin is recommended for secondary prevention (Class I, LOE A).",
                                          "It lowers HbA1c by about 1%"]
    assert cited_quotes(answer, "E3") == ["Metformin is first-line", "It lowers HbA1c by about 1%"]
    assert cited_quotes(answer, "E4") == ["二甲双胍是首选药物"]
    assert cited_quotes(answer, "E9") == []


def test_the_extractive_digests_quotes_are_found_in_their_passages():
    """End to end on the digest's real output format: each quote it cites is marked in the
    passage it cites, and nothing else is (the grade and scope notes it appends are not)."""
    from evidence.digest import extractive_answer
    from evidence.schema import Evidence

    texts = {
        "E1": "## Anticoagulation\n\n- Direct oral anticoagulants are **recommended** over warfarin in eligible\n"
              "  patients with atrial fibrillation (Class I). Reduce apixaban to 2.5 mg twice daily if two criteria apply.",
        "E2": "对于非瓣膜性房颤患者，推荐使用新型口服抗凝药预防卒中（I级推荐，A级证据）。\n不推荐单独使用阿司匹林预防卒中。",
    }
    questions = {"E1": "Which anticoagulant for atrial fibrillation?", "E2": "房颤患者用什么抗凝药预防卒中?"}
    for eid, text in texts.items():
        evidence = Evidence(evidence_id=eid, chunk_id=f"{eid}:0", document_id=eid, text=text, page_start=1,
                            page_end=1, title=eid, year=2023)
        answer = extractive_answer(questions[eid], [evidence])
        quotes = cited_quotes(answer.text, eid)
        assert quotes, answer.text
        for quote in quotes:
            marked = [t for t, f in mark_span(text, quote) if f]
            assert len(marked) == 1, (quote, text)
            assert "under" not in marked[0] and "not graded" not in marked[0]


def test_the_evidence_card_preview_draws_the_cited_sentence_and_says_when_it_cannot(paragraph_pdf):
    """The card's cached preview (app.ui.page._highlighted_image) is what a clinician sees: the
    page of the PDF bytes Assistant.source_pdf gave, with the cited sentence marked, or the plain
    page plus a flag the caption reports; a broken PDF is a PreviewError the card shows."""
    import hashlib

    from app.ui.page import _highlighted_image

    data = paragraph_pdf.read_bytes()
    doc = hashlib.sha256(data).hexdigest()
    quote = "Clinicians should give broad antibiotics within one hour of recognition in adults with septic shock."
    marked, drawn = _highlighted_image(doc, 2, (quote,), data)
    plain, none_drawn = _highlighted_image(doc, 2, (), data)
    missing, not_found = _highlighted_image(doc, 2, ("Give narrow antibiotics within six hours.",), data)
    assert drawn and not none_drawn and not not_found
    assert marked.size == plain.size and list(marked.getdata()) != list(plain.getdata())
    assert list(missing.getdata()) == list(plain.getdata())
    with pytest.raises(PreviewError, match="^the cited PDF: cannot open the PDF"):
        _highlighted_image("0" * 64, 2, (quote,), b"%PDF-1.4 cut short")
    with pytest.raises(PreviewError, match="^the cited PDF: has no page 3"):
        _highlighted_image(doc, 3, (quote,), data)


def test_a_markdown_section_shows_the_cited_span_marked_and_escaped():
    from app.ui.page import marked_section_html

    text = "- Give <b>fluids</b> early.\n- Clinicians should give broad antibiotics within one hour."
    out = marked_section_html(text, ("Clinicians should give broad antibiotics within one hour.",))
    assert "<mark>Clinicians should give broad antibiotics within one hour" in out
    assert "&lt;b&gt;fluids&lt;/b&gt;" in out and "<b>" not in out
    assert "\n- " in out and "pre-wrap" in out
    assert "<mark>" not in marked_section_html(text, ("Nothing like this is in the section.",))


def test_a_doi_becomes_a_resolver_link_that_a_record_cannot_redirect():
    from app.ui.page import doi_url

    assert doi_url("10.1001/jama.2016.0287") == "https://doi.org/10.1001/jama.2016.0287"
    assert doi_url(" https://doi.org/10.1/x ") == "https://doi.org/10.1/x"
    assert doi_url("10.1/x?a=b#c").startswith("https://doi.org/10.1/x%3Fa%3Db%23c")


def test_the_cited_section_is_read_again_from_its_source_only_while_it_is_unchanged(tmp_path):
    """Assistant.source_text gives the whole section (a guideline's section file) or PDF page a
    citation points at, as the card's "Show the quoted words in this section" shows it; a source
    whose content is no longer the cited one, or is gone, gives None (never another text)."""
    import shutil

    from app import Assistant
    from evidence.schema import Evidence
    from indexing.readers import read_document
    from indexing.readers.demo import guideline_folder_document, open_medicine_dir

    helper = Assistant(data_dir=tmp_path / "data")
    folder = next(p for p in sorted((open_medicine_dir() / "content").iterdir()) if p.is_dir())
    guideline = guideline_folder_document(folder)
    section = guideline.pages[-1]
    cite = Evidence(chunk_id="c", document_id=guideline.document_id, text=section.text[:80], page_start=section.number,
                    page_end=section.number, title=guideline.title, path=str(folder))
    assert helper.source_text(cite) == section.text and len(section.text) > len(cite.text)
    assert helper.source_text(cite.model_copy(update={"document_id": "0" * 64})) is None  # re-indexed or changed since
    assert helper.source_text(cite.model_copy(update={"page_start": len(guideline.pages) + 1})) is None

    pdf = tmp_path / "ctt.pdf"
    shutil.copy(Path(__file__).resolve().parents[2] / "data" / "samples" / "en-ctt-2010.pdf", pdf)
    document = read_document(pdf)
    cite_pdf = cite.model_copy(update={"document_id": document.document_id, "path": str(pdf), "page_start": 2, "page_end": 2})
    assert "LDL cholesterol" in helper.source_text(cite_pdf)
    pdf.write_bytes(b"%PDF-1.4 not any more")
    assert helper.source_text(cite_pdf) is None
    pdf.unlink()
    assert helper.source_text(cite_pdf) is None
