"""PubMed/MEDLINE XML through `IndexPipeline`: one document per article identified by PMID, a
later version replaces the earlier, a DeleteCitation list removes articles, publication types
and MeSH terms reach the annotator as metadata.

The real parser (`indexing/readers/pubmed.py`) is written elsewhere; this test installs a tiny
stand-in with the same interface (`PubmedRecord`, `iter_pubmed`, `deleted_pmids`,
`PubmedError`) so that the pipeline side is tested on its own. The XML below is written for
this test in the shape of NLM's baseline/update files; it quotes no real article.
"""

from __future__ import annotations

import gzip
import sys
import types
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from indexing.pipeline import IndexPipeline, pubmed_document_id
from indexing.store import IndexStore
from tests.indexing.store_fakes import FakeAnnotator, HashEmbedder


@dataclass
class PubmedRecord:
    pmid: str
    version: int
    title: str
    abstract_sections: list[tuple[str | None, str]] = field(default_factory=list)
    doi: str | None = None
    journal: str | None = None
    year: int | None = None
    mesh_terms: list[str] = field(default_factory=list)
    publication_types: list[str] = field(default_factory=list)
    language: str | None = None

    @property
    def abstract_text(self) -> str:
        return "\n".join(f"{label}: {text}" if label else text for label, text in self.abstract_sections)


class PubmedError(ValueError):
    pass


def _root(path: Path) -> ET.Element:
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            return ET.parse(fh).getroot()
    except (ET.ParseError, OSError) as exc:
        raise PubmedError(f"{path}: not PubMed XML ({exc})") from None


def iter_pubmed(path: Path):
    for article in _root(path).iter("PubmedArticle"):
        citation = article.find("MedlineCitation")
        pmid = citation.find("PMID")
        art = citation.find("Article")
        yield PubmedRecord(
            pmid=pmid.text,
            version=int(pmid.get("Version", "1")),
            title=art.findtext("ArticleTitle", ""),
            abstract_sections=[(a.get("Label"), a.text or "") for a in art.iter("AbstractText")],
            doi=next((e.text for e in art.iter("ELocationID") if e.get("EIdType") == "doi"), None),
            journal=art.findtext("Journal/Title"),
            year=int(art.findtext("Journal/JournalIssue/PubDate/Year")),
            mesh_terms=[d.text for d in citation.iter("DescriptorName")],
            publication_types=[p.text for p in art.iter("PublicationType")],
            language=art.findtext("Language"),
        )


def deleted_pmids(path: Path) -> list[str]:
    return [p.text for p in _root(path).iter("DeleteCitation") for p in p.iter("PMID")]


@pytest.fixture(autouse=True)
def stand_in_parser(monkeypatch):
    module = types.ModuleType("indexing.readers.pubmed")
    module.PubmedRecord, module.PubmedError = PubmedRecord, PubmedError
    module.iter_pubmed, module.deleted_pmids = iter_pubmed, deleted_pmids
    monkeypatch.setitem(sys.modules, "indexing.readers.pubmed", module)
    import indexing.readers

    monkeypatch.setattr(indexing.readers, "pubmed", module, raising=False)


def article(pmid: str, title: str, sections: list[tuple[str, str]], types_: list[str], version: int = 1) -> str:
    abstract = "".join(f'<AbstractText Label="{label}">{text}</AbstractText>' for label, text in sections)
    pubtypes = "".join(f"<PublicationType>{t}</PublicationType>" for t in types_)
    return f"""<PubmedArticle><MedlineCitation Status="MEDLINE"><PMID Version="{version}">{pmid}</PMID>
<Article><Journal><JournalIssue><PubDate><Year>2021</Year></PubDate></JournalIssue><Title>Test Journal</Title></Journal>
<ArticleTitle>{title}</ArticleTitle><Abstract>{abstract}</Abstract><Language>eng</Language>
<ELocationID EIdType="doi">10.0000/test.{pmid}</ELocationID><PublicationTypeList>{pubtypes}</PublicationTypeList></Article>
<MeshHeadingList><MeshHeading><DescriptorName>Atrial Fibrillation</DescriptorName></MeshHeading></MeshHeadingList>
</MedlineCitation></PubmedArticle>"""


def article_set(*articles: str, deleted: list[str] = ()) -> str:
    delete = "".join(f"<PMID>{p}</PMID>" for p in deleted)
    return f"<PubmedArticleSet>{''.join(articles)}" + (f"<DeleteCitation>{delete}</DeleteCitation>" if deleted else "") + "</PubmedArticleSet>"


class RecordingAnnotator(FakeAnnotator):
    def __init__(self):
        super().__init__()
        self.seen: dict[str, tuple[list[str], list[str]]] = {}

    def grade_document(self, document):
        self.seen[document.title] = (document.meta.publication_types, document.meta.mesh_terms)
        return super().grade_document(document)


