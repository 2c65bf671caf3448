"""Saving uploaded files under the data directory. They are only ever read by the indexer."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

ALLOWED_SUFFIXES = {".pdf", ".md", ".markdown", ".txt"}


class UploadError(ValueError):
    pass


def safe_filename(name: str) -> str:
    """A plain file name: no folders, no leading dots, only a conservative character set."""
    base = Path(name.replace("\\", "/")).name
    stem, suffix = Path(base).stem, Path(base).suffix.lower()
    stem = re.sub(r"[^\w.\- ]+", "_", stem, flags=re.UNICODE).strip(" ._") or "upload"
    return stem[:120] + suffix


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
