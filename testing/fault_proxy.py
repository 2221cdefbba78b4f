"""A fault-injecting OpenAI-compatible HTTP proxy, for tests of what survives a flaky server.

It runs on 127.0.0.1 in a thread (stdlib ``ThreadingHTTPServer``) in front of any
OpenAI-compatible upstream (usually :class:`~longdoc.testing.fake_openai.FakeOpenAI`),
forwards every request over real HTTP, and, on a share of chat requests, injects
one fault instead:

* ``"429"`` (with ``Retry-After``), ``"500"``, ``"503"``: an error status, not forwarded;
* ``"reset"``: the connection is reset (TCP RST) before any reply;
* ``"hang"``: no reply until the client gives up (its timeout) or the proxy stops;
* ``"truncated"``: status 200 with the upstream's JSON body cut in half;
* ``"empty"``: status 200, a well-formed reply whose content is ``""``;
* ``"length"``: status 200, the content cut in half and ``finish_reason="length"``.

Which requests fail is reproducible: a seeded random draw per chat request, in
arrival order, or an explicit queue (:meth:`FaultProxy.script`). ``max_per_prompt``
caps the faults injected into one request body, so that with concurrent callers
(where arrival order varies) no call can exceed its retries by bad luck.
``/tokenize`` and ``GET`` requests pass through untouched. ``injected`` counts
the faults per kind.

Example:
    >>> upstream = FakeOpenAI().start()                       # doctest: +SKIP
    >>> proxy = FaultProxy(upstream.base_url, rate=0.2, seed=1).start()  # doctest: +SKIP
    >>> settings = load_settings(api_base=proxy.api_base, ...)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import random
import socket
import struct
import sys
import threading
import urllib.error
import urllib.request
from collections import Counter, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FAULT_KINDS", "FaultProxy"]

FAULT_KINDS: tuple[str, ...] = (
    "429",
    "500",
    "503",
    "reset",
    "hang",
    "truncated",
    "empty",
    "length",
)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A reset we injected, or a client that gave up on a hang: expected, no traceback.
        if not isinstance(sys.exc_info()[1], (ConnectionError, OSError)):
            super().handle_error(request, client_address)


@dataclass
class FaultProxy:
    """The proxy's settings and state, shared with its handler threads.

    Args:
        upstream: base URL of the real server (``http://127.0.0.1:<port>``, no ``/v1``).
        rate: share of chat requests that get a fault (0 to 1).
        kinds: the faults to draw from, uniformly.
        seed: seed of the draw: the same seed and arrival order give the same faults.
        max_per_prompt: most faults injected into one request body (None: no cap).
        retry_after: seconds sent in the ``Retry-After`` header of a 429.
        hang_seconds: how long a hang holds the connection at most.

    Attributes:
        injected: faults injected so far, per kind.
        forwarded: chat requests answered by the upstream (a fault that alters a
            reply, ``truncated``, ``empty`` and ``length``, is forwarded too).
    """

    upstream: str
    rate: float = 0.2
    kinds: tuple[str, ...] = FAULT_KINDS
    seed: int = 0
    max_per_prompt: int | None = 2
    retry_after: float = 0.25
    hang_seconds: float = 30.0
    injected: Counter[str] = field(default_factory=Counter)
    forwarded: int = 0
    _queue: deque[str | None] = field(default_factory=deque)
    _per_prompt: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopped: threading.Event = field(default_factory=threading.Event)
    _rng: random.Random = field(init=False)
    _server: ThreadingHTTPServer | None = None

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {FAULT_KINDS}")
        self._rng = random.Random(self.seed)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` of the running proxy."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_base(self) -> str:
        """The OpenAI base URL (``.../v1``) to give the client."""
        return self.base_url + "/v1"

    @property
    def total_injected(self) -> int:
        """Faults injected so far, all kinds together."""
        with self._lock:
            return sum(self.injected.values())

    def script(self, *kinds: str | None) -> None:
        """Decide the next chat requests' fate, in order (None: pass through)."""
        with self._lock:
            self._queue.extend(kinds)

    def start(self) -> FaultProxy:
        """Start serving on a free loopback port in a daemon thread."""
        self._server = _Server(("127.0.0.1", 0), _make_handler(self))
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving and release any hanging request."""
        self._stopped.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # --- called from handler threads -------------------------------------------
    def _draw(self, body: bytes) -> str | None:
        """The fault for this chat request, or None; counted when injected."""
        digest = hashlib.sha256(body).hexdigest()
        with self._lock:
            if self._queue:
                kind = self._queue.popleft()
            else:
                # Drawn for every request, so the sequence depends on arrival order only.
                fails, pick = self._rng.random() < self.rate, self._rng.choice(self.kinds)
                capped = self.max_per_prompt is not None
                if capped and self._per_prompt[digest] >= (self.max_per_prompt or 0):
                    fails = False
                kind = pick if fails else None
            if kind is not None:
                self.injected[kind] += 1
                self._per_prompt[digest] += 1
            return kind

    def _forward(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
        request = urllib.request.Request(
            self.upstream + path,
            data=body,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.hang_seconds) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as e:  # an upstream error status passes on as itself
            return e.code, e.read()


def _altered(kind: str, payload: bytes) -> bytes:
    """An upstream reply turned into the fault ``kind`` (status stays 200)."""
    if kind == "truncated":
        return payload[: len(payload) // 2]
    reply = json.loads(payload)
    choice = reply["choices"][0]
    content = choice["message"].get("content") or ""
    if kind == "empty":
        choice["message"]["content"] = ""
        reply["usage"]["completion_tokens"] = 0
    else:  # "length": the reply stops at half its words, as a max_tokens cut would
        words = content.split(" ")
        choice["message"]["content"] = " ".join(words[: max(1, len(words) // 2)])
        choice["finish_reason"] = "length"
    return json.dumps(reply).encode()


def _make_handler(state: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

        def _send(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._send(*state._forward("GET", self.path, None))

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            kind = state._draw(body) if self.path == "/v1/chat/completions" else None
            if kind is None:
                status, payload = state._forward("POST", self.path, body)
                if self.path == "/v1/chat/completions":
                    with state._lock:
                        state.forwarded += 1
                self._send(status, payload)
            elif kind in ("429", "500", "503"):
                error = json.dumps({"error": {"message": f"injected {kind}", "type": "fault"}})
                headers = {"Retry-After": str(state.retry_after)} if kind == "429" else {}
                self._send(int(kind), error.encode(), headers)
            elif kind == "reset":
                # SO_LINGER with a zero timeout: close() sends RST, not FIN.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.close_connection = True
                self.connection.close()
            elif kind == "hang":
                state._stopped.wait(state.hang_seconds)
                self.close_connection = True
            else:
                status, payload = state._forward("POST", self.path, body)
                with state._lock:
                    state.forwarded += 1
                self._send(status, _altered(kind, payload))

    return Handler
