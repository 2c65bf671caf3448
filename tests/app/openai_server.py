"""A tiny OpenAI-compatible chat server on 127.0.0.1 for the generator tests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeChatServer:
    """Answers /v1/chat/completions with `reply`, streamed as SSE or as one JSON object.

    `fail_first` requests get HTTP 500 first; `delay_s` sleeps before answering (slow server).
    `misbehave` makes a hostile streaming server (see `MISBEHAVIOURS`). Every request body is
    kept in `requests`. `reply` may be a function of the request body (a different reply per prompt).
    """

    def __init__(self, reply: "str | Callable[[dict], str]" = "Metformin is first line [E1].", fail_first: int = 0, delay_s: float = 0.0, chunk_delay_s: float = 0.0, misbehave: str | None = None, refuse_with: str | None = None):
        assert misbehave is None or misbehave in MISBEHAVIOURS, misbehave
        self.misbehave = misbehave
        self.refuse_with = refuse_with  # answer HTTP 400 with this body (a server's error text)
        self.stop = threading.Event()  # ends the endless misbehaviours when the test is over
        self.reply = reply
        self.fail_first = fail_first
        self.delay_s = delay_s
        self.chunk_delay_s = chunk_delay_s
        self.requests: list[dict] = []
        self.disconnected = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                if self.path != "/v1/chat/completions":
                    self.send_error(404)
                    return
                if server.refuse_with is not None:
                    data = server.refuse_with.encode()
                    self.send_response(400)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                if server.fail_first > 0:
                    server.fail_first -= 1
                    self.send_response(500)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(b'{"error": "overloaded"}')
                    return
                if server.delay_s:
                    time.sleep(server.delay_s)
                if body.get("stream") and server.misbehave:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    try:
                        MISBEHAVIOURS[server.misbehave](self.wfile, server)
                    except (BrokenPipeError, ConnectionResetError):
                        server.disconnected.set()
                elif body.get("stream"):
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    try:
                        self.wfile.write(b": keep-alive\n\n")
                        first = {"choices": [{"index": 0, "delta": {"role": "assistant"}}]}
                        self.wfile.write(f"data: {json.dumps(first)}\n\n".encode())
                        for word in server.reply_to(body).split(" "):
                            chunk = {"choices": [{"index": 0, "delta": {"content": word + " "}}]}
                            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                            self.wfile.flush()
                            if server.chunk_delay_s:
                                time.sleep(server.chunk_delay_s)
                        self.wfile.write(b"data: [DONE]\n\n")
                    except (BrokenPipeError, ConnectionResetError):
                        server.disconnected.set()
                else:
                    payload = {"choices": [{"index": 0, "message": {"role": "assistant", "content": server.reply_to(body)}, "finish_reason": "length"}]}
                    data = json.dumps(payload).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def reply_to(self, body: dict) -> str:
        return self.reply(body) if callable(self.reply) else self.reply

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> "FakeChatServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def _event(text: str) -> bytes:
    return f"data: {json.dumps({'choices': [{'index': 0, 'delta': {'content': text}}]})}\n\n".encode()


def _trickle(out, server: FakeChatServer) -> None:
    """One token every 0.5 s, for ever (ignores max_tokens)."""
    n = 0
    while not server.stop.wait(0.5 if n else 0):
        out.write(_event(f"tok{n} "))
        out.flush()
        n += 1


def _keep_alive_only(out, server: FakeChatServer) -> None:
    """Only SSE comments (keep-alives) every 0.2 s, for ever: no token ever."""
    while not server.stop.wait(0.2):
        out.write(b": keep-alive\n\n")
        out.flush()


def _flood(out, server: FakeChatServer) -> None:
    """Tokens as fast as possible, for ever (ignores max_tokens)."""
    n = 0
    while not server.stop.is_set():
        out.write(_event(f"w{n} "))
        n += 1


def _cut_without_done(out, server: FakeChatServer) -> None:
    """Half an answer, then the connection closes without [DONE]."""
    for word in server.reply_to({}).split(" ")[:3]:
        out.write(_event(word + " "))
    out.flush()


def _truncated_chunk(out, server: FakeChatServer) -> None:
    """Two good events, then half of one; the connection closes."""
    out.write(_event("Metformin ") + _event("is "))
    out.write(_event("first line")[:25])
    out.flush()


MISBEHAVIOURS = {
    "trickle": _trickle,
    "keep_alive_only": _keep_alive_only,
    "flood": _flood,
    "cut_without_done": _cut_without_done,
    "truncated_chunk": _truncated_chunk,
}
