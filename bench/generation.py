"""Generation bench on the demo model: what the Generator adds on top of the network.

Rows: the demo import (GGUF -> M1 layout, once); a bare greedy decode loop over the cache (no
text, no sampling: the network's own speed); Generator.generate greedy and sampled (the same
steps plus sampling, incremental detokenisation and stop checks), with time to first text
piece; a batch of 4 prompts against the same 4 one after another.

    python bench/generation.py            # writes bench/results/generation.json
    python bench/generation.py --quick    # fewer tokens

Timings on a shared machine are noisy; the JSON records the load average at the start and end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from model.generate import GenerationParams, Generator  # noqa: E402
from model.importing import ensure_demo_checkpoint  # noqa: E402
from model.loading import load_model  # noqa: E402
from model.tokenizer import load_tokenizer  # noqa: E402

QUESTIONS = [
    "What is the first-line drug treatment for stage 1 hypertension in adults?",
    "How should community-acquired pneumonia be treated in an otherwise healthy adult?",
    "When is anticoagulation indicated in atrial fibrillation?",
    "What lifestyle changes reduce the risk of type 2 diabetes?",
]


def bare_decode(model, prompt_ids: list[int], steps: int) -> float:
    """Seconds for `steps` greedy decode steps with a cache, after the prefill."""
    cache = model.new_cache(1, len(prompt_ids) + steps + 1)
    logits = model(torch.tensor([prompt_ids]), cache=cache, last_only=True)
    token = logits[:, -1].argmax(-1, keepdim=True)
    start = time.perf_counter()
    for _ in range(steps):
        token = model(token, cache=cache)[:, -1].argmax(-1, keepdim=True)
    return time.perf_counter() - start


def timed_generate(gen: Generator, messages, params: GenerationParams) -> tuple[float, float, int]:
    """(total seconds, seconds to the first text piece, completion tokens)."""
    start = time.perf_counter()
    first = None
    stream = gen.stream(messages, params)
    for _ in stream:
        if first is None:
            first = time.perf_counter() - start
    total = time.perf_counter() - start
    assert stream.result is not None
    return total, first or total, stream.result.completion_tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--models-dir", type=Path, default=None, help="reuse an imported demo here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    steps = 16 if args.quick else 64
    repeats = 1 if args.quick else 3
    load_start = os.getloadavg()[0]

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        models_dir = args.models_dir or Path(tmp)
        t0 = time.perf_counter()
        checkpoint = ensure_demo_checkpoint(models_dir)
        rows.append({"row": "demo import (GGUF -> M1, or found)", "seconds": time.perf_counter() - t0})

        model = load_model(checkpoint, dtype="float32")
        tok = load_tokenizer(checkpoint)
        gen = Generator(model, tok)
        chat = [{"role": "user", "content": QUESTIONS[0]}]
        prompt_ids = tok.encode_chat(chat)
        gen.generate(chat, GenerationParams(max_new_tokens=4))  # warm-up

        bare = statistics.median(bare_decode(model, prompt_ids, steps) for _ in range(repeats))
        rows.append({"row": f"bare greedy decode loop ({steps} steps)", "tokens_per_s": steps / bare})

        no_stop = GenerationParams(max_new_tokens=steps, stop_token_ids=[])
        for name, params in (("Generator greedy", no_stop),
                             ("Generator sampled (T=0.7, top_p=0.9)",
                              no_stop.model_copy(update={"temperature": 0.7, "top_p": 0.9, "seed": 1}))):
            runs = [timed_generate(gen, chat, params) for _ in range(repeats)]
            total, first, n = (statistics.median(r[i] for r in runs) for i in range(3))
            rows.append({"row": name, "tokens_per_s": n / total, "first_piece_s": first, "tokens": n})

        chats = [[{"role": "user", "content": q}] for q in QUESTIONS]
        batch_params = GenerationParams(max_new_tokens=steps // 2)
        t0 = time.perf_counter()
        one_by_one = [gen.generate(c, batch_params) for c in chats]
        seq_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        batched = gen.generate_batch(chats, batch_params)
        batch_s = time.perf_counter() - t0
        n = sum(r.completion_tokens for r in batched)
        rows.append({"row": "4 prompts one by one", "tokens_per_s": sum(r.completion_tokens for r in one_by_one) / seq_s})
        rows.append({"row": "4 prompts as one batch", "tokens_per_s": n / batch_s,
                     "same_as_one_by_one": [r.token_ids for r in batched] == [r.token_ids for r in one_by_one]})

    result = {"device": "cpu", "threads": torch.get_num_threads(), "steps": steps, "repeats": repeats,
              "load_average_start": load_start, "load_average_end": os.getloadavg()[0], "rows": rows}
    print(f"{'row':44} {'tok/s':>8} {'first piece s':>14} {'seconds':>8}")
    for r in rows:
        tps = f"{r['tokens_per_s']:.1f}" if "tokens_per_s" in r else ""
        first = f"{r['first_piece_s']:.3f}" if "first_piece_s" in r else ""
        secs = f"{r['seconds']:.1f}" if "seconds" in r else ""
        print(f"{r['row']:44} {tps:>8} {first:>14} {secs:>8}")
    print(f"threads {result['threads']}, load average {load_start:.1f} -> {result['load_average_end']:.1f}")
    out = ROOT / "bench" / "results" / "generation.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
