"""The cache gives the same logits as recomputing everything, in every way a caller feeds it.

Checked on several geometries (global + SWA with their own heads, MHA, all-SWA, window 1,
Llama-degenerate): chunked prefill, decoding far past the window, left-padded batches,
dropping sequences with select, pads in decode steps, flat SWA memory.
"""

from __future__ import annotations

import pytest
import torch

from model import load_model
from model.cache import CacheFullError
from tests.model.conftest import load_random_model, on_devices
from tests.model.random_checkpoint import GEOMETRIES, random_checkpoint

ATOL = 2e-4


@pytest.fixture(scope="module", params=on_devices(*sorted(GEOMETRIES)))
def model(request, tmp_path_factory):
    return load_random_model(request, tmp_path_factory, seed=11, max_position_embeddings=256)


def window_of(model) -> int:
    cfg = model.config
    return cfg.sliding_window if cfg.sliding_window_layers else 8


def ids_for(model, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, model.config.vocab_size, (1, n), generator=g)


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and (a - b).abs().max().item() <= ATOL


def test_chunked_prefill_equals_one_prefill(model):
    W = window_of(model)
    ids = ids_for(model, 3 * W + 5, seed=1)
    full = model(ids)
    for chunk in sorted({1, 2, 3, max(1, W - 1), W, W + 1, 2 * W + 3}):
        cache = model.new_cache(1, ids.shape[1])
        parts = [model(ids[:, s:s + chunk], cache=cache) for s in range(0, ids.shape[1], chunk)]
        assert close(torch.cat(parts, dim=1), full), f"chunk size {chunk}"
        assert cache.lengths.tolist() == [ids.shape[1]]


def test_decode_far_past_window_equals_recomputation(model):
    W = window_of(model)
    n = 5 * W + 3
    ids = ids_for(model, n, seed=2)
    full = model(ids)
    cache = model.new_cache(1, n)
    first = model(ids[:, :3], cache=cache)
    steps = [model(ids[:, t:t + 1], cache=cache) for t in range(3, n)]
    assert close(torch.cat([first] + steps, dim=1), full)


def test_swa_memory_is_flat(model):
    cfg = model.config
    if not cfg.sliding_window_layers:
        pytest.skip("no sliding-window layers in this geometry")
    W = cfg.sliding_window
    if len(cfg.sliding_window_layers) == cfg.num_hidden_layers:
        max_tokens = 100 * W  # all layers SWA: memory must not depend on max_tokens either
    else:
        max_tokens = 4 * W
    cache = model.new_cache(1, max_tokens)
    for i in cfg.sliding_window_layers:
        assert cache.k[i].shape[2] == W and cache.v[i].shape[2] == W
    ids = ids_for(model, 3 * W, seed=3)
    model(ids[:, :W], cache=cache)
    after_one = cache.nbytes()
    for t in range(W, 3 * W):
        model(ids[:, t:t + 1], cache=cache)
    assert cache.nbytes() == after_one
    if len(cfg.sliding_window_layers) == cfg.num_hidden_layers:
        assert cache.nbytes() == model.new_cache(1, 2 * W).nbytes()


def padded_batch(model, lengths: list[int], seed: int) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    seqs = [ids_for(model, n, seed + i)[0] for i, n in enumerate(lengths)]
    T = max(lengths)
    ids = torch.full((len(seqs), T), 7, dtype=torch.long)  # pad id deliberately a real token id
    mask = torch.zeros(len(seqs), T, dtype=torch.long)
    for b, s in enumerate(seqs):
        ids[b, T - len(s):] = s
        mask[b, T - len(s):] = 1
    return seqs, ids, mask


def alone(model, seq: torch.Tensor, cont: torch.Tensor) -> torch.Tensor:
    """Logits of the last prompt token and each continuation token, one sequence by itself."""
    full = model(torch.cat([seq, cont])[None])[0]
    return full[len(seq) - 1:]


@pytest.mark.parametrize("chunk", [None, 3])
def test_left_padded_batch_equals_each_sequence_alone(model, chunk):
    W = window_of(model)
    lengths = [2 * W + 3, 4, W + 1]
    seqs, ids, mask = padded_batch(model, lengths, seed=20)
    n_decode = 2 * W + 2
    conts = [ids_for(model, n_decode, seed=40 + b)[0] for b in range(len(seqs))]
    cache = model.new_cache(len(seqs), max(lengths) + n_decode)
    T = ids.shape[1]
    step = chunk or T
    for s in range(0, T, step):  # early chunks are all pads for the short sequences
        out = model(ids[:, s:s + step], cache=cache, attention_mask=mask[:, s:s + step])
        assert torch.isfinite(out).all(), "pad positions must stay finite (they feed nothing)"
    assert cache.lengths.tolist() == lengths
    rows = [out[:, -1]]
    for t in range(n_decode):
        nxt = torch.stack([c[t] for c in conts])[:, None]
        rows.append(model(nxt, cache=cache)[:, -1])
    got = torch.stack(rows, dim=1)
    for b, seq in enumerate(seqs):
        assert close(got[b], alone(model, seq, conts[b])), f"sequence {b}"


def test_padded_forward_without_cache(model):
    seqs, ids, mask = padded_batch(model, [9, 3, 6], seed=60)
    out = model(ids, attention_mask=mask)
    T = ids.shape[1]
    for b, s in enumerate(seqs):
        assert close(out[b, T - len(s):], model(s[None])[0])
    assert torch.isfinite(out).all()


