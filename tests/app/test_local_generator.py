"""The local generator on the real M1 runtime with the demo checkpoint (SmolLM2-135M)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from app import Assistant
from app.generators.base import GenerationError, GenerationRequest
from app.generators.local import LocalGenerator, shared_runtime
from app.settings import load_settings

QUESTION = "What HbA1c target is recommended for adults with type 2 diabetes?"


@pytest.fixture(scope="module")
def models_dir(demo_checkpoint: Path) -> Path:
    """The session's imported demo checkpoint lives in `<models_dir>/smollm2-135m-instruct`."""
    return demo_checkpoint.parent


def stream_answer(assistant: Assistant, mode: str):
    pieces, answer = [], None
    for item in assistant.stream(QUESTION, mode=mode):
        if isinstance(item, str):
            pieces.append(item)
        else:
            answer = item
    return pieces, answer


def test_demo_model_answers_plainly_with_its_own_template_and_is_labelled(app_data, models_dir):
    # Plain mode keeps the prompt short, so this is quick on a small CPU.
    assistant = Assistant(generator="local", models_dir=models_dir, context_tokens=900, max_new_tokens=6)
    pieces, answer = stream_answer(assistant, "plain")
    assert answer is not None and answer.generator == "local" and answer.mode == "plain"
    assert len(pieces) >= 2 and "".join(pieces).strip() == answer.text
    assert answer.warnings[0].code == "demo_model" and "demo model" in answer.model_label
    assert "plain_mode" in [w.code for w in answer.warnings] and answer.citations == []
    gen = assistant.generator("local")
    assert gen.context_tokens == 900
    rendered = gen.render_chat([{"role": "user", "content": "hi"}])
    assert "<|im_start|>user" in rendered  # SmolLM2's own chat template
    info = assistant.info()
    assert info.generator.loaded and info.demo_model
    assert "CPU decode kernels " in info.generator.detail  # `m1e info` says whether decoding is fast


def test_demo_model_answers_from_evidence(app_data, models_dir):
    assistant = Assistant(generator="local", models_dir=models_dir, context_tokens=900, max_new_tokens=8)
    pieces, answer = stream_answer(assistant, "evidence")
    assert answer is not None and answer.generator == "local" and answer.mode == "evidence"
    assert len(pieces) >= 2 and "".join(pieces).strip() == answer.text
    assert answer.evidence and answer.checks is not None  # E1..En as given, and checked
    assert answer.warnings[0].code == "demo_model"


def test_model_is_loaded_once_and_shared(models_dir):
    settings = load_settings(generator="local", models_dir=models_dir)
    first = shared_runtime(settings)
    results = []
    threads = [threading.Thread(target=lambda: results.append(shared_runtime(settings))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r is first for r in results)


def test_cancel_stops_the_local_stream(models_dir):
    gen = LocalGenerator(load_settings(generator="local", models_dir=models_dir))
    cancel = threading.Event()
    request = GenerationRequest(
        question="q", mode="plain", evidence=[], max_new_tokens=64,
        messages=[{"role": "user", "content": "Count from one to fifty in words."}],
    )
    pieces = []
    for piece in gen.stream(request, cancel):
        pieces.append(piece)
        if len(pieces) == 2:
            cancel.set()
    assert 2 <= len(pieces) <= 3
    assert request.finish_reason == "cancelled"


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    gen = LocalGenerator(load_settings(generator="local", checkpoint=tmp_path / "nope"))
    with pytest.raises(GenerationError, match="nope: no config.json"):
        gen.count_tokens("x")


def test_decode_setting_picks_the_decode_path_and_keeps_the_answer(app_data, models_dir):
    """`decode = "eager"` runs decode steps through model/decoding.py's static step (what a GPU
    replays as a CUDA graph): the same greedy tokens as the ordinary path, and `info` says so."""
    plain = Assistant(generator="local", models_dir=models_dir, context_tokens=900, max_new_tokens=8)
    static = Assistant(generator="local", models_dir=models_dir, context_tokens=900, max_new_tokens=8,
                       decode="eager")
    a = plain.ask(QUESTION, mode="plain")
    b = static.ask(QUESTION, mode="plain")
    assert b.text == a.text
    assert "decoding with static eager" in static.info().generator.detail
    assert shared_runtime(static.settings).generator.decoder is not None
    assert shared_runtime(plain.settings).generator.decoder is None  # CPU: the C kernels decode
    with pytest.raises(Exception, match="decode"):
        load_settings(decode="sometimes")


def test_stop_ends_the_decode_thread_within_a_second_and_keeps_the_partial_text(models_dir):
    """Issue 11: after Stop the server kept a core busy ~45 s. The decode loop checks the cancel
    event per token, so a worker consuming the stream returns within a second of Stop, with the
    tokens written so far kept."""
    gen = LocalGenerator(load_settings(generator="local", models_dir=models_dir))
    request = GenerationRequest(
        question="q", mode="plain", evidence=[], max_new_tokens=400,
        messages=[{"role": "user", "content": "Count from one to two hundred in words."}],
    )
    cancel, started = threading.Event(), threading.Event()
    pieces: list[str] = []

    def consume() -> None:
        for piece in gen.stream(request, cancel):
            pieces.append(piece)
            started.set()

    worker = threading.Thread(target=consume, daemon=True)
    worker.start()
    assert started.wait(60), "no token within 60 s"
    cancel.set()
    worker.join(1.0)
    assert not worker.is_alive(), "the decode loop still ran 1 s after Stop"
    assert pieces and request.finish_reason == "cancelled"
    assert len(pieces) < 400
