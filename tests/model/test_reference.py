"""The network computes the official Baichuan-M1 function.

1. tests/fixtures/m1-reference (vectors from the official code): fp32 within 1e-4, bf16 greedy
   identical (and bit-exact in practice), full and incremental.
2. Every other geometry against a slow, loop-based implementation written here straight from
   M1-ARCHITECTURE.md, so that head geometry, windows, conv and the head are checked where no
   official vectors exist.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file

from model import M1Config, load_model
from tests.model.conftest import on_devices
from tests.model.random_checkpoint import GEOMETRIES, make_config, random_state_dict, write_checkpoint

REF = __import__("pathlib").Path(__file__).resolve().parents[1] / "fixtures" / "m1-reference"


@pytest.fixture(scope="module")
def expected() -> dict[str, torch.Tensor]:
    return load_file(REF / "expected.safetensors")


@pytest.fixture(scope="module")
def cases() -> dict:
    return json.loads((REF / "cases.json").read_text())


def incremental(model, prompt: torch.Tensor, split: int) -> torch.Tensor:
    cache = model.new_cache(1, prompt.shape[1] + 1)
    rows = [model(prompt[:, :split], cache=cache)[:, -1:]]
    for t in range(split, prompt.shape[1]):
        rows.append(model(prompt[:, t:t + 1], cache=cache))
    return torch.cat(rows, dim=1)


def greedy(model, prompt: torch.Tensor, n: int) -> list[int]:
    cache = model.new_cache(1, prompt.shape[1] + n + 1)
    logits = model(prompt, cache=cache, last_only=True)[:, -1]
    out = []
    for _ in range(n):
        nxt = logits.argmax(-1)
        out.append(int(nxt.item()))
        logits = model(nxt[:, None], cache=cache)[:, -1]
    return out


@pytest.mark.parametrize("device", on_devices())
@pytest.mark.parametrize("dtype,tag,tol", [("float32", "fp32", 1e-4), ("bfloat16", "bf16", 5e-2)])
def test_official_reference_vectors(expected, cases, dtype, tag, tol, device):
    model = load_model(REF / "checkpoint", dtype=dtype, device=device[1])
    prompt = expected["prompt"]
    full = model(prompt).cpu()
    assert full.dtype == torch.float32 and full.shape == expected[f"{tag}.full_logits"].shape
    assert (full - expected[f"{tag}.full_logits"]).abs().max().item() <= tol
    inc = incremental(model, prompt[:1], cases["prefill_split"]).cpu()
    assert (inc - expected[f"{tag}.incremental_logits"]).abs().max().item() <= tol
    ids = expected[f"{tag}.greedy_ids"][0].tolist()
    assert greedy(model, prompt[:1, : cases["greedy_prompt_len"]], len(ids)) == ids


def test_bf16_is_bit_exact_with_official(expected, cases):
    """Following the spec's op order reproduces the official bf16 numbers exactly."""
    model = load_model(REF / "checkpoint", dtype="bfloat16")
    assert torch.equal(model(expected["prompt"]), expected["bf16.full_logits"])
    inc = incremental(model, expected["prompt"][:1], cases["prefill_split"])
    assert torch.equal(inc, expected["bf16.incremental_logits"])


