"""PubMed / MEDLINE XML reader: records, gzip, update-file deletions, bad and unsafe input."""

from __future__ import annotations

import gzip
import tracemalloc
from pathlib import Path

import pytest

from indexing.readers.pubmed import PubmedError, PubmedRecord, deleted_pmids, iter_pubmed

DOCTYPE = ('<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2024//EN" '
           '"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_240101.dtd">')


def _article(pmid: str, *, title: str = "A trial", abstract: str = "", pub_types: tuple[str, ...] = ("Journal Article",),
             mesh: tuple[str, ...] = (), year: str = "<Year>2021</Year>", version: str = "1", doi: str | None = None,
             language: str = "eng") -> str:
    types = "".join(f'<PublicationType UI="D0">{t}</PublicationType>' for t in pub_types)
    heads = "".join(f'<MeshHeading><DescriptorName UI="D1" MajorTopicYN="N">{m}</DescriptorName>'
                    f'<QualifierName UI="Q1">therapy</QualifierName></MeshHeading>' for m in mesh)
    elocation = f'<ELocationID EIdType="doi" ValidYN="Y">{doi}</ELocationID>' if doi else ""
    return (f'<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="{version}">{pmid}</PMID>'
            f'<Article PubModel="Print"><Journal><JournalIssue CitedMedium="Print"><PubDate>{year}</PubDate></JournalIssue>'
            f'<Title>The Journal of Tests</Title></Journal><ArticleTitle>{title}</ArticleTitle>{elocation}'
            f'{abstract}<Language>{language}</Language><PublicationTypeList>{types}</PublicationTypeList></Article>'
            f'<MeshHeadingList>{heads}</MeshHeadingList></MedlineCitation>'
            f'<PubmedData><ArticleIdList><ArticleId IdType="pubmed">{pmid}</ArticleId>'
            f'<ArticleId IdType="doi">10.1/from-pubmeddata.{pmid}</ArticleId></ArticleIdList></PubmedData></PubmedArticle>')


def _write(tmp_path: Path, body: str, name: str = "set.xml", *, doctype: bool = True, gz: bool = False) -> Path:
    text = '<?xml version="1.0" encoding="utf-8"?>\n' + (DOCTYPE + "\n" if doctype else "") + body
    path = tmp_path / name
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    return path


STRUCTURED = ('<Abstract><AbstractText Label="BACKGROUND" NlmCategory="BACKGROUND">Why <i>this</i> matters.</AbstractText>'
              '<AbstractText Label="METHODS">We randomly assigned 200 adults.</AbstractText></Abstract>')


def test_reads_every_field_of_a_record(tmp_path):
    body = ("<PubmedArticleSet>"
            + _article("31000001", title="Drug X versus placebo: a <i>randomised</i> trial.", abstract=STRUCTURED,
                       pub_types=("Journal Article", "Randomized Controlled Trial"), mesh=("Humans", "Double-Blind Method"),
                       version="2", doi="10.1000/xyz")
            + "</PubmedArticleSet>")
    [record] = list(iter_pubmed(_write(tmp_path, body)))
    assert record == PubmedRecord(
        pmid="31000001", version=2, title="Drug X versus placebo: a randomised trial.",
        abstract_sections=(("BACKGROUND", "Why this matters."), ("METHODS", "We randomly assigned 200 adults.")),
        doi="10.1000/xyz", journal="The Journal of Tests", year=2021,
        mesh_terms=("Humans", "Double-Blind Method"),
        publication_types=("Journal Article", "Randomized Controlled Trial"), language="eng")
    assert record.abstract_text == "BACKGROUND: Why this matters.\nMETHODS: We randomly assigned 200 adults."


def test_unlabelled_abstract_medline_date_and_doi_from_pubmed_data(tmp_path):
    body = ("<PubmedArticleSet>"
            + _article("7", abstract="<Abstract><AbstractText>Plain text.</AbstractText></Abstract>",
                       year="<MedlineDate>1998 Dec-1999 Jan</MedlineDate>")
            + _article("8", year="")
            + "</PubmedArticleSet>")
    first, second = iter_pubmed(_write(tmp_path, body))
    assert first.abstract_sections == (("", "Plain text."),) and first.abstract_text == "Plain text."
    assert first.year == 1998 and first.doi == "10.1/from-pubmeddata.7"
    assert second.abstract_sections == () and second.abstract_text == "" and second.year is None


def test_gzip_file_is_read_by_its_magic_bytes(tmp_path):
    body = "<PubmedArticleSet>" + _article("1") + _article("2") + "</PubmedArticleSet>"
    path = _write(tmp_path, body, "pubmed24n0001.xml.gz", gz=True)
    assert [r.pmid for r in iter_pubmed(path)] == ["1", "2"]
    renamed = path.rename(tmp_path / "no_suffix")  # told by content, not by name
    assert [r.pmid for r in iter_pubmed(renamed)] == ["1", "2"]


