"""The OpenAI-compatible generator against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import re
import socket
import threading
import time

import pytest

from app.generators.base import GenerationError, GenerationRequest
from app.generators.openai import OpenAIGenerator, chat_completions_url
from app.settings import load_settings
from tests import hostile_inputs
from tests.app.openai_server import FakeChatServer

MESSAGES = [{"role": "system", "content": "Answer from evidence."}, {"role": "user", "content": "Question?"}]


def request() -> GenerationRequest:
    return GenerationRequest(question="Question?", mode="evidence", evidence=[], messages=MESSAGES, max_new_tokens=32)


def generator(url: str, **overrides) -> OpenAIGenerator:
    return OpenAIGenerator(load_settings(server_url=url, server_timeout_s=overrides.pop("timeout", 5.0), **overrides))


def test_streams_server_sent_events_and_sends_the_chat():
    with FakeChatServer(reply="Metformin is first line [E1].") as server:
        gen = generator(server.url, server_api_key="secret", server_model="m1-test")
        pieces = list(gen.stream(request()))
    assert len(pieces) >= 4  # word by word, not one blob
    assert "".join(pieces).strip() == "Metformin is first line [E1]."
    sent = server.requests[0]
    assert sent["body"]["stream"] is True and sent["body"]["messages"] == MESSAGES
    assert sent["body"]["model"] == "m1-test" and sent["body"]["max_tokens"] == 32
    assert sent["auth"] == "Bearer secret"


def test_non_streaming_json_answer():
    with FakeChatServer(reply="A plain JSON answer [E2].") as server:
        gen = generator(server.url, server_stream=False)
        req = request()
        assert "".join(gen.stream(req)) == "A plain JSON answer [E2]."
        assert req.finish_reason == "length"
        assert server.requests[0]["body"]["stream"] is False


def test_retries_after_a_server_error_then_succeeds():
    with FakeChatServer(reply="Recovered.", fail_first=1) as server:
        gen = generator(server.url, server_retries=2)
        assert "".join(gen.stream(request())).strip() == "Recovered."
        assert len(server.requests) == 2


def test_gives_up_after_the_retries_with_a_clear_error():
    with FakeChatServer(fail_first=5) as server:
        gen = generator(server.url, server_retries=1)
        with pytest.raises(GenerationError, match="cannot reach the generation server at .*HTTP 500"):
            list(gen.stream(request()))
        assert len(server.requests) == 2


def test_down_server_names_the_url():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    gen = generator(url, server_retries=1)
    with pytest.raises(GenerationError, match=f"cannot reach the generation server at {url}/chat/completions"):
        list(gen.stream(request()))


def test_slow_server_times_out_with_a_clear_error():
    with FakeChatServer(delay_s=2.0) as server:
        gen = generator(server.url, timeout=0.5, server_retries=0)
        started = time.monotonic()
        with pytest.raises(GenerationError, match=r"did not answer within 0\.5 s"):
            list(gen.stream(request()))
        assert time.monotonic() - started < 2.0


def test_cancel_stops_the_stream():
    reply = " ".join(f"word{i}" for i in range(200))
    with FakeChatServer(reply=reply, chunk_delay_s=0.01) as server:
        gen = generator(server.url)
        cancel = threading.Event()
        pieces = []
        for piece in gen.stream(request(), cancel):
            pieces.append(piece)
            if len(pieces) == 3:
                cancel.set()
        assert len(pieces) == 3


def test_url_forms():
    assert chat_completions_url("http://h:8000/v1") == "http://h:8000/v1/chat/completions"
    assert chat_completions_url("http://h:8000/") == "http://h:8000/v1/chat/completions"
    assert chat_completions_url("http://h/v1/chat/completions") == "http://h/v1/chat/completions"


@pytest.mark.parametrize("case", hostile_inputs.params("server"))
def test_misbehaving_server_ends_in_time_and_is_flagged(case):
    """Issue 13 items 2-3: a whole-answer deadline, max_new_tokens counted here, a cut stream flagged."""
    with FakeChatServer(reply="Metformin is first line for most adults [E1].", misbehave=case.build) as server:
        gen = generator(server.url, server_deadline_s=2.0, server_retries=0)
        req = request()
        started = time.monotonic()
        pieces: list[str] = []
        try:
            for piece in gen.stream(req):
                pieces.append(piece)
            error = None
        except GenerationError as exc:
            error = str(exc)
        elapsed = time.monotonic() - started
    assert elapsed < 2.0 + 1.0, f"{case.name} took {elapsed:.1f} s past a 2 s deadline"
    if case.expect in ("deadline", "length", "incomplete"):
        assert error is None and pieces, error
        assert req.finish_reason == case.expect
        assert len(pieces) <= req.max_new_tokens
        if case.expect != "length":
            assert req.problem and "incomplete" in req.problem  # becomes a warning on the answer
    else:
        assert error is not None and re.search(case.expect, error), error


def test_a_cut_stream_is_a_warning_on_the_answer(app_data, monkeypatch):
    """Through the Assistant: the partial text comes back flagged, never as a normal answer."""
    from app import Assistant

    with FakeChatServer(reply="Metformin is first line [E1].", misbehave="cut_without_done") as server:
        answer = Assistant(generator="openai", server_url=server.url, server_retries=0).ask(
            "What is first-line therapy for type 2 diabetes?"
        )
    assert answer.text
    assert any("stopped sending before the end of the answer" in w.message for w in answer.warnings)
