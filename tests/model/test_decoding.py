"""The static decode step (model/decoding.py) computes what the ordinary forward computes.

On CPU it runs graph-free (the fallback a GPU without graphs uses, and the same static cache
and masks); on CUDA it is captured once and replayed as a CUDA graph. Checked on every test
geometry: sequences of different lengths (left-padded prefill), decoding far past the window,
select() between steps, a new cache for each answer, the generator's greedy text, the official
reference vectors, and a full cache.
"""

from __future__ import annotations

import pytest
import torch

from model import Generator, load_model
from model.cache import CacheFullError
from model.decoding import StaticDecoder, decoder_for
from tests.model.conftest import load_random_model, on_devices
from tests.model.random_checkpoint import GEOMETRIES
from tests.model.test_reference import REF

ATOL = 2e-4


@pytest.fixture(scope="module", params=on_devices(*sorted(GEOMETRIES)))
def model(request, tmp_path_factory):
    return load_random_model(request, tmp_path_factory, seed=5, max_position_embeddings=512)


def decoder(model) -> StaticDecoder:
    return StaticDecoder(model, graphs=model.device.type == "cuda")


def window_of(model) -> int:
    cfg = model.config
    return cfg.sliding_window if cfg.sliding_window_layers else 8


def test_static_decode_equals_forward_far_past_the_window(model):
    """Two sequences of different lengths (left-padded prefill), then 4 windows of decoding."""
    W = window_of(model)
    g = torch.Generator().manual_seed(1)
    n = 4 * W + 5
    ids = torch.randint(0, model.config.vocab_size, (2, 6 + n), generator=g)
    mask = torch.ones(2, 6, dtype=torch.long)
    mask[1, :2] = 0  # sequence 1 is two tokens shorter: positions differ per sequence
    dec = decoder(model)
    ref_cache, fast_cache = model.new_cache(2, 6 + n), model.new_cache(2, 6 + n)
    model(ids[:, :6], cache=ref_cache, attention_mask=mask)
    model(ids[:, :6], cache=fast_cache, attention_mask=mask)
    worst = 0.0
    for t in range(6, 6 + n):
        want = model(ids[:, t:t + 1], cache=ref_cache)[:, -1]
        got = dec.step(ids[:, t:t + 1].to(model.device), fast_cache)
        worst = max(worst, (want - got).abs().max().item())
    assert worst <= ATOL
    assert fast_cache.host_lengths == ref_cache.host_lengths == [6 + n, 4 + n]
    assert fast_cache.lengths.tolist() == [6 + n, 4 + n]


def test_select_between_steps_and_a_new_cache_each_answer(model):
    W = window_of(model)
    g = torch.Generator().manual_seed(2)
    V = model.config.vocab_size
    dec = decoder(model)
    for answer in range(2):  # the second answer brings a new cache: a new capture, right values
        ids = torch.randint(0, V, (3, 2 * W + 8), generator=g)
        ref, fast = model.new_cache(3, ids.shape[1]), model.new_cache(3, ids.shape[1])
        model(ids[:, :4], cache=ref)
        model(ids[:, :4], cache=fast)
        rows = [0, 1, 2]
        for t in range(4, ids.shape[1]):
            if t == W + 3:  # sequence 1 finishes
                rows = [0, 2]
                ref.select([0, 2])
                fast.select([0, 2])
            step = ids[rows, t:t + 1]
            want = model(step, cache=ref)[:, -1]
            got = dec.step(step.to(model.device), fast)
            assert (want - got).abs().max().item() <= ATOL, f"answer {answer}, token {t}"


def test_full_cache_is_a_clear_error(model):
    dec = decoder(model)
    cache = model.new_cache(1, 3)
    model(torch.tensor([[1, 2, 3]]), cache=cache)
    with pytest.raises(CacheFullError, match="3 tokens"):
        dec.step(torch.tensor([[4]], device=model.device), cache)


