"""Baichuan-M1 configuration: every value the network needs, read from a checkpoint's config.json.

Nothing about the 14B is assumed here; a Llama-family checkpoint imported into the M1 layout
is the same config with no SWA layers, identity conv taps and `lm_head_normalized: false`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

MODEL_TYPES = ("baichuan_m1",)


class ConfigError(ValueError):
    """A config.json value is missing, of the wrong type, or inconsistent; the message names the key."""


class LayerGeometry(NamedTuple):
    n_heads: int
    n_kv_heads: int
    head_dim: int
    window: int | None  # keys seen by a query, itself included; None = global attention


@dataclass
class M1Config:
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    num_swa_attention_heads: int
    num_swa_key_value_heads: int
    sliding_window: int
    sliding_window_layers: list[int] = field(default_factory=list)
    conv_window: int = 2
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-6
    max_position_embeddings: int = 4096
    hidden_act: str = "silu"
    tie_word_embeddings: bool = False
    lm_head_normalized: bool = True
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None
    pad_token_id: int | None = None
    torch_dtype: str = "bfloat16"
    model_type: str = "baichuan_m1"
    # Keys we do not interpret but keep so that to_dict() round-trips the file.
    extra: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "M1Config":
        if not isinstance(d, dict):
            raise ConfigError(f"config must be a JSON object, got {type(d).__name__}")
        get = _Keys(d)
        model_type = d.get("model_type")
        if model_type is None:
            raise ConfigError("config key 'model_type' is missing")
        if model_type not in MODEL_TYPES:
            raise ConfigError(
                f"config key 'model_type' is {model_type!r}; this runtime runs {', '.join(MODEL_TYPES)}"
            )
        values: dict[str, Any] = {"model_type": model_type}
        for key in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                    "num_attention_heads"):
            values[key] = get.integer(key)
        values["num_key_value_heads"] = get.integer("num_key_value_heads", values["num_attention_heads"])
        swa_layers = _sliding_window_layers(d.get("sliding_window_layers"), values["num_hidden_layers"])
        values["sliding_window_layers"] = swa_layers
        # SWA keys are required only when some layer uses sliding-window attention.
        has_swa = bool(swa_layers)
        values["num_swa_attention_heads"] = get.integer(
            "num_swa_attention_heads", ... if has_swa else values["num_attention_heads"])
        values["num_swa_key_value_heads"] = get.integer(
            "num_swa_key_value_heads", ... if has_swa else values["num_key_value_heads"])
        values["sliding_window"] = get.integer("sliding_window", ... if has_swa else 0, minimum=1 if has_swa else 0)

        conv = get.integer("conv_window", 2)
        if conv != 2:
            raise ConfigError(f"config key 'conv_window' must be 2 (the M1 short convolution), got {conv}")
        values["conv_window"] = conv
        values["rope_theta"] = get.number("rope_theta", 10000.0)
        values["rms_norm_eps"] = get.number("rms_norm_eps", 1e-6)
        values["max_position_embeddings"] = get.integer("max_position_embeddings", 4096)
        act = d.get("hidden_act", "silu")
        if act not in ("silu", "swish"):
            raise ConfigError(f"config key 'hidden_act' must be 'silu', got {act!r}")
        values["hidden_act"] = "silu"
        values["tie_word_embeddings"] = get.flag("tie_word_embeddings", False)
        values["lm_head_normalized"] = get.flag("lm_head_normalized", True)
        values["bos_token_id"] = get.token_ids("bos_token_id", lists=False)
        values["pad_token_id"] = get.token_ids("pad_token_id", lists=False)
        values["eos_token_id"] = get.token_ids("eos_token_id", lists=True)
        td = d.get("torch_dtype", "bfloat16")
        if not isinstance(td, str):
            raise ConfigError(f"config key 'torch_dtype' must be a string, got {td!r}")
        values["torch_dtype"] = td
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        values["extra"] = {k: v for k, v in d.items() if k not in known}
        cfg = cls(**values)
        cfg.validate()
        return cfg

    @classmethod
    def from_dir(cls, path: str | Path) -> "M1Config":
        path = Path(path)
        file = path / "config.json" if path.is_dir() else path
        if not file.is_file():
            raise ConfigError(f"no config.json at {file}")
        try:
            d = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ConfigError(f"{file} is not valid JSON: {e}") from None
        try:
            return cls.from_dict(d)
        except ConfigError as e:
            raise ConfigError(f"{file}: {e}") from None

    def validate(self) -> None:
        """Check the geometry so that a bad config fails here, not as a shape error mid-forward."""
        H = self.hidden_size
        for heads_key, kv_key in (("num_attention_heads", "num_key_value_heads"),
                                  ("num_swa_attention_heads", "num_swa_key_value_heads")):
            nh, nkv = getattr(self, heads_key), getattr(self, kv_key)
            if heads_key.startswith("num_swa") and not self.sliding_window_layers:
                continue
            if H % nh:
                raise ConfigError(f"config key '{heads_key}' ({nh}) does not divide hidden_size ({H})")
            if (H // nh) % 2:
                raise ConfigError(f"config key '{heads_key}' ({nh}) gives an odd head dim {H // nh}; RoPE needs it even")
            if nh % nkv:
                raise ConfigError(f"config key '{kv_key}' ({nkv}) does not divide '{heads_key}' ({nh})")
        hd = self.extra.get("head_dim")
        if hd is not None and hd != H // self.num_attention_heads:
            raise ConfigError(
                f"config key 'head_dim' ({hd}) differs from hidden_size / num_attention_heads "
                f"({H // self.num_attention_heads}); this runtime derives head dim from hidden_size"
            )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        extra = d.pop("extra")
        return {**extra, **d}

    # ------------------------------------------------------------------ geometry
    @property
    def swa_layer_set(self) -> frozenset[int]:
        return frozenset(self.sliding_window_layers)

    def is_swa(self, i: int) -> bool:
        return i in self.swa_layer_set

    def layer_geometry(self, i: int) -> LayerGeometry:
        if not 0 <= i < self.num_hidden_layers:
            raise IndexError(f"layer {i} outside 0..{self.num_hidden_layers - 1}")
        if self.is_swa(i):
            nh, nkv, win = self.num_swa_attention_heads, self.num_swa_key_value_heads, self.sliding_window
        else:
            nh, nkv, win = self.num_attention_heads, self.num_key_value_heads, None
        return LayerGeometry(nh, nkv, self.hidden_size // nh, win)

    @property
    def eos_ids(self) -> list[int]:
        e = self.eos_token_id
        return [] if e is None else ([e] if isinstance(e, int) else list(e))


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


class _Keys:
    """Typed reads of a config dict; each error names the key and the value found."""

    def __init__(self, d: dict[str, Any]):
        self.d = d

    def integer(self, key: str, default: Any = ..., minimum: int = 1) -> int:
        v = self.d.get(key)
        if v is None:
            if default is ...:
                raise ConfigError(f"config key '{key}' is missing")
            return default
        if not _is_int(v):
            raise ConfigError(f"config key '{key}' must be an integer, got {v!r}")
        if v < minimum:
            raise ConfigError(f"config key '{key}' must be >= {minimum}, got {v}")
        return v

    def number(self, key: str, default: float) -> float:
        v = self.d.get(key)
        v = default if v is None else v
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ConfigError(f"config key '{key}' must be a number, got {v!r}")
        if not v > 0:
            raise ConfigError(f"config key '{key}' must be > 0, got {v}")
        return float(v)

    def flag(self, key: str, default: bool) -> bool:
        v = self.d.get(key)
        if v is None:
            return default
        if not isinstance(v, bool):
            raise ConfigError(f"config key '{key}' must be true or false, got {v!r}")
        return v

    def token_ids(self, key: str, lists: bool) -> Any:
        """A token id or null (and, with `lists`, a list of ids: eos may name several)."""
        v = self.d.get(key)
        if v is None or _is_int(v) or (lists and isinstance(v, list) and all(_is_int(e) for e in v)):
            return v
        wanted = "an integer or a list of integers" if lists else "an integer or null"
        raise ConfigError(f"config key '{key}' must be {wanted}, got {v!r}")


def _sliding_window_layers(value: Any, n_layers: int) -> list[int]:
    """The sorted SWA layer indices, each checked against `num_hidden_layers`."""
    layers = [] if value is None else value
    if not isinstance(layers, (list, tuple)) or not all(_is_int(i) for i in layers):
        raise ConfigError(f"config key 'sliding_window_layers' must be a list of layer indices, got {value!r}")
    for i in layers:
        if not 0 <= i < n_layers:
            raise ConfigError(
                f"config key 'sliding_window_layers' has layer {i}, outside 0..{n_layers - 1} "
                f"(num_hidden_layers={n_layers})"
            )
    if len(set(layers)) != len(layers):
        raise ConfigError(f"config key 'sliding_window_layers' repeats a layer: {list(layers)}")
    return sorted(layers)
