"""Saving uploaded files under the data directory. They are only ever read by the indexer."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

ALLOWED_SUFFIXES = {".pdf", ".md", ".markdown", ".txt"}
# File systems limit a name to 255 bytes (not characters: one CJK character is 3 bytes in
# UTF-8). The stem keeps 120 bytes; with "<hash8>-", the suffix and ".part" the name stays
# under 150 bytes.
MAX_STEM_BYTES = 120


class UploadError(ValueError):
    pass


def safe_filename(name: str) -> str:
    """A plain file name: no folders, no leading dots, only a conservative character set."""
    base = Path(name.replace("\\", "/")).name
    stem, suffix = Path(base).stem, Path(base).suffix.lower()
    stem = re.sub(r"[^\w.\- ]+", "_", stem, flags=re.UNICODE).strip(" ._") or "upload"
    stem = stem.encode("utf-8")[:MAX_STEM_BYTES].decode("utf-8", "ignore").rstrip(" ._") or "upload"
    if not re.fullmatch(r"\.[a-z0-9]{1,10}", suffix):
        suffix = ""  # not a suffix we could accept anyway; save_upload says so
    return stem + suffix


def save_upload(name: str, data: bytes, uploads_dir: Path, max_mb: int) -> Path:
    """Write one upload as `<uploads_dir>/<hash8>-<name>`; the same bytes land on the same path."""
    filename = safe_filename(name)
    suffix = Path(filename).suffix
    if suffix not in ALLOWED_SUFFIXES:
        raise UploadError(f"{name}: only PDF, markdown and text files can be indexed")
    if len(data) > max_mb * 1024 * 1024:
        raise UploadError(f"{name}: larger than the {max_mb} MB upload limit (upload_max_mb)")
    if not data:
        raise UploadError(f"{name}: the file is empty")
    if suffix == ".pdf" and not data.lstrip()[:5].startswith(b"%PDF-"):
        raise UploadError(f"{name}: not a PDF (it does not start with %PDF-)")
    uploads_dir.mkdir(parents=True, exist_ok=True)
    path = uploads_dir / f"{hashlib.sha256(data).hexdigest()[:8]}-{filename}"
    if not path.exists():
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path


class UploadedFile(Protocol):
    """What Streamlit's uploader hands over (and what tests build)."""

    name: str

    def getvalue(self) -> bytes: ...


@dataclass
class SavedUploads:
    paths: list[Path] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # one line per file that was not saved


def save_uploads(files: Iterable[UploadedFile], uploads_dir: Path, max_mb: int) -> SavedUploads:
    """Save a batch: a file that cannot be saved is one error line and the others go on (so the
    rest of the batch is still indexed)."""
    saved = SavedUploads()
    for upload in files:
        name = str(getattr(upload, "name", "upload"))
        try:
            saved.paths.append(save_upload(name, upload.getvalue(), uploads_dir, max_mb))
        except UploadError as exc:
            saved.errors.append(str(exc))
        except OSError as exc:
            saved.errors.append(f"{name}: cannot save the upload ({exc.strerror or exc})")
    return saved