def test_select_keeps_sequences_right(model):
    W = window_of(model)
    lengths = [W + 2, 5, 2 * W]
    seqs, ids, mask = padded_batch(model, lengths, seed=70)
    n_decode = W + 4
    conts = [ids_for(model, n_decode, seed=80 + b)[0] for b in range(3)]
    cache = model.new_cache(3, max(lengths) + n_decode)
    out = model(ids, cache=cache, attention_mask=mask)
    rows = {b: [out[b, -1]] for b in range(3)}
    live = [0, 1, 2]
    for t in range(n_decode):
        if t == 2:
            live = [2, 0]  # drop sequence 1, reorder the rest
            cache.select(torch.tensor([2, 0]))
            assert cache.lengths.tolist() == [lengths[2] + 2, lengths[0] + 2]
        nxt = torch.stack([conts[b][t] for b in live])[:, None]
        logits = model(nxt, cache=cache)[:, -1]
        for row, b in enumerate(live):
            rows[b].append(logits[row])
    for b in (0, 2):
        assert close(torch.stack(rows[b]), alone(model, seqs[b], conts[b]))
    assert close(torch.stack(rows[1]), alone(model, seqs[1], conts[1][:2]))


def test_pad_in_decode_step_leaves_sequence_untouched(model):
    """A finished sequence kept in the batch with mask 0 does not advance or change."""
    seqs, ids, mask = padded_batch(model, [6, 4], seed=90)
    conts = [ids_for(model, 4, seed=95 + b)[0] for b in range(2)]
    cache = model.new_cache(2, 20)
    model(ids, cache=cache, attention_mask=mask)
    rows = []
    for t in range(4):
        step_mask = torch.tensor([[1], [1 if t != 1 else 0]])
        tok = torch.stack([conts[0][t], conts[1][t]])[:, None]
        rows.append(model(tok, cache=cache, attention_mask=step_mask)[:, -1])
    assert cache.lengths.tolist() == [6 + 4, 4 + 3]
    kept = torch.cat([conts[1][:1], conts[1][2:]])
    want = alone(model, seqs[1], kept)[1:]
    got = torch.stack([rows[0][1], rows[2][1], rows[3][1]])
    assert close(got, want)
    assert close(torch.stack([r[0] for r in rows]), alone(model, seqs[0], conts[0])[1:])


def test_cache_full_is_a_clear_error(model):
    cache = model.new_cache(1, 4)
    model(ids_for(model, 4, seed=1), cache=cache)
    with pytest.raises(CacheFullError, match="4 tokens"):
        model(ids_for(model, 1, seed=2), cache=cache)


def test_bad_inputs_are_named(model):
    cache = model.new_cache(2, 8)
    with pytest.raises(ValueError, match="cache holds 2"):
        model(ids_for(model, 3, seed=1), cache=cache)
    with pytest.raises(ValueError, match="attention_mask"):
        model(ids_for(model, 3, seed=1), attention_mask=torch.ones(1, 4))
    with pytest.raises(ValueError, match="token id"):
        model(torch.tensor([[model.config.vocab_size + 1]]))
    with pytest.raises(IndexError):
        cache.select([0, 2])


def test_bf16_cache_paths_agree(tmp_path):
    """In bf16 the cached paths compute the same per-token ops as a full forward, so chunked
    prefill, padded batches and decode stay within bf16 noise of it and pick the same tokens."""
    path = random_checkpoint(tmp_path, "m1-mini", seed=5)
    model = load_model(path, dtype="bfloat16")
    ids = ids_for(model, 30, seed=7)
    full = model(ids)
    cache = model.new_cache(1, 30)
    parts = [model(ids[:, s:s + 7], cache=cache) for s in range(0, 30, 7)]
    chunked = torch.cat(parts, dim=1)
    assert (chunked - full).abs().max().item() <= 5e-2
    assert (chunked.argmax(-1) == full.argmax(-1)).float().mean().item() >= 0.9
    seqs, pids, mask = padded_batch(model, [12, 5], seed=8)
    out = model(pids, cache=model.new_cache(2, 12), attention_mask=mask)
    for b, s in enumerate(seqs):
        alone_logits = model(s[None])[0, -1]
        assert (out[b, -1] - alone_logits).abs().max().item() <= 5e-2


def test_cache_smaller_than_window(model):
    """max_tokens below the window: the ring is max_tokens long and never wraps."""
    W = window_of(model)
    n = max(2, W - 1)
    ids = ids_for(model, n, seed=31)
    cache = model.new_cache(1, n)
    parts = [model(ids[:, :1], cache=cache)] + [model(ids[:, t:t + 2], cache=cache) for t in range(1, n, 2)]
    assert close(torch.cat(parts, dim=1), model(ids))


def test_right_padding_is_also_honoured(model):
    """Pads anywhere (not only on the left) are skipped by positions, conv and attention."""
    seqs = [ids_for(model, n, seed=50 + n)[0] for n in (7, 4)]
    ids = torch.full((2, 7), 3, dtype=torch.long)
    mask = torch.zeros(2, 7, dtype=torch.long)
    ids[0], mask[0] = seqs[0], 1
    ids[1, :2], ids[1, 4:6] = seqs[1][:2], seqs[1][2:]  # real, pad, pad, real, real... with a hole
    mask[1, :2], mask[1, 4:6] = 1, 1
    want = model(seqs[1][None])[0]
    out = model(ids, attention_mask=mask)
    assert close(out[1, [0, 1, 4, 5]], want)
    cache = model.new_cache(2, 8)
    out_c = model(ids, cache=cache, attention_mask=mask)
    assert close(out_c[1, [0, 1, 4, 5]], want)
    assert cache.lengths.tolist() == [7, 4]
