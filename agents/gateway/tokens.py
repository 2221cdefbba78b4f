"""Token counting for budgets, with the served model's own tokenizer where possible.

Which counter is used when:

* **The server's tokenizer** (exact): llama.cpp (the embedded model) and vLLM
  both expose ``POST /tokenize`` at the server root. For chat messages,
  llama.cpp's ``/apply-template`` and vLLM's chat form of ``/tokenize`` apply the
  model's chat template, so template tokens are counted too. Used for
  ``local``, ``hosted_vllm/...`` and any model given with an ``api_base`` whose
  server answers ``/tokenize``.
* **litellm's counter** (approximate for open models): ``litellm.token_counter``,
  which uses the provider's tokenizer where litellm knows it and tiktoken's
  cl100k otherwise. Used for hosted providers and for servers without
  ``/tokenize``.

Counts are memoised per text, so budgeting loops that re-count the same chunk
cost one request.

When the server's tokenizer fails (unreachable, 5xx, a timeout), the count of
that call is litellm's approximate one, with a :class:`RuntimeWarning` once per
outage (the window check then rests on an estimate), and the server is asked
again on the next call: an approximate count is never memoised, nor taken for
good. A server that answers that it has no ``/tokenize`` (a 4xx to the probe)
is counted with litellm, as documented above. So is a server whose ``/tokenize``
answers in another dialect than the one expected (a ``hosted_vllm/`` model served
by llama.cpp, say): one :class:`RuntimeWarning`, then litellm for good.
"""

from __future__ import annotations

import hashlib
import json
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Literal

import httpx

from longdoc.agents.gateway.types import Messages

__all__ = ["TokenCounter"]

ServerKind = Literal["llamacpp", "vllm", "none"]
# Per-message overhead when only text (not the chat template) can be tokenized:
# role markers and separators cost a few tokens in every common template.
_PER_MESSAGE_OVERHEAD = 4
_REPLY_PRIMING = 3
_MEMO_SIZE = 4096


