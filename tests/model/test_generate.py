"""Generation on a tiny random Llama (imported into the M1 layout) with the SmolLM2 tokenizer:
greedy is argmax, sampling knobs do what they say, stops and streaming are exact, batches and
threads change nothing."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch

from model.generate import GenerationParams, GenerationResult, Generator, IncrementalText
from model.loading import load_model
from model.sampling import apply_repetition_penalty, choose_tokens, filter_top_k, filter_top_p, sampling_distribution
from model.tokenizer import load_tokenizer

PROMPTS = ["The patient presented with", "Guidelines recommend that adults with hypertension",
           "Q: What is the first-line drug for type 2 diabetes?\nA:"]


@pytest.fixture(scope="module")
def gen(tiny_checkpoint: Path) -> Generator:
    return Generator(load_model(tiny_checkpoint, dtype="float32"), load_tokenizer(tiny_checkpoint))


def greedy(n: int, **kw) -> GenerationParams:
    return GenerationParams(max_new_tokens=n, temperature=0.0, **kw)


def test_greedy_is_argmax_of_full_forwards(gen: Generator):
    ids = gen.tokenizer.encode(PROMPTS[0])
    result = gen.generate(PROMPTS[0], greedy(12))
    seq = list(ids)
    for _ in range(12):
        logits = gen.model(torch.tensor([seq]))  # no cache: recompute everything
        seq.append(int(logits[0, -1].argmax()))
    assert result.token_ids == seq[len(ids):]
    assert result.finish_reason == "length"
    assert result.prompt_tokens == len(ids) and result.completion_tokens == 12
    assert result.text == gen.tokenizer.decode(result.token_ids, skip_special_tokens=True)


def test_prompt_forms_agree(gen: Generator):
    messages = [{"role": "user", "content": "Hello"}]
    by_messages = gen.generate(messages, greedy(5))
    by_text = gen.generate(gen.tokenizer.render_chat(messages), greedy(5))
    by_ids = gen.generate(gen.tokenizer.encode_chat(messages), greedy(5))
    assert by_messages == by_text == by_ids


def test_chunked_prefill_changes_nothing(tiny_checkpoint: Path, gen: Generator):
    small_chunks = Generator(gen.model, gen.tokenizer, prefill_chunk=3)
    assert small_chunks.generate(PROMPTS[2], greedy(8)) == gen.generate(PROMPTS[2], greedy(8))


def test_stop_token_ids(gen: Generator):
    full = gen.generate(PROMPTS[1], greedy(16))
    stop = full.token_ids[5]
    first = full.token_ids.index(stop)
    result = gen.generate(PROMPTS[1], greedy(16, stop_token_ids=[stop]))
    assert result.finish_reason == "stop"
    assert result.token_ids == full.token_ids[:first + 1]  # the stop token is reported, not shown
    assert result.text == gen.tokenizer.decode(full.token_ids[:first], skip_special_tokens=True)


def test_eos_from_checkpoint_stops(gen: Generator, tiny_checkpoint: Path):
    full = gen.generate(PROMPTS[0], greedy(10))
    eos = full.token_ids[3]
    tok = load_tokenizer(tiny_checkpoint)
    tok.eos_ids = [eos]
    result = Generator(gen.model, tok).generate(PROMPTS[0], greedy(10))
    assert result.finish_reason == "stop" and result.token_ids[-1] == eos
    assert len(result.token_ids) == full.token_ids.index(eos) + 1


def test_stop_strings_and_streaming(gen: Generator):
    full = gen.generate(PROMPTS[0], greedy(24))
    text = full.text
    assert len(text) > 12
    stop = text[len(text) // 2: len(text) // 2 + 3]
    params = greedy(24, stop_strings=[stop, "\x00never"])
    stream = gen.stream(PROMPTS[0], params)
    pieces = list(stream)
    result = stream.result
    assert result is not None and result.finish_reason == "stop"
    assert result.text == text[:text.index(stop)]
    assert "".join(pieces) == result.text
    assert all(stop not in p for p in pieces)


def test_streaming_pieces_concatenate_to_text(gen: Generator):
    params = GenerationParams(max_new_tokens=40, temperature=1.0, seed=11)
    stream = gen.stream(PROMPTS[2], params)
    pieces = list(stream)
    assert stream.result is not None
    assert "".join(pieces) == stream.result.text
    assert stream.result == gen.generate(PROMPTS[2], params)


def test_incremental_text_never_splits_characters(gen: Generator):
    tok = gen.tokenizer
    text = "Dose 5 mg 🩺💊 高血压 café — done"
    ids = tok.encode(text)
    assert len(ids) > len(text.split())  # multi-byte characters span several tokens
    inc = IncrementalText(tok, stop_strings=[])
    pieces = [inc.push(i) for i in ids]
    pieces.append(inc.flush())
    assert "".join(pieces) == text
    assert not any("\ufffd" in p for p in pieces)

    held = IncrementalText(tok, stop_strings=["mg 🩺X"])  # a prefix of it appears, the whole never
    pieces = []
    for i in ids:
        pieces.append(held.push(i))
        shown = "".join(pieces)
        assert not shown.endswith(("m", "mg", "mg ", "mg 🩺")), "text that may start a stop string was shown"
    pieces.append(held.flush())
    assert "".join(pieces) == text and not held.stopped


def test_max_new_tokens_and_context_limit(gen: Generator):
    assert gen.generate(PROMPTS[0], greedy(3)).completion_tokens == 3
    long_prompt = [5] * (gen.context_length - 2)
    result = gen.generate(long_prompt, greedy(50))
    assert result.completion_tokens == 2 and result.finish_reason == "length"
    with pytest.raises(ValueError, match="context"):
        gen.generate([5] * gen.context_length, greedy(5))
    with pytest.raises(ValueError, match="empty"):
        gen.generate("", greedy(5))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        gen.generate([10**9], greedy(5))


def test_seed_reproducibility(gen: Generator):
    params = GenerationParams(max_new_tokens=16, temperature=1.0, seed=7)
    a = gen.generate(PROMPTS[1], params)
    b = gen.generate(PROMPTS[1], params)
    c = gen.generate(PROMPTS[1], params.model_copy(update={"seed": 8}))
    assert a == b
    assert a.token_ids != c.token_ids
    assert a.token_ids != gen.generate(PROMPTS[1], greedy(16)).token_ids


def test_top_k_and_top_p_restrict_support():
    torch.manual_seed(0)
    logits = torch.randn(1, 50)
    order = torch.argsort(logits[0], descending=True)
    gens = [torch.Generator().manual_seed(0)]

    draws = {int(choose_tokens(logits, temperature=1.5, top_k=4, top_p=1.0, repetition_penalty=1.0, seen=None,
                               generators=gens)[0]) for _ in range(400)}
    assert draws <= set(order[:4].tolist()) and len(draws) > 1

    probs = torch.softmax(logits[0], -1)[order]
    nucleus = int((torch.cumsum(probs, 0) < 0.8).sum()) + 1  # smallest prefix reaching 0.8
    draws = {int(choose_tokens(logits, temperature=1.0, top_k=0, top_p=0.8, repetition_penalty=1.0, seen=None,
                               generators=gens)[0]) for _ in range(400)}
    assert draws <= set(order[:nucleus].tolist()) and len(draws) > 1 and nucleus < 40
    kept = sampling_distribution(logits, 1.0, top_p=0.8)[0] > 0
    assert set(torch.nonzero(kept).flatten().tolist()) == set(order[:nucleus].tolist())

    assert torch.isinf(filter_top_k(logits, 4)).sum() == 46
    assert torch.isfinite(filter_top_p(logits, 1e-9)).sum() == 1  # always at least the best token


def test_top_k_one_is_greedy(gen: Generator):
    sampled = gen.generate(PROMPTS[2], GenerationParams(max_new_tokens=8, temperature=0.7, top_k=1, seed=3))
    assert sampled.token_ids == gen.generate(PROMPTS[2], greedy(8)).token_ids


def test_repetition_penalty_formula_and_effect(gen: Generator):
    logits = torch.tensor([[2.0, -1.0, 0.5, 3.0]])
    seen = torch.tensor([[True, True, False, False]])
    out = apply_repetition_penalty(logits, seen, 2.0)
    assert out.tolist() == [[1.0, -2.0, 0.5, 3.0]]
    assert torch.equal(apply_repetition_penalty(logits, seen, 1.0), logits)

    prompt_ids = gen.tokenizer.encode(PROMPTS[0])
    plain = gen.generate(PROMPTS[0], greedy(20))
    penalised = gen.generate(PROMPTS[0], greedy(20, repetition_penalty=1e6))
    assert penalised.token_ids != plain.token_ids
    tokens = penalised.token_ids
    assert len(set(tokens)) == len(tokens) and not set(tokens) & set(prompt_ids)


def test_batch_equals_one_by_one(gen: Generator):
    probe = gen.generate(PROMPTS[0], greedy(12))
    params = greedy(12, stop_token_ids=[probe.token_ids[4]])  # one row stops early, leaves the batch
    small_chunks = Generator(gen.model, gen.tokenizer, prefill_chunk=4)  # padded chunked prefill
    alone = [gen.generate(p, params) for p in PROMPTS]
    batch = small_chunks.generate_batch(PROMPTS, params)
    assert batch == alone
    assert any(r.finish_reason == "stop" for r in alone) and any(r.finish_reason == "length" for r in alone)
    assert len({r.prompt_tokens for r in alone}) > 1  # prompts of different lengths: left padding used

    sampled = GenerationParams(max_new_tokens=10, temperature=0.9, top_p=0.95, seed=5)
    assert gen.generate_batch(PROMPTS, sampled) == [gen.generate(p, sampled) for p in PROMPTS]
    assert gen.generate_batch([], params) == []

    # Chat prompts hold <|im_end|>, which is also the pad id: padding must not unmark it as seen.
    chats = [[{"role": "user", "content": p}] for p in PROMPTS]
    penalised = greedy(8, repetition_penalty=1.3)
    assert gen.generate_batch(chats, penalised) == [gen.generate(c, penalised) for c in chats]


def test_cancel_stops_promptly(gen: Generator):
    cancel = threading.Event()
    stream = gen.stream(PROMPTS[0], GenerationParams(max_new_tokens=200, temperature=1.0, seed=1), cancel)
    seen = 0
    for _ in stream:
        seen += 1
        if seen == 3:
            cancel.set()
    result = stream.result
    assert result is not None and result.finish_reason == "cancelled"
    assert result.completion_tokens <= 4  # at most the token in flight when the flag was set

    cancel = threading.Event()
    cancel.set()
    before = gen.generate(PROMPTS[0], greedy(50), cancel)
    assert before.finish_reason == "cancelled" and before.completion_tokens == 0 and before.text == ""
    assert gen.generate_batch(PROMPTS, greedy(5), cancel)[1].finish_reason == "cancelled"


def test_threads_share_one_model(gen: Generator):
    params = [greedy(10), GenerationParams(max_new_tokens=10, temperature=1.0, seed=4)]
    jobs = [(p, q) for p in PROMPTS[:2] for q in params]
    expected = [gen.generate(p, q) for p, q in jobs]
    results: list[GenerationResult | None] = [None] * len(jobs)
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            results[k] = gen.generate(*jobs[k])
        except BaseException as e:  # noqa: BLE001 - surfaced below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert results == expected


def test_params_from_checkpoint(tmp_path: Path, gen: Generator, tiny_checkpoint: Path):
    import json

    assert GenerationParams.from_checkpoint(tmp_path) == GenerationParams()
    (tmp_path / "generation_config.json").write_text(json.dumps(
        {"do_sample": True, "temperature": 0.3, "top_p": 0.9, "repetition_penalty": 1.05, "eos_token_id": 2}))
    params = GenerationParams.from_checkpoint(tmp_path, max_new_tokens=99, top_p=None)
    assert (params.temperature, params.top_k, params.top_p, params.repetition_penalty, params.max_new_tokens) == \
        (0.3, 50, 0.9, 1.05, 99)
    (tmp_path / "generation_config.json").write_text(json.dumps({"temperature": 0.3}))  # no do_sample: greedy
    assert GenerationParams.from_checkpoint(tmp_path).temperature == 0.0
    tok = load_tokenizer(tiny_checkpoint)
    tok.source = str(tmp_path)  # a checkpoint whose generation_config.json asks for greedy decoding
    assert Generator(gen.model, tok).defaults == GenerationParams.from_checkpoint(tmp_path)
    (tmp_path / "generation_config.json").write_text(json.dumps({"do_sample": True, "top_k": 7}))
    assert Generator(gen.model, tok).defaults.top_k == 7
    with pytest.raises(ValueError):
        GenerationParams(stop_strings=[""])
    with pytest.raises(ValueError):
        GenerationParams(top_p=0.0)