def pipeline(tmp_path: Path, annotator=None) -> IndexPipeline:
    return IndexPipeline(tmp_path / "index", embedder=HashEmbedder(), annotator=annotator, chunk_tokens=60, chunk_overlap=8)


RCT = ["Journal Article", "Randomized Controlled Trial"]


def test_articles_updates_and_deletions(tmp_path):
    baseline = tmp_path / "pubmed26n0001.xml.gz"
    with gzip.open(baseline, "wt", encoding="utf-8") as fh:
        fh.write(article_set(
            article("101", "Apixaban versus warfarin in atrial fibrillation",
                    [("BACKGROUND", "Stroke prevention."), ("RESULTS", "Apixaban reduced stroke and bleeding.")], RCT),
            article("102", "Rate control in atrial fibrillation", [("", "A review of rate control.")], ["Review"]),
            article("103", "Left atrial appendage closure", [("", "Closure versus anticoagulation.")], RCT),
        ))
    annotator = RecordingAnnotator()
    report = pipeline(tmp_path, annotator).run([baseline])
    assert report.totals.indexed == 3 and not report.failed
    assert annotator.seen["Apixaban versus warfarin in atrial fibrillation"] == (RCT, ["Atrial Fibrillation"])
    store = IndexStore.open(tmp_path / "index")
    record = store.document(pubmed_document_id("101"))
    assert (record.meta.doi, record.meta.journal, record.meta.year, record.meta.language) == (
        "10.0000/test.101", "Test Journal", 2021, "en")
    text = " ".join(c.text for c in store.document_chunks(record.document_id))
    assert "BACKGROUND: Stroke prevention." in text and "RESULTS: Apixaban reduced" in text
    store.close()

    update = tmp_path / "pubmed26n0002.xml"
    update.write_text(article_set(
        article("102", "Rate versus rhythm control in atrial fibrillation", [("", "An updated review.")], ["Review"], 2),
        deleted=["103"],
    ), encoding="utf-8")
    report = pipeline(tmp_path, annotator).run([baseline, update])
    assert [o.document_id for o in report.indexed] == [pubmed_document_id("102")]
    assert [o.document_id for o in report.removed] == [pubmed_document_id("103")]
    store = IndexStore.open(tmp_path / "index")
    assert sorted(d.title for d in store.documents()) == [
        "Apixaban versus warfarin in atrial fibrillation", "Rate versus rhythm control in atrial fibrillation"]
    assert store.search_lexical("appendage closure", 5) == []
    store.close()

    again = pipeline(tmp_path).run([baseline, update], prune=True)  # nothing new; the XML files still exist
    assert again.totals.indexed == 0 and again.totals.removed == 0 and again.totals.unchanged == 3
    store = IndexStore.open(tmp_path / "index")
    assert len(store.documents()) == 2
    store.close()


def test_a_broken_pubmed_file_is_reported_by_name(tmp_path):
    broken = tmp_path / "pubmed26n0003.xml"
    broken.write_text("<PubmedArticleSet><PubmedArticle>", encoding="utf-8")
    report = pipeline(tmp_path).run([broken])
    assert [f.path for f in report.failed] == [str(broken)] and "not PubMed XML" in report.failed[0].reason


def test_real_reader_and_grader_end_to_end(tmp_path):
    """The real PubMed reader (indexing/readers/pubmed.py) through Assistant.index, graded by the
    real grader: one document per PMID, its publication type deciding the source type."""
    from app import Assistant
    from tests.indexing.test_pubmed import _article, _write

    body = ("<PubmedArticleSet>"
            + _article("111", title="Apixaban versus warfarin in atrial fibrillation: a randomized trial",
                       abstract="We randomly assigned 18201 patients with atrial fibrillation to apixaban or warfarin.",
                       pub_types=("Randomized Controlled Trial", "Journal Article"))
            + _article("222", title="Statin users followed for ten years",
                       abstract="We followed 5000 adults who started statins.", pub_types=("Case Reports",))
            + "</PubmedArticleSet>")
    (tmp_path / "in").mkdir()
    xml = _write(tmp_path / "in", body)
    assistant = Assistant(data_dir=tmp_path / "data")
    report = assistant.index([str(xml)])
    assert report.totals.indexed == 2 and not report.failed
    by_path = {d.path.rsplit("=", 1)[-1]: d for d in assistant.documents()}
    assert by_path["111"].grade.source_type.value == "rct"
    assert by_path["222"].grade.source_type.value == "case_series"  # the publication type decides
    assert by_path["111"].meta.url == "https://pubmed.ncbi.nlm.nih.gov/111/"
