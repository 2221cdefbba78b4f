"""Plain data types shared by the gateway and the agents."""

from __future__ import annotations

from typing import Literal, TypedDict

from pydantic import BaseModel, ConfigDict

__all__ = ["Completion", "Message", "Messages", "as_messages"]


class Message(TypedDict):
    """One chat message in the OpenAI shape."""

    role: Literal["system", "user", "assistant"]
    content: str


Messages = list[Message]


class Completion(BaseModel):
    """The result of one model call.

    Attributes:
        text: the generated text.
        model: the litellm model string that answered.
        prompt_tokens: prompt tokens as reported by the server (or counted).
        completion_tokens: generated tokens as reported by the server.
        finish_reason: why generation stopped ("stop", "length", ...).
        cached: True when the answer came from the response cache.
        attempts: requests sent for this answer (0 when cached).
        seconds: wall time of the call, retries included.
    """

    model_config = ConfigDict(frozen=True)

    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    cached: bool = False
    attempts: int = 1
    seconds: float = 0.0


def as_messages(prompt: str | Messages, system: str | None = None) -> Messages:
    """Normalise a bare prompt or a message list into a message list.

    Args:
        prompt: a user prompt, or a full message list (returned as a copy).
        system: an optional system message put first when ``prompt`` is a string.

    Returns:
        A new list of messages.
    """
    if isinstance(prompt, str):
        messages: Messages = []
        if system:
            messages.append({"role": "system", "content": system})
        messages.append({"role": "user", "content": prompt})
        return messages
    if system:
        raise ValueError("pass `system` only with a string prompt; put it in the messages instead")
    return [dict(m) for m in prompt]  # type: ignore[misc]
