"""A real local HTTP server speaking the OpenAI chat API, scriptable to fail on demand.

It runs on 127.0.0.1 in a thread (stdlib ``ThreadingHTTPServer``), answers
``POST /v1/chat/completions``, ``POST /tokenize`` (llama.cpp's shape, one token
per whitespace-separated word) and ``GET /v1/models``, records every request,
and counts how many chat requests are in flight at once. ``/tokenize`` can be
made to fail for its next N requests (:meth:`FakeOpenAI.fail_tokenize`).

Behaviour per request comes from a queue of scripted actions; when the queue
is empty ``fail_status`` may fail the request (by its content) and otherwise the
``responder`` callable builds the reply text from the request.
"""

from __future__ import annotations

import json
import sys
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Action:
    """One scripted reply.

    kind: "ok" (reply ``text``), "status" (HTTP ``status`` with an error body and
    optional ``Retry-After`` header: seconds, or a string such as an HTTP date,
    sent as given), or "hang" (hold the request until the server is stopped or
    ``release_hangs`` is called).
    """

    kind: str
    text: str = ""
    status: int = 200
    retry_after: float | str | None = None


def echo_last_user(request: dict[str, Any]) -> str:
    """Default responder: repeat the last user message."""
    users = [m["content"] for m in request["messages"] if m["role"] == "user"]
    return f"echo: {users[-1] if users else ''}"


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (a timeout, a cancelled call) closed the socket
        # before a held reply was written: expected here, not worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass
class FakeOpenAI:
    """The server's state, shared with the handler threads."""

    responder: Callable[[dict[str, Any]], str] = echo_last_user
    # Per-request failure: the HTTP status to answer this request with, or None to answer it.
    fail_status: Callable[[dict[str, Any]], int | None] | None = None
    dialect: str = "llamacpp"  # shape of /tokenize: "llamacpp" or "vllm"
    hold_until_inflight: int = 0
    hold_timeout: float = 0.3
    actions: deque[Action] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)
    tokenize_calls: int = 0
    tokenize_failures: int = 0
    tokenize_failure_status: int = 500
    in_flight: int = 0
    max_in_flight: int = 0
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _hang: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` of the running server."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_base(self) -> str:
        """The OpenAI base URL (``.../v1``)."""
        return self.base_url + "/v1"

    def script(self, *actions: Action) -> None:
        """Queue replies for the next requests, in order."""
        with self._cond:
            self.actions.extend(actions)

    def fail_tokenize(self, times: int, status: int = 500) -> None:
        """Answer the next ``times`` ``/tokenize`` requests with HTTP ``status``."""
        with self._cond:
            self.tokenize_failures = times
            self.tokenize_failure_status = status

    def release_hangs(self) -> None:
        """Let every hanging request finish (with a 500)."""
        self._hang.set()

    def start(self) -> FakeOpenAI:
        """Start serving on a free loopback port in a daemon thread."""
        self._server = _Server(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving and release any hanging request."""
        self._hang.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # --- called from handler threads -------------------------------------------
    def _enter(self, body: dict[str, Any]) -> Action | None:
        with self._cond:
            self.requests.append(body)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self._cond.notify_all()
            if self.hold_until_inflight:
                # Hold the request until enough are in flight (or a short time
                # passed), so requests overlap if the client lets them.
                self._cond.wait_for(
                    lambda: self.in_flight >= self.hold_until_inflight, self.hold_timeout
                )
            return self.actions.popleft() if self.actions else None

    def _tokenize_fails(self) -> int | None:
        """The status to fail this ``/tokenize`` request with, or None to answer it."""
        with self._cond:
            self.tokenize_calls += 1
            if self.tokenize_failures <= 0:
                return None
            self.tokenize_failures -= 1
            return self.tokenize_failure_status

    def _leave(self) -> None:
        with self._cond:
            self.in_flight -= 1


def _completion_body(request: dict[str, Any], text: str) -> dict[str, Any]:
    prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in request["messages"])
    return {
        "id": f"chatcmpl-fake-{prompt_tokens}",
        "object": "chat.completion",
        "created": 1,
        "model": request.get("model", "fake"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(text.split()),
            "total_tokens": prompt_tokens + len(text.split()),
        },
    }


def _tokenize(dialect: str, body: dict[str, Any]) -> dict[str, Any]:
    """One token per word; vLLM's chat form adds 5 template tokens per message."""
    if dialect == "llamacpp":
        return {"tokens": list(range(len(body.get("content", "").split())))}
    if "messages" in body:
        count = sum(len(m["content"].split()) + 5 for m in body["messages"])
    else:
        count = len(body.get("prompt", "").split())
    return {"count": count, "tokens": list(range(count)), "max_model_len": 4096}


def _make_handler(state: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

        def _send(
            self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
        ) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})
            else:
                self._send(404, {"error": {"message": "not found"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path == "/tokenize":
                failure = state._tokenize_fails()
                if failure is not None:
                    self._send(failure, {"error": {"message": f"scripted {failure}"}})
                else:
                    self._send(200, _tokenize(state.dialect, body))
                return
            if self.path != "/v1/chat/completions":
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            action = state._enter(body)
            try:
                self._reply(body, action)
            finally:
                state._leave()

        def _reply(self, body: dict[str, Any], action: Action | None) -> None:
            status = state.fail_status(body) if action is None and state.fail_status else None
            if status is not None:
                action = Action("status", status=status)
            if action is None or action.kind == "ok":
                text = action.text if action else state.responder(body)
                self._send(200, _completion_body(body, text))
            elif action.kind == "status":
                headers: dict[str, str] = {}
                if action.retry_after is not None:
                    headers["Retry-After"] = str(action.retry_after)
                error = {"message": f"scripted {action.status}", "type": "scripted"}
                self._send(action.status, {"error": error}, headers)
            elif action.kind == "hang":
                state._hang.wait(30)
                self._send(500, {"error": {"message": "released hang"}})
            else:
                raise AssertionError(f"unknown action {action.kind}")

    return Handler
