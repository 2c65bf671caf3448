"""Metadata sidecars: a small JSON or YAML file beside a document that states what the file
cannot (title, year, source type, evidence level, DOI, ...).

Naming, for a document `guide.pdf` (first match wins; two or more present is an error, so a
stale duplicate can never silently win):

    guide.pdf.meta.json   guide.pdf.meta.yaml   guide.pdf.meta.yml
    guide.meta.json       guide.meta.yaml       guide.meta.yml
    guide.pdf.json        guide.pdf.yaml        guide.pdf.yml

A bare `guide.json` is *not* read: an unrelated data file next to a PDF must not become its
metadata. YAML is parsed with `yaml.safe_load` only. Unknown keys are an error (a typo such as
`evidence_levle` must not be ignored in medical metadata).

Keys (all optional): title, authors (list or "A; B"), organization (or organisation), year,
doi, url, language, source_type (e.g. "guideline", "rct", "systematic review", "cohort"),
evidence_level (1-5, 1 strongest), publication_types, mesh_terms, keywords (or topics), abstract.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from indexing.errors import ReadError
from indexing.labels import SourceType
from indexing.readers.text import strip_controls
from indexing.schema import SourceMeta

SIDECAR_MAX_BYTES = 1_000_000
# Field bounds: a title is shown in every table and cited in every answer, so a runaway one (a
# 900 kB title made a 904 kB `--json` answer) is refused with a reason. The longest real titles
# run to ~300 characters; abstracts to ~5,000 (structured ones), keyword lists to a few dozen.
MAX_TITLE_CHARS = 500
MAX_SHORT_CHARS = 300  # organisation, language, one author/keyword/term
MAX_URL_CHARS = 2_000
MAX_ABSTRACT_CHARS = 20_000
MAX_LIST_ITEMS = 200
_META_SUFFIXES = (".meta.json", ".meta.yaml", ".meta.yml")
_PLAIN_SUFFIXES = (".json", ".yaml", ".yml")


def sidecar_candidates(path: Path) -> list[Path]:
    """Every name a sidecar for `path` may have, in priority order."""
    name, stem = path.name, path.stem
    names = [name + s for s in _META_SUFFIXES]
    if stem and stem != name:
        names += [stem + s for s in _META_SUFFIXES]
    names += [name + s for s in _PLAIN_SUFFIXES]
    return [path.with_name(n) for n in names]


def find_sidecar(path: Path) -> Path | None:
    found = [p for p in sidecar_candidates(path) if p.is_file()]
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise ReadError(path, f"several metadata sidecars ({names}); keep one")
    return found[0] if found else None


def is_sidecar(path: Path) -> bool:
    """True for a file that is some document's sidecar, so a directory walk can skip it."""
    name = path.name.lower()
    if name.endswith(_META_SUFFIXES):
        return True
    for suffix in _PLAIN_SUFFIXES:
        if name.endswith(suffix):
            document = path.with_name(path.name[: -len(suffix)])
            if document.suffix and document.is_file():
                return True
    return False


_SOURCE_TYPE_WORDS: dict[str, SourceType] = {
    "guideline": SourceType.GUIDELINE,
    "guidelines": SourceType.GUIDELINE,
    "clinical practice guideline": SourceType.GUIDELINE,
    "practice guideline": SourceType.GUIDELINE,
    "指南": SourceType.GUIDELINE,
    "consensus": SourceType.CONSENSUS,
    "consensus statement": SourceType.CONSENSUS,
    "专家共识": SourceType.CONSENSUS,
    "共识": SourceType.CONSENSUS,
    "systematic review": SourceType.SYSTEMATIC_REVIEW,
    "meta analysis": SourceType.SYSTEMATIC_REVIEW,
    "metaanalysis": SourceType.SYSTEMATIC_REVIEW,
    "systematic review meta analysis": SourceType.SYSTEMATIC_REVIEW,
    "systematic review and meta analysis": SourceType.SYSTEMATIC_REVIEW,
    "rct": SourceType.RCT,
    "randomized controlled trial": SourceType.RCT,
    "randomised controlled trial": SourceType.RCT,
    "randomized trial": SourceType.RCT,
    "randomised trial": SourceType.RCT,
    "cohort": SourceType.COHORT,
    "cohort study": SourceType.COHORT,
    "case control": SourceType.CASE_CONTROL,
    "case control study": SourceType.CASE_CONTROL,
    "cross sectional": SourceType.CROSS_SECTIONAL,
    "cross sectional study": SourceType.CROSS_SECTIONAL,
    "case series": SourceType.CASE_SERIES,
    "case report": SourceType.CASE_SERIES,
    "case series case report": SourceType.CASE_SERIES,
    "narrative review": SourceType.NARRATIVE_REVIEW,
    "review": SourceType.NARRATIVE_REVIEW,
    "expert opinion": SourceType.EXPERT_OPINION,
    "editorial": SourceType.EXPERT_OPINION,
    "expert opinion editorial": SourceType.EXPERT_OPINION,
    "textbook": SourceType.TEXTBOOK,
    "reference": SourceType.TEXTBOOK,
    "textbook reference": SourceType.TEXTBOOK,
    "other": SourceType.OTHER,
}


