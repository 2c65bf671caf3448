"""Cleaning: running headers gone, hyphens joined (real ones kept), Chinese left intact."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexing.cleaning import (
    clean_document,
    dehyphenate,
    heading_level,
    normalise_text,
    remove_running_lines,
)
from indexing.readers import read_document
from indexing.schema import Document, Page
from tests.indexing.pdf_factory import chinese_pdf, lines_pdf, table_pdf

_PAGES = [
    ["1. Introduction",
     "Hypertension is common and its treat-",
     "ment reduces stroke. Beta-",
     "blockers and COVID-",
     "19 vaccination were discussed in the",
     "context of high blood pressure management."],
    ["2. Methods",
     "We searched the literature for trials of anti-",
     "hypertensive drugs in older adults with",
     "isolated systolic hypertension and non-",
     "smokers were analysed separately."],
    ["3. Results",
     "Systolic pressure fell by a clinically meaningful",
     "amount in the intervention group overall."],
    ["4. Discussion",
     "The findings agree with earlier trials."],
]


@pytest.fixture(scope="module")
def journal_article(tmp_path_factory: pytest.TempPathFactory) -> Document:
    path = tmp_path_factory.mktemp("clean") / "article.pdf"
    lines_pdf(path, _PAGES, header="Journal of Clinical Tests 2020;12:{page}-{pages}", footer="Page {page} of {pages}")
    return clean_document(read_document(path))


def test_running_headers_footers_and_page_numbers_are_removed(journal_article: Document) -> None:
    for page in journal_article.pages:
        assert "Journal of Clinical Tests" not in page.text
        assert "Page " not in page.text
    assert journal_article.pages[0].text.startswith("1. Introduction")
    assert journal_article.pages[3].text.endswith("The findings agree with earlier trials.")


def test_line_end_hyphenation_joined_and_real_hyphens_kept(journal_article: Document) -> None:
    first = journal_article.pages[0].text
    assert "its treatment reduces stroke." in first
    assert "Beta-blockers and COVID-19 vaccination" in first
    second = journal_article.pages[1].text
    assert "trials of antihypertensive drugs" in second
    assert "non-smokers were analysed" in second


def test_paragraph_lines_are_joined_and_headings_keep_their_own_line(journal_article: Document) -> None:
    lines = journal_article.pages[0].text.split("\n")
    assert lines[0] == "1. Introduction"
    assert lines[1].endswith("context of high blood pressure management.")
    assert len(lines) == 2


def test_hyphen_kept_when_the_document_writes_the_word_with_one() -> None:
    vocab_text = ["The follow-up visit was booked.", "Loss to follow-\nup was low."]
    doc = Document(document_id="x" * 64, path="x.txt", format="text", title="t",
                   pages=[Page(number=i + 1, text=t) for i, t in enumerate(vocab_text)])
    assert "Loss to follow-up was low." in clean_document(doc).pages[1].text
    assert dehyphenate(["the inter-", "vention arm"]) == ["the intervention arm"]


def test_table_rows_stay_rows(tmp_path: Path) -> None:
    rows = [["Drug", "Dose", "Frequency"], ["Amlodipine", "5 mg", "once daily"], ["Lisinopril", "10 mg", "once daily"],
            ["Indapamide", "1.5 mg", "once daily"]]
    path = table_pdf(tmp_path / "table.pdf", "Table 2. Starting doses of common antihypertensive drugs.",
                     rows, column_x=[72, 220, 320])
    text = clean_document(read_document(path)).pages[0].text
    lines = text.split("\n")
    assert lines[0] == "Table 2. Starting doses of common antihypertensive drugs."
    assert lines[1:] == [
        "Drug | Dose | Frequency",
        "Amlodipine | 5 mg | once daily",
        "Lisinopril | 10 mg | once daily",
        "Indapamide | 1.5 mg | once daily",
    ]


def test_chinese_pdf_kept_intact(tmp_path: Path) -> None:
    pages = [
        ["一、血压测量",
         "诊室血压是目前诊断高血压的常用方法，推荐使用经过验证的上臂式医用电子",
         "血压计（I级推荐，A级证据）。家庭血压监测可用于评估长期血压变异。",
         "（一）降压目标",
         "一般高血压患者应降至<140/90 mmHg；能耐受者可进一步降至<130/80 mmHg。"],
        ["二、药物治疗",
         "常用降压药物包括钙通道阻滞剂、血管紧张素转换酶抑制剂、血管紧张素受体",
         "拮抗剂、利尿剂和β受体阻滞剂五类（推荐类别 I，证据等级 A）。"],
    ]
    path = chinese_pdf(tmp_path / "zh.pdf", pages, footer="本摘要由 m1-evidence 项目整理，请以原文为准 第{page}页")
    raw = read_document(path)
    assert raw.meta.language == "zh"
    doc = clean_document(raw)
    first, second = doc.pages[0].text, doc.pages[1].text
    assert "推荐使用经过验证的上臂式医用电子血压计（I级推荐，A级证据）。" in first  # joined, no space
    assert "<140/90 mmHg；能耐受者" in first
    assert first.split("\n")[0] == "一、血压测量"
    assert "血管紧张素受体拮抗剂、利尿剂和β受体阻滞剂五类（推荐类别 I，证据等级 A）。" in second
    assert "本摘要由" not in first + second  # the running footer went with the other running lines
    for mark in "，。；（）":
        assert mark in first + second


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("ﬁrst-line ﬂuid", "first-line fluid"),
        ("１２３ ＡＢＣ", "123 ABC"),  # full-width letters and digits map to ASCII
        ("血压，血糖；血脂：（正常）。", "血压，血糖；血脂：（正常）。"),  # full-width punctuation stays
        ("高 血 压 患 者", "高血压患者"),  # extraction spaces between CJK characters go
        ("使用 ACEI 治疗", "使用 ACEI 治疗"),  # spaces between CJK and Latin stay
        ("platelets 150×10⁹/L", "platelets 150×10⁹/L"),  # superscripts keep their meaning
        ("Ⅰ级推荐", "I级推荐"),
        ("a\u00a0b\u200bc  d\te", "a bc d e"),
        ("soft\u00adhyphen", "softhyphen"),
        ("treat\u00ad\nment works", "treatment works"),
        ("治疗……观察", "治疗……观察"),
        ("\uf0b7 Word bullet", "• Word bullet"),
    ],
)
def test_normalise_text(raw: str, clean: str) -> None:
    assert normalise_text(raw) == clean


def test_running_lines_need_repetition_and_spare_the_body() -> None:
    pages = [
        ["Annals of Tests", "Heading one", "Body text A.", "12"],
        ["Annals of Tests", "Heading two", "Body text B.", "13"],
        ["Annals of Tests", "Heading three", "Body text C.", "14"],
    ]
    out = remove_running_lines(pages)
    assert out == [["Heading one", "Body text A."], ["Heading two", "Body text B."], ["Heading three", "Body text C."]]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("1. Introduction", (1, True)),
        ("3.2.1 Target blood pressure", (3, True)),
        ("第一章 总则", (1, True)),
        ("（二）降压目标", (2, True)),
        ("RECOMMENDATIONS", (1, False)),
        ("Key Recommendations", (1, False)),
        ("1. Lifestyle modification is recommended for all adults.", None),
        ("3.2 Statins should be started in patients with diabetes", None),
        ("1. 建议所有高血压患者进行生活方式干预。", None),
        ("Page 3 of 10", None),
        ("Table 1 Baseline Characteristics", None),
        ("The patients were randomised.", None),
    ],
)
def test_heading_level(line: str, expected: tuple[int, bool] | None) -> None:
    assert heading_level(line) == expected


def test_headers_carrying_the_printed_page_number_are_removed_even_when_their_text_changes() -> None:
    chapters = ["Chapter 1: Diagnosis", "Chapter 1: Diagnosis", "Chapter 2: Treatment", "Chapter 2: Treatment",
                "Chapter 2: Treatment"]
    bodies = ["Measure twice.", "Confirm at home.", "Start a thiazide.", "Review in a month.", "Stop if dizzy."]
    pages = [[f"{chapter} {number + 10}", body] for number, (chapter, body) in enumerate(zip(chapters, bodies), start=1)]
    out = remove_running_lines(pages, [1, 2, 3, 4, 5])
    assert out == [[body] for body in bodies]
    # a number at a line edge that does not follow the page numbering stays, and so does a
    # numbered heading that happens to match the page number but appears only once
    pages[1][0] = "12 Treatment targets"
    assert remove_running_lines(pages, [1, 2, 3, 4, 5])[1] == ["12 Treatment targets", "Confirm at home."]
    pages[2][0] = "Table 7"
    assert remove_running_lines(pages, [1, 2, 3, 4, 5])[2] == ["Table 7", "Start a thiazide."]


def test_blank_lines_end_paragraphs_in_text_files(tmp_path: Path) -> None:
    txt = tmp_path / "notes.txt"
    txt.write_text(
        "Background\n\nHypertension affects many adults and is the leading modifiable\n"
        "risk factor for stroke worldwide\n\nTreatment lowers that risk substantially in\n"
        "trials of older adults\n"
    )
    text = clean_document(read_document(txt)).pages[0].text
    assert text.split("\n") == [
        "Background",
        "Hypertension affects many adults and is the leading modifiable risk factor for stroke worldwide",
        "Treatment lowers that risk substantially in trials of older adults",
    ]


def test_word_hyphenated_over_a_page_break_is_made_whole_on_the_first_page() -> None:
    doc = Document(document_id="y" * 64, path="x.pdf", format="pdf", title="t", pages=[
        Page(number=1, text="Blood pressure control requires long-term treat-"),
        Page(number=2, text="ment adherence, which falls over time.\nA new paragraph starts here."),
    ])
    clean = clean_document(doc)
    assert clean.pages[0].text == "Blood pressure control requires long-term treatment"
    assert clean.pages[1].text.startswith("adherence, which falls over time.")