# ---------------------------------------------------------------- spec-literal slow reference
def spec_forward(config: dict, sd: dict[str, torch.Tensor], ids: list[int]) -> torch.Tensor:
    """One sequence, fp64, loops over tokens and heads; written from M1-ARCHITECTURE.md only."""
    sd = {k: v.double() for k, v in sd.items()}
    H, V = config["hidden_size"], config["vocab_size"]
    eps, theta = config["rms_norm_eps"], config["rope_theta"]
    swa = set(config["sliding_window_layers"])

    def rms(x, w):
        return w * (x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps))

    def rope(x, pos):  # x [hd]
        hd = x.shape[0]
        out = torch.empty_like(x)
        for j in range(hd // 2):
            ang = pos * theta ** (-2 * j / hd)
            a, b = x[j], x[j + hd // 2]
            out[j] = a * math.cos(ang) - b * math.sin(ang)
            out[j + hd // 2] = b * math.cos(ang) + a * math.sin(ang)
        return out

    ids = [0 if t == V else t for t in ids]
    x = sd["model.embed_tokens.weight"][ids]
    T = len(ids)
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}."
        if i in swa:
            nh, nkv, win = config["num_swa_attention_heads"], config["num_swa_key_value_heads"], config["sliding_window"]
        else:
            nh, nkv, win = config["num_attention_heads"], config["num_key_value_heads"], None
        hd = H // nh
        h = rms(x, sd[p + "input_layernorm.weight"])
        qkv = h @ sd[p + "self_attn.W_pack.weight"].T
        q = qkv[:, : nh * hd].reshape(T, nh, hd)
        k = qkv[:, nh * hd: nh * hd + nkv * hd].reshape(T, nkv, hd)
        v = qkv[:, nh * hd + nkv * hd:].reshape(T, nkv, hd)
        ck, cv = sd[p + "self_attn.conv_k"][0, 0, :, 0], sd[p + "self_attn.conv_v"][0, 0, :, 0]  # [nkv, 2]
        k2, v2 = torch.zeros_like(k), torch.zeros_like(v)
        for t in range(T):
            for g in range(nkv):
                pk = k[t - 1, g] if t > 0 else torch.zeros(hd, dtype=k.dtype)
                pv = v[t - 1, g] if t > 0 else torch.zeros(hd, dtype=v.dtype)
                k2[t, g] = ck[g, 0] * pk + ck[g, 1] * k[t, g]
                v2[t, g] = cv[g, 0] * pv + cv[g, 1] * v[t, g]
        attn = torch.zeros(T, nh * hd, dtype=x.dtype)
        for t in range(T):
            for hh in range(nh):
                g = hh // (nh // nkv)
                qv = rope(q[t, hh], t)
                keys = [s for s in range(T) if s <= t and (win is None or t - s < win)]
                scores = torch.stack([qv @ rope(k2[s, g], s) for s in keys]) / math.sqrt(hd)
                w = torch.softmax(scores, 0)
                attn[t, hh * hd:(hh + 1) * hd] = sum(w[n] * v2[s, g] for n, s in enumerate(keys))
        x = x + attn @ sd[p + "self_attn.o_proj.weight"].T
        h = rms(x, sd[p + "post_attention_layernorm.weight"])
        gate = h @ sd[p + "mlp.gate_proj.weight"].T
        up = h @ sd[p + "mlp.up_proj.weight"].T
        x = x + (gate * torch.sigmoid(gate) * up) @ sd[p + "mlp.down_proj.weight"].T
    x = rms(x, sd["model.norm.weight"])
    head = sd.get("lm_head.weight", sd["model.embed_tokens.weight"])
    if config.get("lm_head_normalized", True):
        head = head / head.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return x @ head.T


@pytest.mark.parametrize("geometry", sorted(GEOMETRIES))
def test_network_matches_spec_on_other_geometries(tmp_path, geometry):
    config = make_config(geometry, rope_theta=500.0)  # small theta: large angles at small positions
    sd = random_state_dict(config, seed=3)
    write_checkpoint(tmp_path, config, sd, dtype=torch.float32, shards=3)
    model = load_model(tmp_path, dtype=torch.float32)
    g = torch.Generator().manual_seed(1)
    T = 13 if geometry != "llama" else 9
    ids = torch.randint(0, config["vocab_size"], (1, T), generator=g)
    ids[0, 4] = config["vocab_size"]  # the official id remap: vocab_size -> 0
    want = spec_forward(config, sd, ids[0].tolist())
    got = model(ids)[0].double()
    assert (got - want).abs().max().item() < 1e-4
    assert ids[0, 4].item() == config["vocab_size"], "forward must not modify the caller's ids"


def test_head_is_normalised_once_at_load(tmp_path):
    config = make_config("m1-mini")
    sd = random_state_dict(config, seed=5)
    write_checkpoint(tmp_path, config, sd, dtype=torch.float32, shards=1)
    model = load_model(tmp_path)
    norms = model.lm_head.weight.norm(dim=-1)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-5)
    assert torch.equal(model.model.embed_tokens.weight, sd["model.embed_tokens.weight"])


def test_plain_tied_head_for_imported_llama(tmp_path):
    config = make_config("llama")
    sd = random_state_dict(config, seed=5)
    assert "lm_head.weight" not in sd
    write_checkpoint(tmp_path, config, sd, dtype=torch.float32, shards=1)
    model = load_model(tmp_path)
    assert not M1Config.from_dir(tmp_path).lm_head_normalized
    assert torch.equal(model.lm_head.weight, sd["model.embed_tokens.weight"])
