"""A fake OpenAI-compatible server on 127.0.0.1 for tests and benches.

Serves POST /v1/chat/completions and GET /v1/models. Replies come from a
scriptable `responder(request_json) -> content` (called once per choice; the
content may also be None or a list of parts, as some servers send), with an
optional delay and injected failures: HTTP errors for the next k requests
(429 with Retry-After, 500, ...), hangs longer than the client's timeout, a
required API key (401), unknown models (404), a server that ignores `n` or
rejects `response_format` (400), raw HTTP-200 bodies that are not a usable
completion (`reply_raw({"choices": []})`), and a server that dies after k more
requests (`die(after=k)`). Every request is recorded.

    with LoopbackServer(lambda req: '{"input": "2+2?", "output": "4"}') as srv:
        srv.fail(429, times=2, retry_after=0.01)
        model = get_backend("openai", model="loopback", base_url=srv.url)
        ...
        srv.chat_requests  # the JSON bodies received

In a test module: `from loopback_server import loopback` gives a fixture that
stops the server when the test ends. The server also stops itself after
`max_lifetime` seconds, so a forgotten one cannot outlive a test run.
"""
from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


@dataclass
class Received:
    """One request as the server saw it."""

    method: str
    path: str
    body: dict | None
    headers: dict
    at: float = field(default_factory=time.monotonic)


def echo_responder(request: dict) -> str:
    """Default reply: echoes the last user message."""
    users = [m.get("content", "") for m in request.get("messages", []) if m.get("role") == "user"]
    return f"echo: {users[-1] if users else ''}"


class LoopbackServer:
    def __init__(self, responder: Callable[[dict], str] | None = None, *, models=("loopback",),
                 delay: float = 0.0, honour_n: bool = True, api_key: str | None = None,
                 reject_response_format: bool = False, max_lifetime: float = 300.0):
        self.responder = responder or echo_responder
        self.models = list(models)
        self.delay = delay
        self.honour_n = honour_n
        self.api_key = api_key
        self.reject_response_format = reject_response_format
        self.max_lifetime = max_lifetime
        self.requests: list[Received] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._faults: deque = deque()
        self._dies_after: int | None = None   # healthy chat requests left before the server "dies"
        self._dead_status = 503
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None

    # ------------------------------------------------------------------ control

    @property
    def url(self) -> str:
        """The base_url to give a client (ends in /v1)."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def root(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def chat_requests(self) -> list[dict]:
        with self._lock:
            return [r.body for r in self.requests if r.path.endswith("/chat/completions") and r.body is not None]

    def fail(self, status: int, times: int = 1, retry_after: float | None = None, message: str | None = None):
        """The next `times` chat requests get HTTP `status` (before any other check)."""
        for _ in range(times):
            self._faults.append(("status", status, retry_after, message))
        return self

    def reply_raw(self, payload, times: int = 1):
        """The next `times` chat requests get HTTP 200 with exactly this JSON body (e.g. {"choices": []})."""
        for _ in range(times):
            self._faults.append(("raw", payload, None, None))
        return self

    def die(self, after: int = 0, status: int = 503):
        """After `after` more chat requests, every chat request gets HTTP `status` (Retry-After: 0)."""
        with self._lock:
            self._dies_after = after
            self._dead_status = status
        return self

    def hang(self, times: int = 1, seconds: float = 30.0):
        """The next `times` chat requests get no answer for `seconds` (or until the server stops)."""
        for _ in range(times):
            self._faults.append(("hang", seconds, None, None))
        return self

    def start(self) -> "LoopbackServer":
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="loopback-server", daemon=True)
        self._thread.start()
        self._timer = threading.Timer(self.max_lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        with self._lock:
            if self._stop.is_set():
                return
            self._stop.set()  # also wakes delayed and hanging requests
        if self._timer is not None:
            self._timer.cancel()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self) -> "LoopbackServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ request handling

    def _next_fault(self):
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def _chat(self, body: dict, headers: dict) -> tuple[int, dict, dict]:
        """(status, json, extra headers) for one chat request."""
        with self._lock:
            if self._dies_after is not None:
                if self._dies_after <= 0:
                    return self._dead_status, {"error": {"message": "the server is down (injected)"}}, \
                        {"Retry-After": "0"}
                self._dies_after -= 1
        fault = self._next_fault()
        if fault is not None:
            kind, a, retry_after, message = fault
            if kind == "raw":
                return 200, a, {}
            if kind == "hang":
                self._stop.wait(a)
                return 500, {"error": {"message": "hung request"}}, {}
            extra = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            return a, {"error": {"message": message or f"injected HTTP {a}", "code": a}}, extra
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                                   "code": "invalid_api_key"}}, {}
        model = body.get("model")
        if model not in self.models:
            return 404, {"error": {"message": f"The model `{model}` does not exist.", "type": "NotFoundError",
                                   "code": 404}}, {}
        if self.reject_response_format and "response_format" in body:
            return 400, {"error": {"message": "response_format json_schema is not supported by this server",
                                   "type": "BadRequestError", "code": 400}}, {}
        if self.delay:
            self._stop.wait(self.delay)
        n = int(body.get("n") or 1) if self.honour_n else 1
        texts = [self.responder(body) for _ in range(n)]
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
        completion_tokens = sum(len(t.split()) for t in texts if isinstance(t, str))
        return 200, {
            "id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion", "created": int(time.time()),
            "model": model,
            "choices": [{"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": "stop"}
                        for i, t in enumerate(texts)],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }, {}


def _handler_for(server: LoopbackServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def _record(self, body):
            with server._lock:
                server.requests.append(Received(self.command, self.path, body,
                                                {k.lower(): v for k, v in self.headers.items()}))

        def _send(self, status: int, payload: dict, extra: dict | None = None):
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client gave up (timeout) and closed the connection
                pass

        def do_GET(self):
            self._record(None)
            if self.path.rstrip("/") == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in server.models]})
            else:
                self._send(404, {"detail": "Not Found"})

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                self._record(None)
                self._send(400, {"error": {"message": "body is not JSON"}})
                return
            self._record(body)
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send(404, {"detail": "Not Found"})
                return
            with server._lock:
                server.in_flight += 1
                server.max_in_flight = max(server.max_in_flight, server.in_flight)
            try:
                status, payload, extra = server._chat(body, {k.lower(): v for k, v in self.headers.items()})
            finally:
                with server._lock:
                    server.in_flight -= 1
            self._send(status, payload, extra)

    return Handler


try:
    import pytest

    @pytest.fixture
    def loopback():
        """A started LoopbackServer, stopped when the test ends."""
        with LoopbackServer() as srv:
            yield srv
except ImportError:  # benches may run without pytest
    pass
