"""GPU runtime bench: our M1 runtime against transformers on the same weights, and the 14B.

Nothing is downloaded: every model is built from random weights on the GPU (speed does not
depend on the values; quality is compared engine against engine on the same weights).

- Llama-3.2-1B geometry: one transformers `LlamaForCausalLM` (bf16, SDPA, eager, its dynamic
  cache), and ours built from the very same tensors (W_pack = [q; k; v], identity conv taps),
  decoding eagerly and through CUDA graphs (model/decoding.py). Logits compared teacher-forced.
- Baichuan-M1-14B geometry (40 layers, hidden 5120, global layers 20x256 heads / 2 KV heads,
  SWA layers 40x128 / 8 KV with an 8,192 window): ours in bf16 and weight-only int8.

Each row: decode tokens/s at batch 1 after 512 and after a long prompt (4,096; 8,192 for the
14B), batch 8 and 32, prefill tokens/s, peak GPU memory, and x floor = measured step time over
the time to read the step's weights once at the measured copy bandwidth (1.0 = at the floor).

    python bench/runtime.py --device cuda [--quick] [--compile]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from bench.runtime import HF, weight_bytes_per_token  # noqa: E402  (transformers driven the same way)

LLAMA_1B = dict(vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                num_attention_heads=32, num_key_value_heads=8, rope_theta=500000.0, rms_norm_eps=1e-5,
                max_position_embeddings=131072, tie_word_embeddings=True)
M1_14B = dict(vocab_size=133120, hidden_size=5120, intermediate_size=17408, num_hidden_layers=40,
              num_attention_heads=20, num_key_value_heads=2, num_swa_attention_heads=40,
              num_swa_key_value_heads=8, sliding_window=8192, sliding_window_layers=list(range(1, 40, 2)),
              conv_window=2, rope_theta=1e6, rms_norm_eps=1e-6, max_position_embeddings=32768,
              tie_word_embeddings=False, model_type="baichuan_m1")


DEVICE = "cuda"  # --smoke runs the whole bench on tiny geometries on the CPU, to check the script


def sync() -> None:
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def bandwidth_gb_s() -> float:
    """Device copy bandwidth (bytes read + written), best of 10 over 2 GiB of random data."""
    x = torch.rand((512 if DEVICE == "cuda" else 16) * 2**20, device=DEVICE)
    y = torch.empty_like(x)
    best = float("inf")
    for _ in range(10):
        sync()
        t = time.perf_counter()
        y.copy_(x)
        sync()
        best = min(best, time.perf_counter() - t)
    n = x.numel()
    del x, y
    return 2 * n * 4 / best / 1e9


# ----------------------------------------------------------------------------- models
def rope_theta(c: Any) -> float:
    """transformers 4.x keeps `rope_theta` on the config; 5.x moved it into `rope_parameters`."""
    params = getattr(c, "rope_parameters", None) or {}
    return float(params.get("rope_theta", getattr(c, "rope_theta", 10000.0)))


def m1_from_hf_llama(hf: nn.Module) -> nn.Module:
    """Our M1Model holding the same tensors as a transformers Llama (W_pack concatenated)."""
    from model import M1Config
    from model.network import M1Model

    c = hf.config
    cfg = M1Config.from_dict(dict(
        vocab_size=c.vocab_size, hidden_size=c.hidden_size, intermediate_size=c.intermediate_size,
        num_hidden_layers=c.num_hidden_layers, num_attention_heads=c.num_attention_heads,
        num_key_value_heads=c.num_key_value_heads, num_swa_attention_heads=c.num_attention_heads,
        num_swa_key_value_heads=c.num_key_value_heads, sliding_window=c.max_position_embeddings,
        sliding_window_layers=[], rope_theta=rope_theta(c), rms_norm_eps=c.rms_norm_eps,
        max_position_embeddings=c.max_position_embeddings, tie_word_embeddings=True, lm_head_normalized=False,
        model_type="baichuan_m1"))
    with torch.device("meta"):
        ours = M1Model(cfg)
    sd = hf.state_dict()
    new: dict[str, torch.Tensor] = {}
    for i in range(cfg.num_hidden_layers):
        p = f"model.layers.{i}."
        a = p + "self_attn."
        new[a + "W_pack.weight"] = torch.cat([sd[a + "q_proj.weight"], sd[a + "k_proj.weight"], sd[a + "v_proj.weight"]])
        for name in ("o_proj.weight",):
            new[a + name] = sd[a + name]
        taps = torch.tensor([0.0, 1.0], dtype=torch.bfloat16, device=DEVICE)
        new[a + "conv_k"] = taps.expand(1, 1, cfg.num_key_value_heads, 1, 2).clone()
        new[a + "conv_v"] = new[a + "conv_k"].clone()
        for name in ("mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight",
                     "input_layernorm.weight", "post_attention_layernorm.weight"):
            new[p + name] = sd[p + name]
    new["model.embed_tokens.weight"] = sd["model.embed_tokens.weight"]
    new["model.norm.weight"] = sd["model.norm.weight"]
    new["lm_head.weight"] = sd["model.embed_tokens.weight"]
    ours.load_state_dict(new, assign=True, strict=True)
    for layer in ours.model.layers:
        layer.mlp.fuse()
    return ours.eval()


def random_m1(geometry: dict, int8: bool) -> nn.Module:
    """The M1 network at `geometry` with random bf16 weights on the GPU (int8: quantized as the
    loader does), head L2-normalised once as at load."""
    from model import M1Config
    from model.network import M1Model
    from model.quant import quantize_linears

    cfg = M1Config.from_dict(dict(geometry))
    with torch.device("meta"):
        model = M1Model(cfg)
    g = torch.Generator(device=DEVICE).manual_seed(0)
    for name, p in list(model.named_parameters()):
        t = torch.empty(p.shape, dtype=torch.bfloat16, device=DEVICE)
        if "norm" in name:
            t.fill_(1.0)
        elif "conv_" in name:
            t.uniform_(-1.0, 1.0, generator=g)
        else:
            t.normal_(0.0, 0.02, generator=g)
        parent, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent), attr, nn.Parameter(t, requires_grad=False))
    model.lm_head.weight = nn.Parameter(torch.nn.functional.normalize(model.lm_head.weight, dim=-1), requires_grad=False)
    if int8:
        quantize_linears(model, torch.bfloat16)
    for layer in model.model.layers:
        layer.mlp.fuse()
    return model.eval()


# ----------------------------------------------------------------------------- engines
class Ours:
    def __init__(self, model: nn.Module, decode: str) -> None:
        from model.decoding import decoder_for

        self.model = model
        self.decoder = decoder_for(model, decode)

    @torch.inference_mode()
    def prefill(self, ids: torch.Tensor, max_tokens: int):
        cache = self.model.new_cache(ids.shape[0], max_tokens)
        for s in range(0, ids.shape[1], 4096):  # chunked as the generator does (8,192 x 133k logits otherwise)
            logits = self.model(ids[:, s:s + 4096], cache=cache, last_only=True)[:, -1]
        return logits, cache

    @torch.inference_mode()
    def step(self, ids: torch.Tensor, cache):
        if self.decoder is not None:
            return self.decoder.step(ids, cache), cache
        return self.model(ids, cache=cache)[:, -1], cache

    @torch.inference_mode()
    def all_logits(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model(ids).float()


def weight_bytes(model: nn.Module) -> int:
    return weight_bytes_per_token(model)


# ----------------------------------------------------------------------------- measuring
def decode_rate(eng: Any, vocab: int, batch: int, context: int, steps: int) -> tuple[float, list[int]]:
    """tokens/s of greedy decoding `steps` tokens after a `context`-token prompt, the loop a
    generator runs (argmax on the device, the next ids fed back), timed as a whole."""
    g = torch.Generator(device=DEVICE).manual_seed(batch * 7 + context)
    ids = torch.randint(0, vocab, (batch, context), device=DEVICE, generator=g)
    logits, cache = eng.prefill(ids, context + steps + 8)
    nxt = logits.argmax(-1, keepdim=True)
    for _ in range(3):  # warm-up (captures the graph; allocator settles)
        logits, cache = eng.step(nxt, cache)
        nxt = logits.argmax(-1, keepdim=True)
    tokens = []
    sync()
    t = time.perf_counter()
    for _ in range(steps):
        logits, cache = eng.step(nxt, cache)
        nxt = logits.argmax(-1, keepdim=True)
        tokens.append(nxt[0, 0])
    sync()
    dt = time.perf_counter() - t
    del cache
    return batch * steps / dt, [int(x) for x in torch.stack(tokens).tolist()]


def prefill_rate(eng: Any, vocab: int, n: int, repeats: int) -> float:
    ids = torch.randint(0, vocab, (1, n), device=DEVICE)
    eng.prefill(ids[:, :64], 80)
    times = []
    for _ in range(repeats):
        sync()
        t = time.perf_counter()
        eng.prefill(ids, n + 8)
        sync()
        times.append(time.perf_counter() - t)
    return n / statistics.median(times)


def measure(name: str, eng: Any, model: nn.Module, vocab: int, plan: dict, bw: float) -> dict:
    if DEVICE == "cuda":
        torch.cuda.reset_peak_memory_stats()
    row: dict[str, Any] = {"row": name, "weight_gb": weight_bytes(model) / 1e9}
    row["floor_tok_s"] = bw * 1e9 / weight_bytes(model)
    for key, (batch, context, steps) in plan.items():
        t0 = time.perf_counter()
        try:
            rate, tokens = decode_rate(eng, vocab, batch, context, steps)
        except Exception as exc:  # noqa: BLE001 - a failed cell is reported, the bench goes on
            row[key] = None
            row[key + "_error"] = f"{type(exc).__name__}: {exc}"[:300]
            print(f"  {name} {key}: FAILED {row[key + '_error']}", file=sys.stderr)
            continue
        row[key] = rate
        if key == "b1_512":
            row["greedy"] = tokens[:32]
        print(f"  {name} {key}: {rate:.1f} tok/s ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    if "b1_512" in row and row["b1_512"]:
        row["x_floor"] = row["floor_tok_s"] / row["b1_512"]
    row["peak_gb"] = torch.cuda.max_memory_allocated() / 1e9 if DEVICE == "cuda" else float("nan")
    return row


def teacher_forced(a: Any, b: Any, vocab: int, n: int = 256) -> dict:
    ids = torch.randint(0, vocab, (1, n), device=DEVICE, generator=torch.Generator(device=DEVICE).manual_seed(3))
    la, lb = a.all_logits(ids), b.all_logits(ids)
    return {"max_abs_logit_diff": (la - lb).abs().max().item(),
            "logit_scale": lb.abs().max().item(),
            "top1_agreement": (la.argmax(-1) == lb.argmax(-1)).float().mean().item()}


def common_prefix(a: list[int], b: list[int]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


# ----------------------------------------------------------------------------- driver
def llama_rows(args, bw: float) -> tuple[list[dict], dict]:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(**LLAMA_1B, hidden_act="silu", attention_bias=False, mlp_bias=False)
    with torch.device(DEVICE):
        hf = LlamaForCausalLM(cfg).to(torch.bfloat16).eval()
    hf.config._attn_implementation = "sdpa"
    ours = m1_from_hf_llama(hf)
    n = 16 if args.quick else 64
    plan = {"b1_512": (1, 512, n), "b1_long": (1, 4096, n), "b8_512": (8, 512, n), "b32_512": (32, 512, n)}
    rows = []
    engines = [("transformers eager", HF(hf)), ("ours eager", Ours(ours, "off")), ("ours graphs", Ours(ours, "graphs"))]
    for name, eng in engines:
        eplan = plan if "graphs" in name else {k: (b, c, max(8, s // 2)) for k, (b, c, s) in plan.items()}
        row = measure("llama-1b " + name, eng, ours, LLAMA_1B["vocab_size"], eplan, bw)
        row["prefill_4096_tok_s"] = prefill_rate(eng, LLAMA_1B["vocab_size"], 4096, 3)
        row["long_context"] = 4096
        rows.append(row)
    # bf16 noise for scale: both engines against transformers in fp32 on the same weights.
    import copy

    hf32 = HF(copy.deepcopy(hf).float())
    quality = {"ours_bf16_vs_transformers_bf16": teacher_forced(Ours(ours, "off"), HF(hf), LLAMA_1B["vocab_size"]),
               "ours_bf16_vs_transformers_fp32": teacher_forced(Ours(ours, "off"), hf32, LLAMA_1B["vocab_size"]),
               "transformers_bf16_vs_fp32": teacher_forced(HF(hf), hf32, LLAMA_1B["vocab_size"])}
    del hf32
    ref = rows[0]["greedy"]
    for r in rows:
        r["greedy_same_as_transformers"] = common_prefix(r.get("greedy", []), ref)
    del hf, ours, engines
    gc.collect()
    if DEVICE == "cuda":
        torch.cuda.empty_cache()
    return rows, quality


def m1_rows(args, bw: float) -> list[dict]:
    rows = []
    n = 32 if args.quick else 128
    plan = {"b1_512": (1, 512, n), "b1_long": (1, 8192, n), "b8_512": (8, 512, n), "b32_512": (32, 512, n)}
    for int8 in (False, True):
        model = random_m1(M1_14B, int8)
        tag = "m1-14b " + ("int8" if int8 else "bf16")
        modes = [("graphs", plan)]
        if not int8:  # the eager baseline: slow, so few steps and one cell
            modes.insert(0, ("eager", {"b1_512": (1, 512, 8)}))
        for mode, p in modes:
            eng = Ours(model, "off" if mode == "eager" else mode)
            row = measure(f"{tag} {mode}", eng, model, M1_14B["vocab_size"], p, bw)
            if mode == "graphs":
                row["prefill_4096_tok_s"] = prefill_rate(eng, M1_14B["vocab_size"], 4096, 2)
            row["long_context"] = 8192
            rows.append(row)
            del eng
        del model
        gc.collect()
        if DEVICE == "cuda":
            torch.cuda.empty_cache()
    return rows


def compile_rows(args, bw: float) -> list[dict]:
    """torch.compile + graphs, batch 1, for the 14B in bf16 and int8: Inductor fuses the small
    element-wise ops that the plain graph still runs one kernel each. Built last: compiling the
    14B's 40 layers takes minutes."""
    rows = []
    n = 32 if args.quick else 128
    for int8 in (False, True):
        model = random_m1(M1_14B, int8)
        eng = Ours(model, "compile")
        t = time.perf_counter()
        row = measure(f"m1-14b {'int8' if int8 else 'bf16'} compile", eng, model, M1_14B["vocab_size"],
                      {"b1_512": (1, 512, n)}, bw)
        row["build_s"] = time.perf_counter() - t
        rows.append(row)
        del eng, model
        gc.collect()
        if DEVICE == "cuda":
            torch.cuda.empty_cache()
    return rows