class TokenCounter:
    """Counts tokens for one model.

    Args:
        litellm_model: the litellm model string (for the fallback counter).
        server_url: the server root (``api_base`` without ``/v1``), or None.
        server_model: the model name the server knows (vLLM needs it).
        kind: "llamacpp" or "vllm" when known, None to probe the server once.
        timeout: seconds per tokenize request.
    """

    def __init__(
        self,
        litellm_model: str,
        server_url: str | None = None,
        *,
        server_model: str | None = None,
        kind: ServerKind | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.litellm_model = litellm_model
        self.server_url = server_url.rstrip("/") if server_url else None
        self.server_model = server_model
        self._kind: ServerKind | None = kind if server_url else "none"
        self._timeout = timeout
        self._memo: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()
        self._template_ok = True
        self._failing = False  # warned about the current outage of the server's tokenizer

    @property
    def source(self) -> str:
        """Which counter is in use: ``server:<kind>``, ``litellm`` or ``unprobed``."""
        if self._kind is None:
            return "unprobed"
        return "litellm" if self._kind == "none" else f"server:{self._kind}"

    # --- public API ----------------------------------------------------------------
    def count(self, text: str) -> int:
        """Tokens in ``text`` (no special tokens added)."""
        return self._memoised(
            ("t", text), lambda: self._count_text(text), lambda: self._litellm_count(text=text)
        )

    def count_messages(self, messages: Messages) -> int:
        """Tokens of a chat prompt, chat template and reply priming included."""
        key = ("m", json.dumps(messages, sort_keys=True, ensure_ascii=False))
        return self._memoised(
            key,
            lambda: self._count_messages(messages),
            lambda: self._litellm_count(messages=messages),
        )

    # --- internals ---------------------------------------------------------------
    def _memoised(
        self, key: tuple[str, str], exact: Callable[[], int], approximate: Callable[[], int]
    ) -> int:
        digest = hashlib.blake2b("\0".join(key).encode(), digest_size=16).hexdigest()
        with self._lock:
            if digest in self._memo:
                self._memo.move_to_end(digest)
                return self._memo[digest]
        try:
            value = int(exact())
        except _DialectError as e:
            self._give_up(e)
            return int(approximate())
        except httpx.HTTPError as e:
            self._warn_once(e)
            return int(approximate())  # not memoised: the server is asked again next time
        with self._lock:
            self._failing = False
            self._memo[digest] = value
            if len(self._memo) > _MEMO_SIZE:
                self._memo.popitem(last=False)
        return value

    def _warn_once(self, error: httpx.HTTPError) -> None:
        # warnings, not logging: a library's log is silent unless the application
        # configures it, and this voids the "no call can overflow" guarantee.
        with self._lock:
            if self._failing:
                return
            self._failing = True
        warnings.warn(
            f"the tokenizer of {self.server_url} failed ({type(error).__name__}: {error}); "
            "token counts are approximate (litellm's) until it answers again, so a call "
            "may overflow the context window",
            RuntimeWarning,
            stacklevel=2,
        )

    def _give_up(self, error: _DialectError) -> None:
        # Another dialect does not heal like an outage: asking again would fail again.
        with self._lock:
            self._kind = "none"
        warnings.warn(
            f"the tokenizer of {self.server_url} answers in another /tokenize dialect "
            f"({error}); token counts are litellm's approximate ones from now on",
            RuntimeWarning,
            stacklevel=3,
        )

    def _post(
        self, path: str, body: dict[str, Any], *, required: bool = False
    ) -> dict[str, Any] | None:
        """POST to the server: the JSON answer, or None when it says it has no such route.

        Raises:
            httpx.HTTPError: the server is unreachable, timed out or failed (5xx), or,
                when ``required``, answered anything but a JSON 200.
        """
        assert self.server_url is not None
        r = httpx.post(self.server_url + path, json=body, timeout=self._timeout)
        if r.status_code >= 500 or (required and r.status_code != 200):
            r.raise_for_status()
        if r.status_code != 200:
            return None  # a 4xx: this server does not do this
        try:
            got = r.json()
        except ValueError as e:
            if required:
                raise httpx.DecodingError(f"{path}: invalid JSON", request=r.request) from e
            return None
        return got if isinstance(got, dict) else None

    def _kind_now(self) -> ServerKind:
        if self._kind is None:
            self._kind = self._probe()
        return self._kind

    def _probe(self) -> ServerKind:
        """Find out once which /tokenize dialect the server speaks, if any."""
        got = self._post("/tokenize", {"model": self.server_model, "prompt": "probe"})
        if got is not None and "count" in got:
            return "vllm"
        got = self._post("/tokenize", {"content": "probe"})
        if got is not None and "tokens" in got:
            return "llamacpp"
        return "none"

    def _count_text(self, text: str) -> int:
        kind = self._kind_now()
        if kind == "llamacpp":
            got = self._post("/tokenize", {"content": text, "add_special": False}, required=True)
            return len(_field(got, "tokens"))
        if kind == "vllm":
            body = {"model": self.server_model, "prompt": text, "add_special_tokens": False}
            return int(_field(self._post("/tokenize", body, required=True), "count"))
        return self._litellm_count(text=text)

    def _count_messages(self, messages: Messages) -> int:
        kind = self._kind_now()
        if kind == "llamacpp" and self._template_ok:
            got = self._post("/apply-template", {"messages": messages})
            if got is not None and "prompt" in got:
                body = {"content": got["prompt"], "add_special": True, "parse_special": True}
                return len(_field(self._post("/tokenize", body, required=True), "tokens"))
            self._template_ok = False  # an older or partial server: count per message
        elif kind == "vllm" and self._template_ok:
            body = {"model": self.server_model, "messages": messages, "add_generation_prompt": True}
            got = self._post("/tokenize", body)
            if got is not None and isinstance(got.get("count"), int):
                return int(got["count"])
            self._template_ok = False
        if kind == "none":
            return self._litellm_count(messages=messages)
        overhead = _PER_MESSAGE_OVERHEAD * len(messages) + _REPLY_PRIMING
        return sum(self._count_text(m["content"]) for m in messages) + overhead

    def _litellm_count(self, **kwargs: Any) -> int:
        from longdoc.agents.gateway._litellm import litellm

        return int(litellm().token_counter(model=self.litellm_model, **kwargs))


class _DialectError(Exception):
    """The server's 200 answer to ``/tokenize`` is not in the dialect spoken to it."""


def _field(got: dict[str, Any] | None, name: str) -> Any:
    """``got[name]`` from the server's answer, checked for the dialect's type.

    Raises:
        _DialectError: the answer lacks ``name``, or its value has another type.
    """
    value = got.get(name) if got is not None else None
    expected = list if name == "tokens" else int
    if not isinstance(value, expected) or isinstance(value, bool):
        keys = sorted(got) if got is not None else []
        raise _DialectError(f"expected {name!r}, got the keys {keys}")
    return value
