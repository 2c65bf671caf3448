"""Readers: the right text on the right page, metadata from the file and its sidecar."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from indexing.cleaning import clean_document
from indexing.errors import ReadError
from indexing.labels import SourceType
from indexing.readers import is_supported, read_document
from indexing.readers.sidecar import is_sidecar
from tests.indexing.pdf_factory import lines_pdf, two_column_pdf


def test_pdf_text_lands_on_its_physical_page(tmp_path: Path) -> None:
    pdf = lines_pdf(
        tmp_path / "three.pdf",
        [["Apples are the topic of page one."], ["Bananas are the topic of page two."], ["Cherries close on page three."]],
        title="Fruit Review 2019",
        author="Smith J; Jones K",
    )
    doc = read_document(pdf)
    assert doc.format == "pdf"
    assert [p.number for p in doc.pages] == [1, 2, 3]
    assert "Apples" in doc.pages[0].text and "Bananas" not in doc.pages[0].text
    assert "Bananas" in doc.pages[1].text
    assert "Cherries" in doc.pages[2].text
    assert doc.title == "Fruit Review 2019"
    assert doc.meta.title == "Fruit Review 2019"
    assert doc.meta.authors == ["Smith J", "Jones K"]
    assert doc.meta.language == "en"
    assert len(doc.document_id) == 64


def test_pdf_without_metadata_title_takes_first_heading_line(tmp_path: Path) -> None:
    pdf = lines_pdf(
        tmp_path / "untitled.pdf",
        [["Management of Gout in Adults", "", "Urate-lowering therapy is recommended for patients with tophi."],
         ["Colchicine is an option for flares."]],
    )
    assert read_document(pdf).title == "Management of Gout in Adults"


def test_doi_is_found_in_the_first_pages(tmp_path: Path) -> None:
    pdf = lines_pdf(tmp_path / "doi.pdf", [["A study of things", "https://doi.org/10.1056/NEJMoa1511939."]])
    assert read_document(pdf).meta.doi == "10.1056/NEJMoa1511939"


def test_same_bytes_under_two_names_are_one_document(tmp_path: Path) -> None:
    first = lines_pdf(tmp_path / "a.pdf", [["Identical content."]])
    second = tmp_path / "copy of a.pdf"
    shutil.copyfile(first, second)
    other = lines_pdf(tmp_path / "b.pdf", [["Different content."]])
    assert read_document(first).document_id == read_document(second).document_id
    assert read_document(first).document_id != read_document(other).document_id


def test_pdf_detected_by_content_whatever_the_name(tmp_path: Path) -> None:
    pdf = lines_pdf(tmp_path / "report.bin", [["Hidden PDF content here."]])
    renamed = tmp_path / "report.txt"
    pdf.rename(renamed)
    doc = read_document(renamed)
    assert doc.format == "pdf"
    assert "Hidden PDF content" in doc.pages[0].text


def test_markdown_keeps_headings_and_takes_title(tmp_path: Path) -> None:
    md = tmp_path / "notes.md"
    md.write_text("# Heart Failure Notes\n\n## Diuretics\n\nLoop diuretics relieve congestion.\n", encoding="utf-8")
    doc = read_document(md)
    assert doc.format == "markdown"
    assert doc.title == "Heart Failure Notes"
    assert "## Diuretics" in doc.pages[0].text
    assert len(doc.pages) == 1


def test_markdown_front_matter_is_metadata_not_text(tmp_path: Path) -> None:
    md = tmp_path / "fm.md"
    md.write_text("---\ntitle: Sepsis Bundle\nyear: 2021\ndoi: 10.1007/s00134-021-06506-y\n---\n# Heading\nBody.\n")
    doc = read_document(md)
    assert doc.title == "Sepsis Bundle" and doc.meta.year == 2021
    assert doc.meta.doi == "10.1007/s00134-021-06506-y"
    assert "title:" not in doc.pages[0].text


def test_text_file_pages_split_at_form_feeds_and_encodings(tmp_path: Path) -> None:
    txt = tmp_path / "plain.txt"
    txt.write_text("Plain Title\nfirst page text\fsecond page text\n", encoding="utf-8")
    doc = read_document(txt)
    assert doc.format == "text"
    assert [p.number for p in doc.pages] == [1, 2]
    assert "second page" in doc.pages[1].text
    assert doc.title == "Plain Title"
    gbk = tmp_path / "chinese.txt"
    gbk.write_bytes("高血压患者应限制钠盐摄入。".encode("gb18030"))
    assert read_document(gbk).pages[0].text == "高血压患者应限制钠盐摄入。"


def test_unsupported_files_are_refused_and_not_walked(tmp_path: Path) -> None:
    docx = tmp_path / "guide.docx"
    docx.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    with pytest.raises(ReadError, match="unsupported file type"):
        read_document(docx)
    assert not is_supported(docx)
    assert is_supported(tmp_path / "x.pdf") and is_supported(tmp_path / "y.md")


# ----------------------------------------------------------------------------- sidecars


def _pdf(tmp_path: Path, name: str = "guide.pdf") -> Path:
    return lines_pdf(tmp_path / name, [["Some guideline text on page one."]], title="File Title")


def test_json_sidecar_overrides_file_metadata(tmp_path: Path) -> None:
    pdf = _pdf(tmp_path)
    (tmp_path / "guide.pdf.meta.json").write_text(json.dumps({
        "title": "2018 Chinese Guidelines for Hypertension",
        "year": 2018,
        "organisation": "Chinese Hypertension League",
        "source_type": "guideline",
        "evidence_level": 1,
        "doi": "https://doi.org/10.11909/j.issn.1671-5411.2019.03.001",
        "authors": "Wang A; Li B",
        "mesh_terms": ["Hypertension"],
        "publication_types": "Practice Guideline",
        "topics": ["blood pressure"],
    }), encoding="utf-8")
    doc = read_document(pdf)
    assert doc.title == "2018 Chinese Guidelines for Hypertension"
    assert doc.meta.year == 2018
    assert doc.meta.organization == "Chinese Hypertension League"
    assert doc.meta.source_type is SourceType.GUIDELINE
    assert doc.meta.evidence_level == 1
    assert doc.meta.doi == "10.11909/j.issn.1671-5411.2019.03.001"
    assert doc.meta.authors == ["Wang A", "Li B"]
    assert doc.meta.publication_types == ["Practice Guideline"]
    assert doc.meta.keywords == ["blood pressure"]


def test_yaml_sidecar_by_stem_and_synonyms(tmp_path: Path) -> None:
    pdf = _pdf(tmp_path)
    (tmp_path / "guide.meta.yaml").write_text("source_type: Randomized Controlled Trial\nyear: '2015'\n")
    doc = read_document(pdf)
    assert doc.meta.source_type is SourceType.RCT and doc.meta.year == 2015
    assert doc.title == "File Title"  # not overridden when the sidecar has no title


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("guide.pdf.meta.json", "{not json", "invalid JSON at line 1"),
        ("guide.pdf.meta.json", "[1, 2]", "expected a mapping"),
        ("guide.pdf.meta.json", '{"evidence_levle": 2}', "unknown key(s) evidence_levle"),
        ("guide.pdf.meta.json", '{"evidence_level": 7}', "evidence_level"),
        ("guide.pdf.meta.json", '{"source_type": "blog post"}', "unknown source type 'blog post'"),
        ("guide.pdf.meta.json", '{"doi": "not-a-doi"}', "not a DOI"),
        ("guide.pdf.meta.yaml", "title: [unclosed\n", "invalid YAML"),
        ("guide.pdf.meta.yaml", "!!python/object/apply:os.system ['echo hi']\n", "invalid YAML"),
    ],
)
def test_malformed_sidecar_is_a_read_error_naming_it(tmp_path: Path, name: str, content: str, reason: str) -> None:
    pdf = _pdf(tmp_path)
    (tmp_path / name).write_text(content, encoding="utf-8")
    with pytest.raises(ReadError) as err:
        read_document(pdf)
    assert err.value.path == pdf
    assert name in err.value.reason
    assert reason in err.value.reason
    assert "\n" not in err.value.reason


def test_two_sidecars_for_one_file_is_an_error(tmp_path: Path) -> None:
    pdf = _pdf(tmp_path)
    (tmp_path / "guide.pdf.meta.json").write_text("{}")
    (tmp_path / "guide.meta.yaml").write_text("year: 2001\n")
    with pytest.raises(ReadError, match="several metadata sidecars"):
        read_document(pdf)


def test_sidecars_are_not_documents(tmp_path: Path) -> None:
    pdf = _pdf(tmp_path)
    sidecar = tmp_path / "guide.pdf.json"
    sidecar.write_text('{"year": 2020}')
    assert is_sidecar(sidecar) and not is_supported(sidecar)
    assert is_sidecar(tmp_path / "x.meta.yaml")
    assert read_document(pdf).meta.year == 2020
    unrelated = tmp_path / "guide.json"  # a bare stem.json is not read as metadata
    unrelated.write_text("{broken")
    assert not is_sidecar(unrelated)


# ----------------------------------------------------------------------------- reading order


_LEFT = [
    "Left column sentence one about",
    "anticoagulation begins the text.",
    "Left column sentence two about",
    "warfarin dosing continues it.",
    "Left column sentence three on",
    "bleeding risk ends the column.",
    "Left column sentence four on",
    "INR monitoring adds a line.",
    "Left column sentence five on",
    "renal function closes it all.",
]
_RIGHT = [
    "Right column sentence one on",
    "statin therapy opens the side.",
    "Right column sentence two on",
    "LDL targets carries it on.",
    "Right column sentence three on",
    "muscle symptoms follows.",
    "Right column sentence four on",
    "liver enzymes is next here.",
    "Right column sentence five on",
    "adherence finishes the page.",
]


@pytest.mark.parametrize("interleaved", [True, False])
def test_two_column_page_reads_left_column_then_right(tmp_path: Path, interleaved: bool) -> None:
    pdf = two_column_pdf(tmp_path / "cols.pdf", "A Two Column Article Title That Spans The Page", _LEFT, _RIGHT,
                         interleaved=interleaved)
    text = clean_document(read_document(pdf)).pages[0].text
    flat = " ".join(text.split())
    assert flat.index("Two Column Article") < flat.index("Left column sentence one")
    assert flat.index("renal function closes it all.") < flat.index("Right column sentence one")
    # each column's sentences come out whole and in order
    assert "Left column sentence two about warfarin dosing continues it." in flat
    assert "Right column sentence four on liver enzymes is next here." in flat
    positions = [flat.index(f"Right column sentence {n}") for n in ("one", "two", "three", "four", "five")]
    assert positions == sorted(positions)


@pytest.mark.parametrize("placeholder", ["untitled", "(anonymous)", "Microsoft Word - draft.docx", "NEJMoa1511939"])
def test_placeholder_metadata_titles_fall_back_to_the_first_heading(tmp_path: Path, placeholder: str) -> None:
    pdf = lines_pdf(tmp_path / "t.pdf", [["Statins in Older Adults", "", "Body text follows here."]], title=placeholder)
    assert read_document(pdf).title == "Statins in Older Adults"


def test_chinese_two_column_page_reads_column_by_column(tmp_path: Path) -> None:
    left = [f"左栏第{i}句：高血压患者应定期测量血压并记录结果。" for i in range(1, 11)]
    right = [f"右栏第{i}句：糖尿病患者应控制糖化血红蛋白水平。" for i in range(1, 11)]
    pdf = two_column_pdf(tmp_path / "zh-cols.pdf", "双栏排版的指南摘要标题", left, right, chinese=True)
    text = clean_document(read_document(pdf)).pages[0].text
    flat = text.replace("\n", "")
    assert flat.index("双栏排版") < flat.index("左栏第1句")
    assert "".join(left) in flat and "".join(right) in flat  # each column whole, no spaces added
    assert flat.index("左栏第10句") < flat.index("右栏第1句")
