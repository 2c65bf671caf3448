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
        timeout_s = float(self.settings.server_timeout_s)
        timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0))
        attempts = int(self.settings.server_retries) + 1
        last_problem = ""
        with httpx.Client(timeout=timeout, transport=self._transport, trust_env=False) as client:
            for attempt in range(attempts):
                if attempt:
                    if cancel is not None and cancel.wait(BACKOFF_S * 2 ** (attempt - 1)):
                        return
                    if cancel is None:
                        time.sleep(BACKOFF_S * 2 ** (attempt - 1))
                streamed = False
                try:
                    for piece in self._one_attempt(client, request, cancel):
                        streamed = True
                        yield piece
                    return
                except _Retryable as exc:
                    last_problem = str(exc)
                except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError) as exc:
                    last_problem = str(exc) or type(exc).__name__
                except httpx.TimeoutException as exc:
                    raise GenerationError(
                        f"the generation server at {self.url} did not answer within {timeout_s:g} s"
                    ) from exc
                except httpx.HTTPError as exc:
                    raise GenerationError(f"generation server at {self.url}: {exc}") from exc
                if streamed:  # half an answer cannot be retried without repeating it
                    raise GenerationError(f"the generation server at {self.url} broke off the answer: {last_problem}")
        raise GenerationError(
            f"cannot reach the generation server at {self.url} "
            f"({attempts} attempt{'s' if attempts > 1 else ''}; last: {last_problem})"
        )

    def _one_attempt(
        self, client: httpx.Client, request: GenerationRequest, cancel: threading.Event | None
    ) -> Iterator[str]:
        with client.stream("POST", self.url, json=self._body(request), headers=self._headers()) as response:
            if response.status_code >= 500:
                raise _Retryable(f"HTTP {response.status_code}")
            if response.status_code >= 400:
                detail = response.read().decode("utf-8", "replace")[:300]
                raise GenerationError(
                    f"the generation server at {self.url} refused the request: HTTP {response.status_code} {detail}"
                )
            if "text/event-stream" in response.headers.get("content-type", ""):
                for line in response.iter_lines():
                    if cancel is not None and cancel.is_set():
                        return
                    piece = _sse_piece(line, self.url, request)
                    if piece is None:
                        return
                    if piece:
                        yield piece
            else:
                yield _message_content(response.read(), self.url, request)


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
