"""Any OpenAI-compatible chat server (e.g. vLLM serving Baichuan-M1-14B-Instruct) as a generator.

Streams `/v1/chat/completions` server-sent events; retries with backoff on connection errors
and 5xx answers before anything was streamed; reports a down or slow server in one line.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx

from app.generators.base import AnswerGenerator, GenerationError, GenerationRequest

# Baichuan-M1-14B's context window; `context_tokens` in settings can lower it for other models.
DEFAULT_CONTEXT_TOKENS = 32768
BACKOFF_S = 0.5


class _Retryable(Exception):
    pass


def chat_completions_url(server_url: str) -> str:
    base = server_url.rstrip("/")
    if base.endswith("/chat/completions"):
        return base
    if base.endswith("/v1"):
        return base + "/chat/completions"
    return base + "/v1/chat/completions"


class OpenAIGenerator(AnswerGenerator):
    name = "openai"

    def __init__(self, settings, transport: httpx.BaseTransport | None = None) -> None:  # type: ignore[no-untyped-def]
        self.settings = settings
        self.url = chat_completions_url(settings.server_url)
        self._transport = transport

    @property
    def label(self) -> str:
        return f"{self.settings.server_model} via {self.settings.server_url}"

    @property
    def context_tokens(self) -> int:
        return int(self.settings.context_tokens or DEFAULT_CONTEXT_TOKENS)

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream" if self.settings.server_stream else "application/json"}
        if self.settings.server_api_key:
            headers["Authorization"] = f"Bearer {self.settings.server_api_key}"
        return headers

    def _body(self, request: GenerationRequest) -> dict[str, Any]:
        return {
            "model": self.settings.server_model,
            "messages": request.messages,
            "max_tokens": request.max_new_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "stream": bool(self.settings.server_stream),
        }

    def stream(self, request: GenerationRequest, cancel: threading.Event | None = None) -> Iterator[str]:
        """Pieces of the answer, within `server_deadline_s` for the whole answer and at most
        `max_new_tokens` pieces counted here (a server may ignore `max_tokens`)."""
        timeout_s = float(self.settings.server_timeout_s)
        budget = _Budget(float(self.settings.server_deadline_s), request.max_new_tokens)
        attempts = int(self.settings.server_retries) + 1
        last_problem = ""
        with httpx.Client(transport=self._transport, trust_env=False) as client:
            for attempt in range(attempts):
                if attempt:
                    if _wait(BACKOFF_S * 2 ** (attempt - 1), cancel, budget):
                        return
                streamed = False
                try:
                    for piece in self._one_attempt(client, request, cancel, budget):
                        streamed = True
                        yield piece
                    return
                except _Retryable as exc:
                    last_problem = str(exc)
                except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError) as exc:
                    last_problem = str(exc) or type(exc).__name__
                except httpx.TimeoutException as exc:
                    if budget.expired():
                        self._out_of_time(request, streamed)
                        return
                    raise GenerationError(
                        f"the generation server at {self.url} did not answer within {timeout_s:g} s"
                    ) from exc
                except httpx.HTTPError as exc:
                    raise GenerationError(f"generation server at {self.url}: {exc}") from exc
                if streamed:  # half an answer cannot be retried without repeating it
                    _flag_incomplete(request, f"the connection broke ({last_problem})")
                    return
                if budget.expired():
                    self._out_of_time(request, streamed)
                    return
        raise GenerationError(
            f"cannot reach the generation server at {self.url} "
            f"({attempts} attempt{'s' if attempts > 1 else ''}; last: {last_problem})"
        )

    def _out_of_time(self, request: GenerationRequest, streamed: bool) -> None:
        """The whole-answer deadline passed: a partial answer is flagged, no answer is an error."""
        deadline = float(self.settings.server_deadline_s)
        if not streamed:
            raise GenerationError(
                f"the generation server at {self.url} gave no answer within {deadline:g} s (server_deadline_s)"
            )
        request.finish_reason = "deadline"
        request.problem = (
            f"The generation server did not finish the answer within {deadline:g} s (server_deadline_s); "
            "the answer was stopped there and may be incomplete."
        )

    def _one_attempt(
        self, client: httpx.Client, request: GenerationRequest, cancel: threading.Event | None, budget: "_Budget"
    ) -> Iterator[str]:
        timeout = budget.timeout(float(self.settings.server_timeout_s))
        with client.stream(
            "POST", self.url, json=self._body(request), headers=self._headers(), timeout=timeout
        ) as response:
            if response.status_code >= 500:
                raise _Retryable(f"HTTP {response.status_code}")
            if response.status_code >= 400:
                detail = _head(response, 300).decode("utf-8", "replace")
                raise GenerationError(
                    f"the generation server at {self.url} refused the request: HTTP {response.status_code} {detail}"
                )
            if "text/event-stream" in response.headers.get("content-type", ""):
                yield from self._events(response, request, cancel, budget)
            else:
                yield _message_content(_read_bounded(response, budget, self.url), self.url, request)

    def _events(
        self, response: httpx.Response, request: GenerationRequest, cancel: threading.Event | None, budget: "_Budget"
    ) -> Iterator[str]:
        """SSE pieces until [DONE]; the deadline and the piece count are checked on every network
        read, so keep-alive comments or a byte at a time cannot hold the answer open."""
        pending = b""
        for data in response.iter_bytes():
            if cancel is not None and cancel.is_set():
                return
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                piece = _sse_piece(line.decode("utf-8", "replace"), self.url, request)
                if piece is None:
                    return
                if piece:
                    yield piece
                    if budget.spend(piece):
                        request.finish_reason = "length"  # counted here: the server ignored max_tokens
                        return
            if budget.expired():
                raise httpx.ReadTimeout("server_deadline_s passed")
            if len(pending) > MAX_EVENT_BYTES:
                raise GenerationError(f"the generation server at {self.url} sent an event over {MAX_EVENT_BYTES} bytes")
        cut = "a truncated event" if pending.strip() else "no [DONE] marker"
        _flag_incomplete(request, f"the stream ended with {cut}")


# One SSE event holds one delta (a few bytes); a megabyte without a newline is not a stream.
MAX_EVENT_BYTES = 1 << 20
# A token is at most a few dozen characters; a piece count alone would let a server send the
# whole of a runaway answer in one delta.
MAX_CHARS_PER_TOKEN = 32


class _Budget:
    """The whole-answer deadline and the client-side token count (one per `stream` call)."""

    def __init__(self, deadline_s: float, max_new_tokens: int) -> None:
        self.ends = time.monotonic() + deadline_s
        self.max_tokens = max(1, int(max_new_tokens))
        self.pieces = 0
        self.chars = 0

    def left(self) -> float:
        return self.ends - time.monotonic()

    def expired(self) -> bool:
        return self.left() <= 0

    def timeout(self, per_read_s: float) -> httpx.Timeout:
        """Each read waits at most `per_read_s` and never past the deadline."""
        read = max(0.01, min(per_read_s, self.left()))
        return httpx.Timeout(read, connect=min(read, 10.0))

    def spend(self, piece: str) -> bool:
        """Count one streamed piece; True once `max_new_tokens` is reached."""
        self.pieces += 1
        self.chars += len(piece)
        return self.pieces >= self.max_tokens or self.chars >= self.max_tokens * MAX_CHARS_PER_TOKEN


def _wait(seconds: float, cancel: threading.Event | None, budget: _Budget) -> bool:
    """Back off before a retry, never past the deadline; True when cancelled."""
    seconds = max(0.0, min(seconds, budget.left()))
    if cancel is not None:
        return cancel.wait(seconds)
    time.sleep(seconds)
    return False


def _read_bounded(response: httpx.Response, budget: _Budget, url: str) -> bytes:
    """A plain JSON answer, read within the deadline and a size a real answer never reaches."""
    limit = budget.max_tokens * MAX_CHARS_PER_TOKEN * 4 + MAX_EVENT_BYTES
    body = b""
    for data in response.iter_bytes():
        body += data
        if len(body) > limit:
            raise GenerationError(f"the generation server at {url} sent an answer over {limit} bytes")
        if budget.expired():
            raise httpx.ReadTimeout("server_deadline_s passed")
    return body


def _head(response: httpx.Response, limit: int) -> bytes:
    """The first `limit` bytes of a body (an error text), never the whole of a huge one."""
    body = b""
    for data in response.iter_bytes():
        body += data
        if len(body) >= limit:
            break
    return body[:limit]


def _flag_incomplete(request: GenerationRequest, how: str) -> None:
    """A stream that stopped before [DONE] is never a normal answer: say so on it."""
    request.finish_reason = "incomplete"
    request.problem = f"The generation server stopped sending before the end of the answer ({how}); it may be incomplete."


def _sse_piece(line: str, url: str, request: GenerationRequest) -> str | None:
    """The text in one SSE line: '' for comments/keep-alives/empty deltas, None at [DONE]."""
    line = line.strip()
    if not line.startswith("data:"):
        return ""
    data = line[5:].strip()
    if data == "[DONE]":
        return None
    try:
        event = json.loads(data)
    except ValueError as exc:
        raise GenerationError(f"the generation server at {url} sent a malformed event: {data[:120]}") from exc
    if isinstance(event, dict) and event.get("error"):
        raise GenerationError(f"the generation server at {url} reported an error: {event['error']}")
    try:
        choice = event["choices"][0]
        delta = choice.get("delta") or {}
    except (KeyError, IndexError, TypeError, AttributeError):
        return ""
    if choice.get("finish_reason"):
        request.finish_reason = str(choice["finish_reason"])
    return str(delta.get("content") or "")


def _message_content(raw: bytes, url: str, request: GenerationRequest) -> str:
    try:
        payload = json.loads(raw)
        choice = payload["choices"][0]
        request.finish_reason = choice.get("finish_reason") or None
        return str(choice["message"]["content"] or "")
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise GenerationError(f"the generation server at {url} sent an answer without a message") from exc