def test_generator_with_the_decoder_writes_the_same_tokens(model, tiny_tokenizer):
    prompt = list(range(1, 12))
    params = dict(max_new_tokens=3 * window_of(model), temperature=0.0)
    from model import GenerationParams

    plain = Generator(model, tiny_tokenizer).generate(prompt, GenerationParams(**params))
    fast = Generator(model, tiny_tokenizer, decoder=decoder(model)).generate(prompt, GenerationParams(**params))
    assert fast.token_ids == plain.token_ids
    batch = Generator(model, tiny_tokenizer, decoder=decoder(model)).generate_batch(
        [prompt, prompt[:5]], GenerationParams(**params))
    assert batch[0].token_ids == plain.token_ids


@pytest.mark.parametrize("device", on_devices())
@pytest.mark.parametrize("dtype,tag", [("float32", "fp32"), ("bfloat16", "bf16")])
def test_official_greedy_ids_through_the_decoder(dtype, tag, device):
    """The reference checkpoint's greedy continuation, decoded by the static step (CUDA graphs
    on a GPU): identical ids in fp32 and bf16."""
    from safetensors.torch import load_file

    expected = load_file(REF / "expected.safetensors")
    model = load_model(REF / "checkpoint", dtype=dtype, device=device[1])
    want = expected[f"{tag}.greedy_ids"][0].tolist()
    prompt = expected["prompt"][:1, :6]
    dec = decoder(model)
    cache = model.new_cache(1, prompt.shape[1] + len(want) + 1)
    logits = model(prompt, cache=cache, last_only=True)[:, -1]
    got = []
    for _ in want:
        nxt = logits.argmax(-1, keepdim=True)
        got.append(int(nxt.item()))
        logits = dec.step(nxt, cache)
    assert got == want


def test_decoder_for_picks_by_device(model):
    dec = decoder_for(model, "auto")
    if model.device.type == "cuda":
        assert dec is not None and dec.graphs
    else:
        assert dec is None  # CPU decoding runs on the C kernels
    assert decoder_for(model, "off") is None
    assert not decoder_for(model, "eager").graphs


@pytest.fixture(scope="module")
def tiny_tokenizer():
    """Generation needs a tokenizer only for stop ids and text: a stand-in with no EOS."""

    class Tok:
        eos_ids: list[int] = []
        pad_id = 0
        context_length = 10_000
        source = ""

        def decode(self, ids, skip_special_tokens=True):
            return " ".join(map(str, ids))

    return Tok()


def test_compiled_steps_get_a_handful_of_cache_sizes(model):
    """A compiled step is specialised to its cache's shape, so the generator rounds cache sizes
    up to powers of two (never below what the generation needs, never past the context unless
    the generation itself needs more); graphs and the eager step keep the exact size."""
    compiled = StaticDecoder.__new__(StaticDecoder)
    compiled.compiled = True
    sizes = {compiled.cache_tokens(n, 8192) for n in range(1, 8193, 37)}
    assert sizes == {512, 1024, 2048, 4096, 8192}
    assert compiled.cache_tokens(5000, 6000) == 6000
    assert compiled.cache_tokens(7000, 6000) == 7000
    assert StaticDecoder(model, graphs=False).cache_tokens(300, 8192) == 300


def test_generator_allocates_the_decoders_cache_size(model, tiny_tokenizer, monkeypatch):
    from model import GenerationParams

    dec = decoder(model)
    monkeypatch.setattr(dec, "cache_tokens", lambda need, limit: need + 40)
    made = []
    real = model.new_cache
    monkeypatch.setattr(model, "new_cache", lambda b, n, *a, **k: made.append(n) or real(b, n, *a, **k))
    out = Generator(model, tiny_tokenizer, decoder=dec).generate(list(range(1, 6)), GenerationParams(max_new_tokens=4, temperature=0.0))
    assert made == [5 + 4 + 40] and len(out.token_ids) == 4
