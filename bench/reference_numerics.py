"""Which CUDA numerics reproduce the official bf16 reference (computed on CPU)?

Loads tests/fixtures/m1-reference in bf16 on CUDA and reports, for a few numerics choices,
the max logit difference against the official vectors and how many greedy ids agree:
default; attention upcast to fp32 (as CPU does); cuBLAS without reduced-precision bf16
reductions; both. Prints a table and writes bench/results/reference_numerics.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from model import load_model, network  # noqa: E402
from model.decoding import StaticDecoder  # noqa: E402

REF = ROOT / "tests" / "fixtures" / "m1-reference"


def greedy(model, prompt, n, decoder=None):
    cache = model.new_cache(1, prompt.shape[1] + n + 1)
    logits = model(prompt, cache=cache, last_only=True)[:, -1]
    out = []
    for _ in range(n):
        nxt = logits.argmax(-1, keepdim=True)
        out.append(int(nxt.item()))
        logits = decoder.step(nxt, cache) if decoder else model(nxt, cache=cache)[:, -1]
    return out


def main() -> None:
    exp = load_file(REF / "expected.safetensors")
    cases = json.loads((REF / "cases.json").read_text())
    want = exp["bf16.greedy_ids"][0].tolist()
    prompt = exp["prompt"][:1, : cases["greedy_prompt_len"]]
    plain_attend = network.attend

    def fp32_attend(q, k, v, mask, causal, head_dim):
        return plain_attend(q.float(), k.float(), v.float(), mask, causal, head_dim).to(q.dtype)

    rows = []
    for name, upcast, no_reduced in (("default", False, False), ("fp32 attention", True, False),
                                     ("no reduced-precision reduction", False, True), ("both", True, True)):
        network.attend = fp32_attend if upcast else plain_attend
        torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction = not no_reduced
        model = load_model(REF / "checkpoint", dtype="bfloat16", device="cuda")
        full = model(exp["prompt"]).cpu()
        got = greedy(model, prompt, len(want))
        dec = StaticDecoder(model, graphs=True)
        dec._kernel = False if upcast else None  # the Triton attention is bf16: off when upcasting
        got_graph = greedy(model, prompt, len(want), dec)
        agree = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), len(want))
        agree_g = next((i for i, (a, b) in enumerate(zip(got_graph, want)) if a != b), len(want))
        rows.append({"variant": name, "max_abs_full": (full - exp["bf16.full_logits"]).abs().max().item(),
                     "greedy_prefix": agree, "greedy_prefix_graphs": agree_g, "of": len(want)})
        print(f"{name:<34} max|d| {rows[-1]['max_abs_full']:.4f}  greedy equal for {agree}/{len(want)}"
              f" (graphs {agree_g}/{len(want)})")
    network.attend = plain_attend
    out = ROOT / "bench" / "results" / "reference_numerics.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
