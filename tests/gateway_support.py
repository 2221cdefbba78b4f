"""The gateway tests' gateway: pointed at the fake server, its backoff waits recorded."""

from __future__ import annotations

from typing import Any

from longdoc.agents.gateway import Gateway
from longdoc.config import load_settings
from longdoc.testing.fake_openai import FakeOpenAI


def make_gateway(server: FakeOpenAI, **overrides: Any) -> Gateway:
    overrides.setdefault("retry_max_wait", 5.0)
    gateway = Gateway(load_settings(model="openai/fake", api_base=server.api_base, **overrides))
    gateway.waits = []  # type: ignore[attr-defined]

    async def record_wait(seconds: float) -> None:  # backoff is recorded, not slept
        gateway.waits.append(seconds)  # type: ignore[attr-defined]

    gateway._sleep = record_wait
    return gateway
