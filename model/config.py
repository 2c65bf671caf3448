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
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        values: dict[str, Any] = {}

        def get_int(key: str, default: Any = ..., minimum: int = 1) -> int:
            if key not in d or d[key] is None:
                if default is ...:
                    raise ConfigError(f"config key '{key}' is missing")
                return default
            v = d[key]
            if isinstance(v, bool) or not isinstance(v, int):
                raise ConfigError(f"config key '{key}' must be an integer, got {v!r}")
            if v < minimum:
                raise ConfigError(f"config key '{key}' must be >= {minimum}, got {v}")
            return v

        def get_float(key: str, default: float, positive: bool = True) -> float:
            v = d.get(key, default)
            if v is None:
                v = default
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ConfigError(f"config key '{key}' must be a number, got {v!r}")
            if positive and not v > 0:
                raise ConfigError(f"config key '{key}' must be > 0, got {v}")
            return float(v)

        def get_bool(key: str, default: bool) -> bool:
            v = d.get(key, default)
            if v is None:
                return default
            if not isinstance(v, bool):
                raise ConfigError(f"config key '{key}' must be true or false, got {v!r}")
            return v

        model_type = d.get("model_type")
        if model_type is None:
            raise ConfigError("config key 'model_type' is missing")
        if model_type not in MODEL_TYPES:
            raise ConfigError(
                f"config key 'model_type' is {model_type!r}; this runtime runs {', '.join(MODEL_TYPES)}"
            )
        values["model_type"] = model_type
        for key in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                    "num_attention_heads"):
            values[key] = get_int(key)
        n_layers = values["num_hidden_layers"]
        values["num_key_value_heads"] = get_int("num_key_value_heads", values["num_attention_heads"])

        swa_layers = d.get("sliding_window_layers", [])
        if swa_layers is None:
            swa_layers = []
        if not isinstance(swa_layers, (list, tuple)) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in swa_layers
        ):
            raise ConfigError(f"config key 'sliding_window_layers' must be a list of layer indices, got {swa_layers!r}")
        for i in swa_layers:
            if not 0 <= i < n_layers:
                raise ConfigError(
                    f"config key 'sliding_window_layers' has layer {i}, outside 0..{n_layers - 1} "
                    f"(num_hidden_layers={n_layers})"
                )
        if len(set(swa_layers)) != len(swa_layers):
            raise ConfigError(f"config key 'sliding_window_layers' repeats a layer: {list(swa_layers)}")
        values["sliding_window_layers"] = sorted(swa_layers)
        has_swa = bool(swa_layers)
        # SWA keys are required only when some layer uses sliding-window attention.
        values["num_swa_attention_heads"] = get_int(
            "num_swa_attention_heads", ... if has_swa else values["num_attention_heads"])
        values["num_swa_key_value_heads"] = get_int(
            "num_swa_key_value_heads", ... if has_swa else values["num_key_value_heads"])
        values["sliding_window"] = get_int("sliding_window", ... if has_swa else 0, minimum=1 if has_swa else 0)

        conv = get_int("conv_window", 2)
        if conv != 2:
            raise ConfigError(f"config key 'conv_window' must be 2 (the M1 short convolution), got {conv}")
        values["conv_window"] = conv
        values["rope_theta"] = get_float("rope_theta", 10000.0)
        values["rms_norm_eps"] = get_float("rms_norm_eps", 1e-6)
        values["max_position_embeddings"] = get_int("max_position_embeddings", 4096)
        act = d.get("hidden_act", "silu")
        if act not in ("silu", "swish"):
            raise ConfigError(f"config key 'hidden_act' must be 'silu', got {act!r}")
        values["hidden_act"] = "silu"
        values["tie_word_embeddings"] = get_bool("tie_word_embeddings", False)
        values["lm_head_normalized"] = get_bool("lm_head_normalized", True)
        for key in ("bos_token_id", "pad_token_id"):
            v = d.get(key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
                raise ConfigError(f"config key '{key}' must be an integer or null, got {v!r}")
            values[key] = v
        eos = d.get("eos_token_id")
        if eos is not None:
            ok = (isinstance(eos, int) and not isinstance(eos, bool)) or (
                isinstance(eos, list) and all(isinstance(e, int) and not isinstance(e, bool) for e in eos))
            if not ok:
                raise ConfigError(f"config key 'eos_token_id' must be an integer or a list of integers, got {eos!r}")
        values["eos_token_id"] = eos
        td = d.get("torch_dtype", "bfloat16")
        if not isinstance(td, str):
            raise ConfigError(f"config key 'torch_dtype' must be a string, got {td!r}")
        values["torch_dtype"] = td
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
