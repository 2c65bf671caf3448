"""The grader as the indexing pipeline sees it (`indexing.labels.Annotator`)."""

from __future__ import annotations

import re

from evidence.grading import grade_document
from evidence.stated_grades import extract_stated_grades, scheme_hint_for
from indexing.labels import DocumentGrade, StatedGrade
from indexing.readers.pubmed import PubmedRecord
from indexing.schema import Chunk, Document, SourceMeta

_SPACE = re.compile(r"\s+")


def _squash(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


class EvidenceAnnotator:
    """Grades documents from their opening pages and metadata; reads stated grades per chunk.

    The design of a paper is told in its title, abstract and methods, so only the first pages
    are read for cues; whether a guideline grades its recommendations is read from every page,
    because front matter (contents, committee lists) can fill the first ones.
    """

    def __init__(self, opening_pages: int = 3, opening_chars: int = 10000) -> None:
        self.opening_pages = opening_pages
        self.opening_chars = opening_chars

    def _hint(self, document: Document) -> str | None:
        return scheme_hint_for(document.meta.organization, document.title)

    def grade_document(self, document: Document) -> DocumentGrade:
        parts = []
        if document.meta.abstract:
            parts.append(document.meta.abstract)
        parts.extend(page.text for page in document.pages[: self.opening_pages])
        opening = "\n".join(parts)[: self.opening_chars]
        hint = self._hint(document)
        grades = [g for page in document.pages for g in extract_stated_grades(page.text, page.number, scheme_hint=hint)]
        title = document.meta.title or document.title
        return grade_document(title, opening, document.meta, stated_grades=grades)

    def grade_chunk(self, chunk: Chunk, document: Document) -> list[StatedGrade]:
        hint = self._hint(document)
        grades = extract_stated_grades(chunk.text, chunk.page_start, scheme_hint=hint)
        if chunk.page_end == chunk.page_start or not grades:
            return grades
        pages = {p.number: _squash(p.text) for p in document.pages if chunk.page_start <= p.number <= chunk.page_end}
        text = chunk.text
        located = []
        cursor = 0
        for grade in grades:
            at = text.find(grade.quote, cursor)
            cursor = at + len(grade.quote) if at >= 0 else cursor
            located.append(grade.model_copy(update={"page": self._page_of(text, at, grade.quote, pages, chunk)}))
        return located

    @staticmethod
    def _page_of(text: str, at: int, quote: str, pages: dict[int, str], chunk: Chunk) -> int:
        """The page whose text holds the quote with its surroundings; the chunk's first page if unsure."""
        if at < 0:
            return chunk.page_start
        for width in (60, 30, 12, 0):
            window = _squash(text[max(0, at - width) : at + len(quote) + width])
            found = [n for n, page in pages.items() if window in page]
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                break  # the same wording on several pages: cannot tell them apart
        return chunk.page_start


def pubmed_meta(record: PubmedRecord) -> SourceMeta:
    """The facts of a PubMed citation in the form every grader and the store take."""
    return SourceMeta(title=record.title, year=record.year, doi=record.doi, organization=record.journal,
                      language=record.language, publication_types=list(record.publication_types),
                      mesh_terms=list(record.mesh_terms), abstract=record.abstract_text)


def grade_pubmed_record(record: PubmedRecord) -> DocumentGrade:
    """One PubMed abstract graded as one document: its publication types decide the source type
    where they name one, its title and abstract do the rest."""
    return grade_document(record.title, record.abstract_text, pubmed_meta(record))
