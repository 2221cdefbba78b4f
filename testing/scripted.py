"""A deterministic in-process model, for unit tests of workflow logic and for benchmarks.

It plugs into :class:`~longdoc.agents.gateway.Gateway` as its backend, so
everything around the model call still runs: the window check, the cache, the
ledger, retries and the concurrency bound. Only the HTTP request is replaced.

Example:
    >>> model = ScriptedModel(lambda messages, params: "ok")
    >>> gw = Gateway(settings, backend=model)        # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from longdoc.agents.gateway.backend import BackendReply
from longdoc.agents.gateway.types import Messages

__all__ = ["BackendReply", "ScriptedCall", "ScriptedModel", "count_word_tokens"]

_TOKEN = re.compile(r"\w+|[^\w\s]")
_PER_MESSAGE = 4
_PRIMING = 3


def count_word_tokens(text: str) -> int:
    """A fast deterministic tokenizer: words and punctuation marks are one token each."""
    return len(_TOKEN.findall(text))


@dataclass(frozen=True)
class ScriptedCall:
    """One request the scripted model received, and its reply."""

    messages: Messages
    params: dict[str, Any]
    reply: str


Responder = Callable[[Messages, dict[str, Any]], "str | Awaitable[str]"]


class ScriptedModel:
    """A model whose replies come from a Python function.

    Args:
        respond: ``respond(messages, params) -> str`` (or an awaitable of str); it
            may inspect and assert on what it is given, and raise to simulate a
            failure.
        name: shown as the model (``scripted/<name>``) and used in cache keys.
        truncate: cut replies to ``params["max_tokens"]`` tokens, as a real server does.
        tokenizer: counts tokens; default :func:`count_word_tokens` (words and punctuation).

    Attributes:
        calls: every request received, in order.
    """

    def __init__(
        self,
        respond: Responder,
        *,
        name: str = "scripted",
        truncate: bool = True,
        tokenizer: Callable[[str], int] = count_word_tokens,
    ) -> None:
        self.respond = respond
        self.tokenizer = tokenizer
        self.name = name
        self.truncate = truncate
        self.calls: list[ScriptedCall] = []
        self._lock = threading.Lock()
        self.in_model_seconds = 0.0

    # --- the backend protocol used by the gateway ---------------------------------------
    @property
    def model_id(self) -> str:
        """Identity for cache keys."""
        return f"scripted/{self.name}"

    @property
    def source(self) -> str:
        """Which tokenizer counts (for ``doctor``-style reports)."""
        return "scripted:words"

    def count(self, text: str) -> int:
        """Tokens in ``text``."""
        return self.tokenizer(text)

    def count_messages(self, messages: Messages) -> int:
        """Tokens of a chat prompt, with a fixed per-message template overhead."""
        body = sum(self.tokenizer(m["content"]) for m in messages)
        return body + _PER_MESSAGE * len(messages) + _PRIMING

    async def acomplete(self, messages: Messages, params: dict[str, Any]) -> BackendReply:
        """Answer one request."""
        import time

        started = time.perf_counter()
        reply = self.respond(messages, params)
        if asyncio.iscoroutine(reply) or isinstance(reply, Awaitable):
            reply = await reply
        text = str(reply)
        finish = "stop"
        limit = params.get("max_tokens")
        if self.truncate and limit is not None:
            pieces = list(_TOKEN.finditer(text))
            if len(pieces) > limit:
                text, finish = text[: pieces[limit - 1].end()], "length"
        # Counting the prompt is the model server's work (it reports usage), so it is
        # timed as time in the model.
        prompt_tokens = self.count_messages(messages)
        reply_usage = BackendReply(text, prompt_tokens, self.tokenizer(text), finish)
        with self._lock:
            self.calls.append(ScriptedCall(messages, dict(params), text))
            self.in_model_seconds += time.perf_counter() - started
        return reply_usage