def parse_source_type(value: Any) -> SourceType:
    if isinstance(value, SourceType):
        return value
    text = str(value).strip()
    for member in SourceType:
        if text == member.value:
            return member
    key = re.sub(r"[\s_/\-]+", " ", text.lower()).strip()
    if key in _SOURCE_TYPE_WORDS:
        return _SOURCE_TYPE_WORDS[key]
    allowed = ", ".join(m.value for m in SourceType)
    raise ValueError(f"unknown source type {text!r} (one of: {allowed})")


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        parts = re.split(r"\s*;\s*", value) if ";" in value else [value]
        return [p.strip() for p in parts if p.strip()]
    if isinstance(value, (list, tuple)):
        out = []
        for item in value:
            if not isinstance(item, (str, int, float)):
                raise ValueError("must be a list of strings")
            if len(str(item)) > MAX_SHORT_CHARS:
                raise ValueError(f"an item is {len(str(item))} characters long (at most {MAX_SHORT_CHARS})")
            if str(item).strip():
                out.append(str(item).strip())
        return out
    raise ValueError("must be a string or a list of strings")


def normalise_doi(value: str) -> str:
    doi = value.strip()
    doi = re.sub(r"^(https?://(dx\.)?doi\.org/|doi:\s*)", "", doi, flags=re.IGNORECASE)
    if not re.fullmatch(r"10\.\d{4,9}/\S+", doi):
        raise ValueError(f"not a DOI: {value!r} (expected 10.xxxx/...)")
    return doi


class _Sidecar(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    title: str | None = Field(default=None, max_length=MAX_TITLE_CHARS)
    authors: list[str] = Field(default_factory=list, max_length=MAX_LIST_ITEMS)
    organization: str | None = Field(default=None, alias="organisation", max_length=MAX_SHORT_CHARS)
    year: int | None = Field(default=None, ge=1800, le=2100)
    doi: str | None = Field(default=None, max_length=MAX_SHORT_CHARS)
    url: str | None = Field(default=None, max_length=MAX_URL_CHARS)
    language: str | None = Field(default=None, max_length=MAX_SHORT_CHARS)
    source_type: SourceType | None = None
    evidence_level: int | None = Field(default=None, ge=1, le=5)
    publication_types: list[str] = Field(default_factory=list, max_length=MAX_LIST_ITEMS)
    mesh_terms: list[str] = Field(default_factory=list, max_length=MAX_LIST_ITEMS)
    keywords: list[str] = Field(default_factory=list, alias="topics", max_length=MAX_LIST_ITEMS)
    abstract: str | None = Field(default=None, max_length=MAX_ABSTRACT_CHARS)

    @field_validator("authors", "publication_types", "mesh_terms", "keywords", mode="before")
    @classmethod
    def _lists(cls, v: Any) -> list[str]:
        return _as_list(v)

    @field_validator("source_type", mode="before")
    @classmethod
    def _source_type(cls, v: Any) -> SourceType | None:
        return None if v is None or v == "" else parse_source_type(v)

    @field_validator("doi", mode="before")
    @classmethod
    def _doi(cls, v: Any) -> str | None:
        return None if v is None or v == "" else normalise_doi(str(v))

    @field_validator("year", mode="before")
    @classmethod
    def _year(cls, v: Any) -> Any:
        if isinstance(v, str) and re.fullmatch(r"\s*\d{4}\s*", v):
            return int(v)
        return v

    @field_validator("title", "organization", "url", "language", "abstract", mode="before")
    @classmethod
    def _text(cls, v: Any) -> Any:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return str(v)
        if isinstance(v, str):
            return strip_controls(v, one_line=True) or None
        return v


_ALLOWED_KEYS = sorted(
    {name for name in _Sidecar.model_fields} | {"organisation", "topics"}
)


def load_sidecar(sidecar: Path, document: Path) -> SourceMeta:
    """Parse and validate one sidecar; any problem is a ReadError for `document` naming it."""

    def fail(why: str) -> ReadError:
        return ReadError(document, f"malformed metadata sidecar {sidecar.name}: {why}")

    try:
        raw_bytes = sidecar.read_bytes()
    except OSError as exc:
        raise ReadError(document, f"cannot read metadata sidecar {sidecar.name}: {exc.strerror or exc}")
    if len(raw_bytes) > SIDECAR_MAX_BYTES:
        raise fail(f"larger than {SIDECAR_MAX_BYTES // 1000} kB")
    try:
        text = raw_bytes.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise fail("not UTF-8 text") from None
    try:
        if sidecar.name.lower().endswith(".json"):
            data = json.loads(text) if text.strip() else None
        else:
            data = yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise fail(f"invalid JSON at line {exc.lineno}: {exc.msg}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise fail(f"invalid YAML{where}: {problem}") from None
    except RecursionError:
        raise fail("its structure nests too deeply") from None
    except ValueError as exc:  # Python refuses to convert integers of over 4,300 digits
        raise fail(f"a number too long to read ({str(exc)[:80]})") from None
    if not isinstance(data, dict):
        raise fail("expected a mapping of keys to values at the top level")
    unknown = sorted(str(k) for k in data if str(k) not in _ALLOWED_KEYS)
    if unknown:
        raise fail(f"unknown key(s) {', '.join(unknown)} (allowed: {', '.join(_ALLOWED_KEYS)})")
    try:
        parsed = _Sidecar.model_validate({str(k): v for k, v in data.items()})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "value"
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{field}: {msg}")
        raise fail("; ".join(problems)) from None
    return SourceMeta(**parsed.model_dump())


def merge_meta(found: SourceMeta, sidecar: SourceMeta | None) -> SourceMeta:
    """Sidecar values win over what the reader found in the file; empty sidecar fields don't erase."""
    if sidecar is None:
        return found
    merged = found.model_dump()
    for key, value in sidecar.model_dump().items():
        if value not in (None, [], ""):
            merged[key] = value
    return SourceMeta(**merged)
