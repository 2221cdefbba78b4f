"""Scripted replies for the fake OpenAI server, per role, checking what each role is given.

Each function takes the request the server received and returns the reply text, or None
when the request is not for that role (so they can be chained).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import pytest

from longdoc.agents.gateway import Gateway
from longdoc.agents.gateway.types import Completion, Messages, as_messages
from longdoc.testing.fake_openai import FakeOpenAI

__all__ = [
    "EXCERPT",
    "RecordedCall",
    "RecordingGateway",
    "Roles",
    "evidence_role",
    "fake_server",
    "memory_role",
    "sentence_with",
]

EXCERPT = re.compile(r'<excerpt id="(\w+)">\n(.*?)\n</excerpt>', re.S)
Request = dict[str, Any]


def _system_user(request: Request) -> tuple[str, str]:
    messages = request["messages"]
    return messages[0]["content"], messages[-1]["content"]


def memory_role(request: Request) -> str | None:
    """The memory's summarizer and the chat's answerer.

    The summarizer says which items it took in; the answerer quotes the first four-digit
    number of its memory block (the question itself is not memory).
    """
    system, user = _system_user(request)
    if "maintain the long-term memory" in system:
        items = [int(n) for n in re.findall(r'<excerpt n="(\d+)"', user)]
        assert items or "<notes part=" in user, "the summarizer is shown what to summarize"
        return f"Summary through item {max(items)}." if items else "Folded summary."
    if system.startswith("You are an assistant with a long-term memory"):
        assert "<memory>" in user and "<question>" in user
        code = re.search(r"\b\d{4}\b", user.split("<question>")[0])
        return f"Your code is {code.group(0)}." if code else "I do not remember."
    return None


def sentence_with(word: str, text: str) -> str | None:
    """The first sentence of ``text`` containing ``word``, verbatim, or None."""
    for sentence in re.split(r"(?<=[.!?;])\s+", text):
        if word.lower() in sentence.lower():
            return sentence.strip()
    return None


def evidence_role(request: Request, word: str, answer: str) -> str | None:
    """Retrieve-then-reason: the extractor quotes sentences with ``word``; the reasoner
    answers ``answer`` and names every fact it was shown."""
    system = request["messages"][0]["content"]
    excerpts = EXCERPT.findall(request["messages"][1]["content"])  # repairs append messages
    if system.startswith("You find evidence"):
        picked = [(tag, sentence_with(word, text)) for tag, text in excerpts]
        sentences = [{"chunk": t, "sentence": s} for t, s in picked if s]
        return json.dumps({"sentences": sentences})
    if system.startswith("You answer questions"):
        assert excerpts and all(tag.startswith("F") for tag, _ in excerpts)
        return json.dumps({"answer": answer, "facts": [tag for tag, _ in excerpts]})
    return None


class Roles:
    """A responder trying role functions in order; records every request it answered.

    A failed check inside a role is recorded and answered with an error text, not raised:
    raised in the server's thread it would only drop the connection and set off retries.
    :func:`fake_server` raises the recorded failures when the test's block ends.
    """

    def __init__(self, *roles: Callable[[Request], str | None]) -> None:
        self.roles = roles
        self.requests: list[tuple[str, Request]] = []
        self.failures: list[str] = []

    def __call__(self, request: Request) -> str:
        try:
            for role in self.roles:
                reply = role(request)
                if reply is not None:
                    self.requests.append((getattr(role, "__name__", "role"), request))
                    return reply
            system, user = _system_user(request)
            raise AssertionError(f"no scripted role for: {system[:80]!r} / {user[:80]!r}")
        except Exception as e:
            system, user = _system_user(request)
            self.failures.append(f"{type(e).__name__}: {e} (on {system[:60]!r} / {user[:200]!r})")
            return f"scripted role failed: {e}"

    def prompts(self, role: Callable[[Request], str | None]) -> list[str]:
        """The last user message of every request ``role`` answered."""
        name = getattr(role, "__name__", "role")
        return [r["messages"][-1]["content"] for n, r in self.requests if n == name]


@contextmanager
def fake_server(
    monkeypatch: pytest.MonkeyPatch, responder: Callable[[Request], str], **env: str
) -> Iterator[FakeOpenAI]:
    """The fake OpenAI server, with ``LONGDOC_*`` pointing every default gateway at it."""
    server = FakeOpenAI(responder=responder).start()
    monkeypatch.setenv("LONGDOC_MODEL", "openai/fake")
    monkeypatch.setenv("LONGDOC_API_BASE", server.api_base)
    for key, value in env.items():
        monkeypatch.setenv(f"LONGDOC_{key.upper()}", value)
    try:
        yield server
    finally:
        server.stop()
        failures = getattr(responder, "failures", [])
        assert not failures, failures


class RecordedCall(NamedTuple):
    """One completed gateway call: its stage, prompt, output cap and completion."""

    stage: str
    messages: Messages
    max_tokens: int
    reply: Completion


class RecordingGateway(Gateway):
    """The real gateway, keeping every completed call (structured ones included)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[RecordedCall] = []

    async def acomplete(self, prompt: Any, **kwargs: Any) -> Completion:  # type: ignore[override]
        reply = await super().acomplete(prompt, **kwargs)
        cap = kwargs.get("max_tokens") or self.settings.max_output_tokens
        messages = as_messages(prompt, kwargs.get("system"))
        self.calls.append(RecordedCall(kwargs.get("stage", "default"), messages, cap, reply))
        return reply

    def stage(self, name: str) -> list[RecordedCall]:
        """The calls of one stage, in order."""
        return [c for c in self.calls if c.stage == name]


def chain_role(request: Request, notes: str, answer: str) -> str | None:
    """Chain of agents: every worker writes ``notes``; the manager answers ``answer``."""
    system, user = _system_user(request)
    if system.startswith("You are one worker in a chain of agents"):
        assert "<document_part " in user
        return notes
    if system.startswith("You are the manager of a chain of agents"):
        assert notes in user
        return answer
    return None
