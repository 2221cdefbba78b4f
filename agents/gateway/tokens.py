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
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
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

    @property
    def source(self) -> str:
        """Which counter is in use: ``server:<kind>``, ``litellm`` or ``unprobed``."""
        if self._kind is None:
            return "unprobed"
        return "litellm" if self._kind == "none" else f"server:{self._kind}"

    # --- public API ----------------------------------------------------------------
    def count(self, text: str) -> int:
        """Tokens in ``text`` (no special tokens added)."""
        return self._memoised(("t", text), lambda: self._count_text(text))

    def count_messages(self, messages: Messages) -> int:
        """Tokens of a chat prompt, chat template and reply priming included."""
        key = ("m", json.dumps(messages, sort_keys=True, ensure_ascii=False))
        return self._memoised(key, lambda: self._count_messages(messages))

    # --- internals ---------------------------------------------------------------
    def _memoised(self, key: tuple[str, str], compute: Any) -> int:
        digest = hashlib.blake2b("\0".join(key).encode(), digest_size=16).hexdigest()
        with self._lock:
            if digest in self._memo:
                self._memo.move_to_end(digest)
                return self._memo[digest]
        value = int(compute())
        with self._lock:
            self._memo[digest] = value
            if len(self._memo) > _MEMO_SIZE:
                self._memo.popitem(last=False)
        return value

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        assert self.server_url is not None
        try:
            r = httpx.post(self.server_url + path, json=body, timeout=self._timeout)
        except httpx.HTTPError:
            return None
        if r.status_code != 200:
            return None
        try:
            return r.json()
        except ValueError:
            return None

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
            got = self._post("/tokenize", {"content": text, "add_special": False})
            if got is not None:
                return len(got["tokens"])
        elif kind == "vllm":
            body = {"model": self.server_model, "prompt": text, "add_special_tokens": False}
            got = self._post("/tokenize", body)
            if got is not None:
                return int(got["count"])
        return self._litellm_count(text=text)

    def _count_messages(self, messages: Messages) -> int:
        kind = self._kind_now()
        if kind == "llamacpp" and self._template_ok:
            got = self._post("/apply-template", {"messages": messages})
            if got is not None and "prompt" in got:
                body = {"content": got["prompt"], "add_special": True, "parse_special": True}
                tokens = self._post("/tokenize", body)
                if tokens is not None:
                    return len(tokens["tokens"])
            self._template_ok = False  # an older or partial server: count per message
        elif kind == "vllm" and self._template_ok:
            body = {"model": self.server_model, "messages": messages, "add_generation_prompt": True}
            got = self._post("/tokenize", body)
            if got is not None and "count" in got:
                return int(got["count"])
            self._template_ok = False
        if kind == "none":
            return self._litellm_count(messages=messages)
        overhead = _PER_MESSAGE_OVERHEAD * len(messages) + _REPLY_PRIMING
        return sum(self._count_text(m["content"]) for m in messages) + overhead

    def _litellm_count(self, **kwargs: Any) -> int:
        from longdoc.agents.gateway._litellm import litellm

        return int(litellm().token_counter(model=self.litellm_model, **kwargs))
