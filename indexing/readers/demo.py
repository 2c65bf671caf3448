"""The demo corpus that ships with the product, readable offline on a fresh machine.

1. The guideline summaries in the PyPI package `open-medicine` (MIT): one Document per guideline
   in `open_medicine/guidelines/registry.json`, metadata (title, organisation, year, DOI,
   topics) from the registry. For these markdown documents a "page" is a section: page N is
   the N-th section file in registry order, so a citation "p. 2" names the second section.
2. The project's own sample PDFs under `data/samples/` (see data/README.md), each with a sidecar.

Nothing here asserts a source type or evidence level: the grader decides those.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from indexing.errors import ReadError
from indexing.readers.markdown import parse_markdown
from indexing.schema import Document, Page, SourceMeta

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
SAMPLES_DIR = DATA_DIR / "samples"
_SAMPLE_SUFFIXES = (".pdf",)


class _RegistryEntry(BaseModel):
    id: str
    title: str
    doi: str | None = None
    year: int | None = None
    organization: str | None = None
    topics: list[str] = Field(default_factory=list)
    sections: list[str]


def open_medicine_dir() -> Path:
    """The installed `open_medicine/guidelines` directory."""
    try:
        root = resources.files("open_medicine") / "guidelines"
    except ModuleNotFoundError:
        raise ReadError("open_medicine", "the 'open-medicine' package is not installed (pip install open-medicine)") from None
    return Path(str(root))


def open_medicine_documents(root: Path | None = None) -> Iterator[Document]:
    """One Document per registered guideline; pages are its section files in registry order."""
    root = root or open_medicine_dir()
    for entry in _registry(root):
        yield _guideline_document(root / "content" / entry.id, entry)


def guideline_folder_document(folder: str | Path) -> Document:
    """One guideline kept as a folder of section files (<guidelines>/content/<id>/ beside
    <guidelines>/registry.json), read exactly as the index reads it: `m1e grade` on such a
    folder, and the app showing a cited section as it stands now. A ReadError names the folder."""
    folder = Path(folder).resolve()
    root = folder.parent.parent
    if folder.parent.name != "content" or not (root / "registry.json").is_file():
        raise ReadError(folder, "is a folder but not a guideline of section files (no registry.json two levels up)")
    for entry in _registry(root):
        if entry.id == folder.name:
            return _guideline_document(folder, entry)
    raise ReadError(folder, f"this folder is not listed in {root / 'registry.json'}")


def _registry(root: Path) -> Iterator[_RegistryEntry]:
    registry_path = root / "registry.json"
    try:
        entries = json.loads(registry_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ReadError(registry_path, f"cannot read the open-medicine registry ({exc})") from None
    for raw in entries:
        try:
            yield _RegistryEntry.model_validate(raw)
        except ValidationError as exc:
            raise ReadError(registry_path, f"malformed registry entry {raw.get('id', '?')!r}: {exc.errors()[0]['msg']}") from None


def _guideline_document(folder: Path, entry: _RegistryEntry) -> Document:
    digest = hashlib.sha256()
    pages: list[Page] = []
    for ordinal, section in enumerate(entry.sections, start=1):
        path = folder / f"{section}.md"
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ReadError(path, f"missing section file of guideline {entry.id} ({exc.strerror or exc})") from None
        digest.update(data)
        text = parse_markdown(data.decode("utf-8")).text
        pages.append(Page(number=ordinal, text=text))
    meta = SourceMeta(
        title=entry.title,
        organization=entry.organization,
        year=entry.year,
        doi=entry.doi,
        language="en",
        keywords=entry.topics,
    )
    return Document(
        document_id=digest.hexdigest(),
        path=str(folder),
        format="markdown",
        title=entry.title,
        pages=pages,
        meta=meta,
    )


def demo_paths() -> list[Path]:
    """The project's own sample files (each with its sidecar beside it)."""
    if not SAMPLES_DIR.is_dir():
        return []
    return sorted(p for p in SAMPLES_DIR.iterdir() if p.suffix.lower() in _SAMPLE_SUFFIXES and p.is_file())


def demo_documents() -> Iterator[Document]:
    """The open-medicine guidelines, then the data/ samples (read like any user file)."""
    from indexing.readers import read_document

    yield from open_medicine_documents()
    for path in demo_paths():
        yield read_document(path)