def test_update_file_deletions_and_records_are_read_apart(tmp_path):
    body = ("<PubmedArticleSet>" + _article("5")
            + '<DeleteCitation><PMID Version="1">111</PMID><PMID Version="1">222</PMID></DeleteCitation>'
            + "</PubmedArticleSet>")
    path = _write(tmp_path, body)
    assert deleted_pmids(path) == ["111", "222"]
    assert [r.pmid for r in iter_pubmed(path)] == ["5"]
    baseline = _write(tmp_path, "<PubmedArticleSet>" + _article("6") + "</PubmedArticleSet>", "base.xml")
    assert deleted_pmids(baseline) == []


def test_old_medline_citation_set_and_book_articles(tmp_path):
    old = ('<MedlineCitationSet><MedlineCitation Owner="NLM"><PMID Version="1">42</PMID><Article>'
           "<Journal><Title>J</Title></Journal><ArticleTitle>Old</ArticleTitle></Article></MedlineCitation></MedlineCitationSet>")
    assert [r.title for r in iter_pubmed(_write(tmp_path, old, doctype=False))] == ["Old"]
    books = ("<PubmedArticleSet><PubmedBookArticle><BookDocument><PMID>9</PMID></BookDocument></PubmedBookArticle>"
             + _article("10") + "</PubmedArticleSet>")
    assert [r.pmid for r in iter_pubmed(_write(tmp_path, books, "b.xml"))] == ["10"]


@pytest.mark.parametrize("body, reason", [
    ("<PubmedArticleSet>" + _article("1") + "<PubmedArticle>", "malformed XML"),
    ("<html><body>not pubmed</body></html>", "not PubMed XML: the root element is <html>"),
    ("<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>abc</PMID></MedlineCitation></PubmedArticle></PubmedArticleSet>",
     "without a numeric PMID"),
    ("", "malformed XML"),
])
def test_malformed_input_names_the_file_and_the_reason(tmp_path, body, reason):
    path = _write(tmp_path, body, "bad.xml", doctype=False)
    with pytest.raises(PubmedError) as err:
        list(iter_pubmed(path))
    assert reason in str(err.value) and "bad.xml" in str(err.value)


def test_missing_file_and_truncated_gzip(tmp_path):
    with pytest.raises(PubmedError, match="no such file"):
        list(iter_pubmed(tmp_path / "absent.xml.gz"))
    whole = gzip.compress(("<PubmedArticleSet>" + _article("1") * 50 + "</PubmedArticleSet>").encode())
    cut = tmp_path / "cut.xml.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(PubmedError, match="cut.xml.gz"):
        list(iter_pubmed(cut))


def test_entity_declarations_are_refused_before_parsing(tmp_path):
    bomb = ('<!DOCTYPE PubmedArticleSet [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            "<PubmedArticleSet>" + _article("1", title="&b;") + "</PubmedArticleSet>")
    with pytest.raises(PubmedError, match="entity"):
        list(iter_pubmed(_write(tmp_path, bomb, "bomb.xml", doctype=False)))
    subset = '<!DOCTYPE PubmedArticleSet [<!ATTLIST x y CDATA "z">]><PubmedArticleSet></PubmedArticleSet>'
    with pytest.raises(PubmedError, match="internal subset"):
        list(iter_pubmed(_write(tmp_path, subset, "subset.xml", doctype=False)))
    external = ('<!DOCTYPE PubmedArticleSet SYSTEM "file:///etc/passwd"><PubmedArticleSet>'
                + _article("3") + "</PubmedArticleSet>")
    assert [r.pmid for r in iter_pubmed(_write(tmp_path, external, "ext.xml", doctype=False))] == ["3"]


def test_memory_stays_bounded_by_one_citation(tmp_path):
    """5,000 citations (~4 MB of XML) are read with peak Python memory well under the file's size:
    each finished citation is cleared."""
    abstract = "<Abstract><AbstractText>" + "word " * 120 + "</AbstractText></Abstract>"
    with gzip.open(tmp_path / "big.xml.gz", "wt", encoding="utf-8") as out:
        out.write('<?xml version="1.0"?>\n<PubmedArticleSet>')
        for i in range(5000):
            out.write(_article(str(i + 1), abstract=abstract))
        out.write("</PubmedArticleSet>")
    tracemalloc.start()
    count = sum(1 for _ in iter_pubmed(tmp_path / "big.xml.gz"))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 5000
    assert peak < 1_500_000, peak


def test_real_medline_excerpt_from_the_dev_set_round_trips():
    """The real records in the grading dev set came through this reader from an NLM MEDLINE file:
    check that their metadata is what a reader of PubMed XML returns (publication types, MeSH)."""
    import json

    dev = Path(__file__).resolve().parents[2] / "bench" / "data" / "grading" / "pubmed_dev.jsonl"
    rows = [json.loads(line) for line in dev.read_text(encoding="utf-8").splitlines()]
    medline = [r for r in rows if r["source"]["path"].endswith("medline16n0902.xml.gz")]
    assert len(medline) >= 80
    assert all(r["pmid"].isdigit() and r["publication_types"] for r in medline)
