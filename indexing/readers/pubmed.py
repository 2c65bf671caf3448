"""PubMed / MEDLINE XML (the `PubmedArticleSet` files NLM distributes), read as a stream.

NLM's baseline and update files hold ~30,000 citations each (100-200 MB unpacked), so the
reader never builds the whole tree: `iterparse` yields each `PubmedArticle` (or the older
`MedlineCitation`) when it closes, the record is copied out and the element is cleared, keeping
memory bounded by one citation. Plain and gzip files (`.gz`, told by the magic bytes) are read.

Untrusted XML: the document type declaration NLM prints (`<!DOCTYPE PubmedArticleSet PUBLIC
...>`) is allowed, but an internal DTD subset (where `<!ENTITY` declarations live, the route
of entity-expansion attacks) is rejected before parsing starts; expat never fetches external
DTDs, so no file or network entity is resolved.

Update files also carry `<DeleteCitation>`: the PMIDs to remove from an index (`deleted_pmids`).
"""

from __future__ import annotations

import gzip
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

PROLOG_BYTES = 65536  # the XML declaration and DOCTYPE sit well within this in every NLM file
_GZIP_MAGIC = b"\x1f\x8b"
_ROOT_START = re.compile(rb"<(?![?!])")
_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}


class PubmedError(Exception):
    """Malformed or unsafe PubMed XML; says which file and why."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclass(frozen=True)
class PubmedRecord:
    """One citation: the facts a grader and an index need, nothing more."""

    pmid: str
    version: int
    title: str
    abstract_sections: tuple[tuple[str, str], ...]  # (label, text); label "" when unlabelled
    doi: str | None
    journal: str | None
    year: int | None
    mesh_terms: tuple[str, ...]
    publication_types: tuple[str, ...]
    language: str | None

    @property
    def abstract_text(self) -> str:
        """Sections joined as PubMed shows them: "BACKGROUND: ...\\nMETHODS: ..."."""
        return "\n".join(f"{label}: {text}" if label else text for label, text in self.abstract_sections)


def _open(path: Path) -> IO[bytes]:
    with path.open("rb") as probe:
        magic = probe.read(2)
    return gzip.open(path, "rb") if magic == _GZIP_MAGIC else path.open("rb")


def _check_prolog(path: Path, stream: IO[bytes]) -> None:
    """Reject an internal DTD subset or entity declaration before the parser sees it."""
    try:
        head = stream.read(PROLOG_BYTES)
    except (OSError, EOFError) as exc:
        raise PubmedError(path, f"cannot read: {exc}") from exc
    # Skip comments and processing instructions; the first other '<' starts the root element.
    scan = re.sub(rb"<!--.*?-->|<\?.*?\?>", b"", head, flags=re.DOTALL)
    root = _ROOT_START.search(scan)
    prolog = scan[: root.start()] if root else scan
    if b"<!ENTITY" in prolog.upper():
        raise PubmedError(path, "entity declarations are not allowed (possible entity-expansion attack)")
    doctype = re.search(rb"<!DOCTYPE[^>\[]*\[", prolog, flags=re.IGNORECASE)
    if doctype:
        raise PubmedError(path, "a DOCTYPE with an internal subset is not allowed")
    if root is None and len(head) >= PROLOG_BYTES:
        raise PubmedError(path, f"no root element in the first {PROLOG_BYTES} bytes")


def _events(path: Path) -> Iterator[tuple[str, ET.Element]]:
    if not path.is_file():
        raise PubmedError(path, "no such file")
    with _open(path) as stream:
        _check_prolog(path, stream)
        stream.seek(0)
        try:
            for event, elem in ET.iterparse(stream, events=("start", "end")):
                yield event, elem
        except ET.ParseError as exc:
            raise PubmedError(path, f"malformed XML: {exc}") from exc
        except (OSError, EOFError) as exc:
            raise PubmedError(path, f"cannot read: {exc}") from exc


def _text(elem: ET.Element | None) -> str:
    """All text inside an element, markup (<i>, <sup>) dropped, whitespace squashed."""
    if elem is None:
        return ""
    return " ".join("".join(elem.itertext()).split())


def _year(article: ET.Element) -> int | None:
    for path in (".//Article/Journal/JournalIssue/PubDate/Year", ".//Article/ArticleDate/Year"):
        found = article.find(path)
        if found is not None and (found.text or "").strip().isdigit():
            return int(found.text.strip())
    medline = article.find(".//Article/Journal/JournalIssue/PubDate/MedlineDate")
    match = re.search(r"\b(1[89]\d\d|20\d\d)\b", _text(medline))
    return int(match.group(1)) if match else None


def _doi(citation: ET.Element, article: ET.Element) -> str | None:
    for elem in citation.iterfind(".//Article/ELocationID"):
        if elem.get("EIdType") == "doi" and _text(elem):
            return _text(elem)
    for elem in article.iterfind(".//PubmedData/ArticleIdList/ArticleId"):
        if elem.get("IdType") == "doi" and _text(elem):
            return _text(elem)
    return None


def _record(path: Path, article: ET.Element) -> PubmedRecord:
    citation = article if article.tag == "MedlineCitation" else article.find("MedlineCitation")
    if citation is None:
        raise PubmedError(path, "a PubmedArticle without a MedlineCitation")
    pmid_elem = citation.find("PMID")
    pmid = _text(pmid_elem)
    if not pmid.isdigit():
        raise PubmedError(path, f"a citation without a numeric PMID (got {pmid!r})")
    version = pmid_elem.get("Version", "1") if pmid_elem is not None else "1"
    sections = tuple((elem.get("Label", "").strip(), _text(elem))
                     for elem in citation.iterfind(".//Article/Abstract/AbstractText") if _text(elem))
    language = _text(citation.find(".//Article/Language")) or None
    return PubmedRecord(
        pmid=pmid,
        version=int(version) if version.isdigit() else 1,
        title=_text(citation.find(".//Article/ArticleTitle")) or _text(citation.find(".//Article/VernacularTitle")),
        abstract_sections=sections,
        doi=_doi(citation, article),
        journal=_text(citation.find(".//Article/Journal/Title")) or None,
        year=_year(citation),
        mesh_terms=tuple(_text(d) for d in citation.iterfind(".//MeshHeadingList/MeshHeading/DescriptorName")),
        publication_types=tuple(_text(p) for p in citation.iterfind(".//Article/PublicationTypeList/PublicationType")),
        language=language,
    )


def _records(path: Path, want_deleted: bool) -> Iterator[PubmedRecord | str]:
    """Citations (or deleted PMIDs), each element cleared once read; nested citations inside a
    `PubmedArticle` are read through it, not twice."""
    depth_in_article = 0
    root: ET.Element | None = None
    in_delete = False
    for event, elem in _events(path):
        if root is None:
            root = elem
            if elem.tag not in ("PubmedArticleSet", "MedlineCitationSet"):
                raise PubmedError(path, f"not PubMed XML: the root element is <{elem.tag}>")
            continue
        if event == "start":
            if elem.tag in ("PubmedArticle", "MedlineCitation"):
                depth_in_article += 1
            elif elem.tag == "DeleteCitation":
                in_delete = True
            continue
        if elem.tag in ("PubmedArticle", "MedlineCitation"):
            depth_in_article -= 1
            if depth_in_article == 0:
                if not want_deleted:
                    yield _record(path, elem)
                root.clear()  # drop the finished citation and any siblings kept so far
        elif elem.tag == "PMID" and in_delete and want_deleted:
            yield _text(elem)
        elif elem.tag == "DeleteCitation":
            in_delete = False
            root.clear()
        elif elem.tag == "PubmedBookArticle":
            root.clear()  # book chapters carry no MedlineCitation: skipped
    if root is None:
        raise PubmedError(path, "empty file: no XML element")


def iter_pubmed(path: Path | str) -> Iterator[PubmedRecord]:
    """Every citation in a PubMed/MEDLINE XML file (plain or gzip), in file order."""
    for item in _records(Path(path), want_deleted=False):
        assert isinstance(item, PubmedRecord)
        yield item


def deleted_pmids(path: Path | str) -> list[str]:
    """The PMIDs an update file's `<DeleteCitation>` says to remove (empty for a baseline file)."""
    return [str(item) for item in _records(Path(path), want_deleted=True)]
