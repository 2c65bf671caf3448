"""Random checkpoints of any M1 geometry, written in the released format.

config.json + safetensors shards (bf16 or fp32) + model.safetensors.index.json, tensor names and
shapes exactly as the 14B ships them. Tests and other engineers use this to exercise loading and
the runtime on geometries nobody has a real checkpoint for.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

# Small geometries that between them hit every code path: global + SWA with different head
# geometry, MHA, all-SWA, window 1, odd sizes, and the Llama-degenerate identity-conv case.
GEOMETRIES: dict[str, dict[str, Any]] = {
    "m1-mini": dict(vocab_size=160, hidden_size=64, intermediate_size=96, num_hidden_layers=4,
                    num_attention_heads=2, num_key_value_heads=1, num_swa_attention_heads=4,
                    num_swa_key_value_heads=2, sliding_window=8, sliding_window_layers=[1, 3]),
    "odd": dict(vocab_size=97, hidden_size=48, intermediate_size=80, num_hidden_layers=3,
                num_attention_heads=3, num_key_value_heads=3, num_swa_attention_heads=6,
                num_swa_key_value_heads=2, sliding_window=5, sliding_window_layers=[0, 2]),
    "all-swa": dict(vocab_size=61, hidden_size=32, intermediate_size=40, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=1, num_swa_attention_heads=2,
                    num_swa_key_value_heads=2, sliding_window=3, sliding_window_layers=[0, 1]),
    "window-1": dict(vocab_size=50, hidden_size=32, intermediate_size=24, num_hidden_layers=2,
                     num_attention_heads=2, num_key_value_heads=2, num_swa_attention_heads=4,
                     num_swa_key_value_heads=1, sliding_window=1, sliding_window_layers=[1]),
    "llama": dict(vocab_size=70, hidden_size=40, intermediate_size=56, num_hidden_layers=2,
                  num_attention_heads=5, num_key_value_heads=1, num_swa_attention_heads=5,
                  num_swa_key_value_heads=1, sliding_window=4096, sliding_window_layers=[],
                  tie_word_embeddings=True, lm_head_normalized=False),
}


def make_config(geometry: str | dict[str, Any] = "m1-mini", **overrides: Any) -> dict[str, Any]:
    """A complete config.json dict for a geometry name (or a dict of geometry keys)."""
    base = dict(GEOMETRIES[geometry]) if isinstance(geometry, str) else dict(geometry)
    cfg = {
        "architectures": ["BaichuanM1ForCausalLM"], "model_type": "baichuan_m1", "conv_window": 2,
        "rope_theta": 10000.0, "rms_norm_eps": 1e-6, "max_position_embeddings": 512,
        "hidden_act": "silu", "tie_word_embeddings": False, "torch_dtype": "bfloat16",
        "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
    }
    cfg.update(base)
    cfg.update(overrides)
    return cfg


def random_state_dict(config: dict[str, Any], seed: int = 0, identity_conv: bool | None = None) -> dict[str, torch.Tensor]:
    """fp32 tensors named and shaped as in the released checkpoints."""
    g = torch.Generator().manual_seed(seed)
    H, I, V = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    swa = set(config.get("sliding_window_layers") or [])
    if identity_conv is None:
        identity_conv = config.get("lm_head_normalized", True) is False

    def rnd(*shape: int, std: float = 0.08) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * std

    sd = {"model.embed_tokens.weight": rnd(V, H, std=1.0), "model.norm.weight": 1 + rnd(H, std=0.1)}
    for i in range(config["num_hidden_layers"]):
        if i in swa:
            nh, nkv = config["num_swa_attention_heads"], config["num_swa_key_value_heads"]
        else:
            nh, nkv = config["num_attention_heads"], config["num_key_value_heads"]
        hd = H // nh
        p = f"model.layers.{i}."
        sd[p + "input_layernorm.weight"] = 1 + rnd(H, std=0.1)
        sd[p + "post_attention_layernorm.weight"] = 1 + rnd(H, std=0.1)
        sd[p + "self_attn.W_pack.weight"] = rnd(nh * hd + 2 * nkv * hd, H, std=H ** -0.5)
        sd[p + "self_attn.o_proj.weight"] = rnd(H, nh * hd, std=H ** -0.5)
        for name in ("conv_k", "conv_v"):
            if identity_conv:
                taps = torch.tensor([0.0, 1.0]).expand(1, 1, nkv, 1, 2).clone()
            else:
                taps = torch.randn(1, 1, nkv, 1, 2, generator=g)  # raw, not softmaxed: order matters
            sd[p + "self_attn." + name] = taps
        sd[p + "mlp.gate_proj.weight"] = rnd(I, H, std=H ** -0.5)
        sd[p + "mlp.up_proj.weight"] = rnd(I, H, std=H ** -0.5)
        sd[p + "mlp.down_proj.weight"] = rnd(H, I, std=I ** -0.5)
    if not config.get("tie_word_embeddings", False):
        sd["lm_head.weight"] = rnd(V, H, std=1.0)
    return sd


def write_checkpoint(
    out_dir: str | Path,
    config: dict[str, Any],
    state_dict: dict[str, torch.Tensor] | None = None,
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.bfloat16,
    shards: int = 2,
) -> Path:
    """Write config.json and the weights; shards > 1 adds model.safetensors.index.json."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if state_dict is None:
        state_dict = random_state_dict(config, seed)
    (out / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    tensors = {k: v.to(dtype).contiguous() for k, v in state_dict.items()}
    names = list(tensors)
    if shards <= 1:
        save_file(tensors, out / "model.safetensors", metadata={"format": "pt"})
        return out
    per = -(-len(names) // shards)
    weight_map = {}
    for s in range(shards):
        part = names[s * per:(s + 1) * per]
        if not part:
            continue
        fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        save_file({k: tensors[k] for k in part}, out / fname, metadata={"format": "pt"})
        weight_map.update({k: fname for k in part})
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2), encoding="utf-8")
    return out


def random_checkpoint(out_dir: str | Path, geometry: str | dict[str, Any] = "m1-mini", *, seed: int = 0,
                      dtype: torch.dtype = torch.bfloat16, shards: int = 2, **overrides: Any) -> Path:
    """One call: config for a geometry (+ overrides), random weights, written to out_dir."""
    config = make_config(geometry, **overrides)
    return write_checkpoint(out_dir, config, seed=seed, dtype=dtype, shards=shards)
