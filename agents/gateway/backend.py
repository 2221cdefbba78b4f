"""The in-process backend protocol (what replaces the HTTP call) and what it returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from longdoc.agents.gateway.types import Messages

__all__ = ["BackendReply", "Counter", "ModelBackend"]


class Counter(Protocol):
    """Counts tokens for one model (see :class:`~longdoc.agents.tokens.TokenCounter`)."""

    @property
    def source(self) -> str:
        """Which tokenizer is used."""
        ...

    def count(self, text: str) -> int:
        """Tokens in a text."""
        ...

    def count_messages(self, messages: Messages) -> int:
        """Tokens of a chat prompt."""
        ...


class ModelBackend(Counter, Protocol):
    """An in-process replacement for the HTTP model call (e.g. :class:`ScriptedModel`)."""

    @property
    def model_id(self) -> str:
        """Identity for cache keys."""
        ...

    async def acomplete(self, messages: Messages, params: dict[str, Any]) -> BackendReply:
        """Answer one request."""
        ...


@dataclass(frozen=True)
class BackendReply:
    """What a backend returns for one request."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = "stop"
    # The replica's base URL that answered, when calls are spread over several.
    replica: str | None = None