def print_table(rows: list[dict], bw: float) -> None:
    cols = [("b1_512", "b1@512"), ("b1_long", "b1@long"), ("b8_512", "b8"), ("b32_512", "b32"),
            ("prefill_4096_tok_s", "prefill4k")]
    head = f"{'row':<34}{'weights GB':>11}{'floor t/s':>10}" + "".join(f"{c[1]:>10}" for c in cols) + \
        f"{'x floor':>8}{'peak GB':>8}"
    print(f"\nread+write copy bandwidth {bw:.0f} GB/s; decode tokens/s (all sequences together); "
          f"'long' = after 4,096 tokens (Llama-1B) or 8,192 (14B)")
    print(head)
    print("-" * len(head))
    for r in rows:
        cells = "".join(f"{r[c]:>10.1f}" if isinstance(r.get(c), (int, float)) else f"{'-':>10}" for c, _ in cols)
        xf = r.get("x_floor")
        print(f"{r['row']:<34}{r['weight_gb']:>11.2f}{r['floor_tok_s']:>10.0f}{cells}"
              f"{xf if xf is None else round(xf, 2)!s:>8}{r['peak_gb']:>8.1f}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer steps (under 4 minutes on an H200)")
    ap.add_argument("--compile", action="store_true", help="also the torch.compile + graphs rows (slow to build)")
    ap.add_argument("--only", choices=["llama", "m1", "none"], help="one model family (none: only --compile rows)")
    ap.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=None)
    args, _ = ap.parse_known_args(argv)
    args.out = args.out or ROOT / "bench" / "results" / "runtime_gpu.json"
    t0 = time.perf_counter()
    global DEVICE, LLAMA_1B, M1_14B
    if args.smoke:
        DEVICE = "cpu"
        LLAMA_1B = dict(LLAMA_1B, vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=2)
        M1_14B = dict(M1_14B, vocab_size=512, hidden_size=64, intermediate_size=96, num_hidden_layers=4,
                      num_attention_heads=2, num_key_value_heads=1, num_swa_attention_heads=4,
                      num_swa_key_value_heads=2, sliding_window=64, sliding_window_layers=[1, 3])
    elif not torch.cuda.is_available():
        raise SystemExit("bench/runtime_gpu.py: no CUDA device visible")
    bw = bandwidth_gb_s()  # bytes moved per second: a decode step's weight reads move at this rate
    rows: list[dict] = []
    quality = None

    def save() -> None:  # after each phase: a later phase that runs out of time loses only itself
        report = {"device": torch.cuda.get_device_name() if DEVICE == "cuda" else "cpu (smoke)",
                  "torch": torch.__version__, "read_bandwidth_gb_s": bw, "quick": args.quick, "rows": rows,
                  "llama_quality": quality, "seconds": time.perf_counter() - t0}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2))

    if args.only in (None, "llama"):
        llama, quality = llama_rows(args, bw)
        rows += llama
        save()
    if args.only in (None, "m1"):
        rows += m1_rows(args, bw)
        save()
    print_table(rows, bw)
    if args.compile:
        rows += compile_rows(args, bw)
        save()
        print_table(rows[-2:], bw)
    if quality:
        print("Llama-1B, teacher-forced over 256 tokens (random weights: near-ties are common):")
        for name, qd in quality.items():
            print(f"  {name:<34} max |dlogit| {qd['max_abs_logit_diff']:.3f} (logits up to "
                  f"{qd['logit_scale']:.1f}), top-1 agreement {qd['top1_agreement']:.3f}")
        for r in rows:
            if "greedy_same_as_transformers" in r:
                print(f"  {r['row']}: greedy tokens identical to transformers for {r['greedy_same_as_transformers']}")
    save()
    print(f"wrote {args.out} in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
