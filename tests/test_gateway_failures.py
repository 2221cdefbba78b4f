"""Gateway failures that must be loud and correct (issue 13, section 4), on the real HTTP fake."""

from __future__ import annotations

import asyncio
import email.utils
import re
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from gateway_support import make_gateway
from pydantic import BaseModel

from longdoc.agents.gateway import Gateway
from longdoc.agents.gateway.bound import ConcurrencyBound
from longdoc.agents.gateway.endpoint import Endpoint
from longdoc.agents.gateway.tokens import TokenCounter
from longdoc.config import load_settings
from longdoc.errors import ConfigError, ModelCallError
from longdoc.testing.fake_openai import Action, FakeOpenAI
from longdoc.testing.scripted import ScriptedModel


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI().start()
    yield fake
    fake.stop()


# --- structured output ---------------------------------------------------------------
class Verdict(BaseModel):
    answer: str
    confidence: float


def test_prose_around_json_lacking_a_field_gets_a_repair_naming_the_field(
    server: FakeOpenAI,
) -> None:
    server.script(
        Action("ok", text='Here you go: {"answer": "yes"} Hope that helps!'),
        Action("ok", text='{"answer": "yes", "confidence": 0.5}'),
    )
    gw = make_gateway(server)
    assert gw.structured("Is it?", Verdict) == Verdict(answer="yes", confidence=0.5)
    repair = server.requests[1]["messages"][-1]["content"]
    assert "confidence: Field required" in repair
    assert "line 1 column 1" not in repair  # the JSON syntax error of the whole reply


# --- which errors become ModelCallError ----------------------------------------------
def test_a_programming_error_in_the_backend_propagates_as_itself() -> None:
    def respond(messages: list, params: dict) -> str:
        raise TypeError("respond() got an unexpected keyword argument 'tempreature'")

    model = ScriptedModel(respond)
    gw = Gateway(load_settings(retries=3), backend=model)
    with pytest.raises(TypeError, match="tempreature"):
        gw.complete("hello")
    assert len(model.calls) == 0  # raised once, not retried


def test_a_programming_error_inside_litellm_propagates_as_itself(server: FakeOpenAI) -> None:
    # litellm maps every exception raised inside its call to its own types (this
    # TypeError arrives as an InternalServerError, HTTP 500, which would be retried).
    gw = make_gateway(server, retries=3, cache=False)
    with pytest.raises(TypeError, match="JSON serializable"):
        gw.complete("hello", seed=object())
    assert server.requests == [] and gw.waits == []


def test_a_refused_connection_is_still_a_model_call_error() -> None:
    with socket.socket() as sock:  # a loopback port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = load_settings(
        model="openai/fake", api_base=f"http://127.0.0.1:{port}/v1", retries=1, cache=False
    )
    gw = Gateway(settings)
    gw._sleep = lambda seconds: asyncio.sleep(0)
    with pytest.raises(ModelCallError) as info:
        gw.complete("anyone?", prompt_tokens_at_most=10)
    assert info.value.attempts == 2


# --- token counting --------------------------------------------------------------------
LONG_WORDS = "antidisestablishmentarianism floccinaucinihilipilification"


def test_a_failing_tokenize_warns_once_and_the_server_is_asked_again(server: FakeOpenAI) -> None:
    gw = make_gateway(server)
    assert gw.count_tokens("one two") == 2  # probed: the server's tokenizer
    server.fail_tokenize(2)
    with pytest.warns(RuntimeWarning, match="approximate") as caught:
        approximate = gw.count_tokens(LONG_WORDS)
        gw.count_tokens("three four five")
    assert len(caught) == 1  # once per outage, not per call
    assert approximate > 2  # litellm's cl100k count of two long words
    # the server answers again: asked again, and the approximate count was not memoised
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gw.count_tokens(LONG_WORDS) == 2
    assert gw.endpoint.counter.source == "server:llamacpp"
    # a later outage warns again
    server.fail_tokenize(1)
    with pytest.warns(RuntimeWarning, match="approximate"):
        gw.count_tokens("six seven")


def test_a_failing_probe_is_not_taken_for_a_server_without_tokenize(server: FakeOpenAI) -> None:
    gw = make_gateway(server)
    server.fail_tokenize(1)
    with pytest.warns(RuntimeWarning, match="approximate"):
        gw.count_messages([{"role": "user", "content": LONG_WORDS}])
    assert gw.endpoint.counter.source == "unprobed"
    assert gw.count_tokens(LONG_WORDS) == 2
    assert gw.endpoint.counter.source == "server:llamacpp"


def test_a_server_that_lacks_tokenize_uses_litellm_without_warning(server: FakeOpenAI) -> None:
    server.fail_tokenize(10, status=404)
    gw = make_gateway(server)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gw.count_tokens(LONG_WORDS) > 2
    assert gw.endpoint.counter.source == "litellm"


def test_token_counter_retries_a_server_down_at_the_first_count(server: FakeOpenAI) -> None:
    counter = TokenCounter("openai/fake", server.base_url, kind="llamacpp", timeout=5)
    server.fail_tokenize(1)
    with pytest.warns(RuntimeWarning, match=re.escape(server.base_url)):
        counter.count(LONG_WORDS)
    assert counter.count(LONG_WORDS) == 2


# --- one concurrency bound per gateway ---------------------------------------------------
async def test_one_bound_across_event_loops_and_threads(server: FakeOpenAI) -> None:
    # The server holds each request until 3 are in flight (or 0.3 s pass). Calls
    # come at once from the caller's loop, the gateway's sync portal loop and a
    # thread running its own loop (as the memory's portal does): with a bound of
    # 2 per gateway, 3 are never in flight.
    server.hold_until_inflight = 3
    gw = make_gateway(server, max_concurrency=2, cache=False)

    async def batch(tag: str) -> list[str]:
        replies = await asyncio.gather(*(gw.acomplete(f"{tag}{i}") for i in range(3)))
        return [r.text for r in replies]

    other: list[list[str]] = []
    thread = threading.Thread(target=lambda: other.append(asyncio.run(batch("t"))))
    thread.start()
    mine, portal = await asyncio.gather(batch("a"), asyncio.to_thread(gw.run_sync, batch("p")))
    await asyncio.to_thread(thread.join)
    assert mine == ["echo: a0", "echo: a1", "echo: a2"]
    assert portal == ["echo: p0", "echo: p1", "echo: p2"] and other[0][2] == "echo: t2"
    assert len(server.requests) == 9
    assert server.max_in_flight == 2
    gw.close()


async def until(condition: Callable[[], bool]) -> None:
    """Yield to the loop (and the server's threads) until ``condition`` holds."""
    while not condition():
        await asyncio.sleep(0.005)


async def test_a_slot_handed_to_a_cancelled_waiter_is_passed_on() -> None:
    bound = ConcurrencyBound(1)
    await bound.acquire()
    waiter = asyncio.create_task(bound.acquire())
    await asyncio.wait_for(until(lambda: bound.waiting == 1), 10)
    bound.release()  # the slot is on its way to the waiter...
    waiter.cancel()  # ...which is gone before it arrives
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await asyncio.wait_for(bound.acquire(), 10)  # passed on, not lost
    assert bound.waiting == 0


async def test_a_cancelled_waiter_gives_its_slot_on(server: FakeOpenAI) -> None:
    server.script(Action("hang"))
    gw = make_gateway(server, max_concurrency=1, cache=False, request_timeout=30)
    hanging = asyncio.create_task(gw.acomplete("hang", prompt_tokens_at_most=5))
    await asyncio.wait_for(until(lambda: bool(server.requests)), 10)  # the one slot is taken
    waiting = asyncio.create_task(gw.acomplete("cancel me", prompt_tokens_at_most=5))
    await asyncio.wait_for(until(lambda: gw._bound.waiting == 1), 10)
    waiting.cancel()
    hanging.cancel()
    await asyncio.gather(waiting, hanging, return_exceptions=True)
    server.release_hangs()
    reply = await asyncio.wait_for(gw.acomplete("after", prompt_tokens_at_most=5), 10)
    assert reply.text == "echo: after"
    assert [r["messages"][-1]["content"] for r in server.requests] == ["hang", "after"]


# --- litellm's process-wide settings --------------------------------------------------------
def test_a_call_leaves_litellm_process_settings_alone(server: FakeOpenAI) -> None:
    import litellm

    from longdoc.agents.gateway import _litellm

    before = litellm.drop_params
    litellm.drop_params = False  # the user's own choice (litellm's default)
    _litellm.litellm.cache_clear()  # configure afresh, as on the first call of a process
    try:
        assert make_gateway(server).complete("hi").text == "echo: hi"
        assert litellm.drop_params is False
    finally:
        litellm.drop_params = before


# --- Retry-After as an HTTP date -------------------------------------------------------------
def test_429_honours_retry_after_given_as_an_http_date(server: FakeOpenAI) -> None:
    when = email.utils.formatdate(time.time() + 60, usegmt=True)
    server.script(Action("status", status=429, retry_after=when))
    gw = make_gateway(server, retry_max_wait=120.0)
    assert gw.complete("wait for me").attempts == 2
    # the date has one-second resolution: about 60 s, never more
    assert len(gw.waits) == 1 and 50.0 < gw.waits[0] <= 60.0


def test_a_retry_after_date_is_capped_by_retry_max_wait(server: FakeOpenAI) -> None:
    when = email.utils.formatdate(time.time() + 3600, usegmt=True)
    server.script(Action("status", status=429, retry_after=when))
    gw = make_gateway(server, retry_max_wait=5.0)
    assert gw.complete("wait for me").attempts == 2
    assert gw.waits == [5.0]


# --- decoding defaults of the local model ------------------------------------------------------
def local_gateway(server: FakeOpenAI, **overrides: Any) -> Gateway:
    """A gateway for ``local`` whose endpoint is the fake server (no embedded model)."""
    gw = Gateway(load_settings(model="local", **overrides))
    counter = TokenCounter("openai/fake", server.base_url, kind="llamacpp", timeout=5)
    gw._endpoint = Endpoint("openai/fake", server.api_base, "sk-local", "local-weights", counter)
    return gw


def test_local_decoding_parameters_are_sent_per_call_and_key_the_cache(
    server: FakeOpenAI,
) -> None:
    gw = local_gateway(server)
    assert not gw.complete("write on").cached
    sent = server.requests[-1]
    assert (sent["repeat_penalty"], sent["dry_multiplier"]) == (1.3, 0.0)
    assert gw.complete("write on").cached  # temperature 0 with these parameters: cached
    assert len(server.requests) == 1
    # other decoding parameters are another call, not a hit on the first one's answer
    dry = local_gateway(server, local_repeat_penalty=1.1, local_dry_multiplier=0.8)
    assert not dry.complete("write on").cached
    sent = server.requests[-1]
    assert (sent["repeat_penalty"], sent["dry_multiplier"]) == (1.1, 0.8)
    # a caller's own extra_body is kept beside them, and wins on a shared key
    gw.complete("more", extra_body={"repeat_penalty": 1.0, "top_k": 5})
    assert (server.requests[-1]["repeat_penalty"], server.requests[-1]["top_k"]) == (1.0, 5)


def test_other_models_get_no_local_decoding_parameters(server: FakeOpenAI) -> None:
    make_gateway(server).complete("hello")
    assert "repeat_penalty" not in server.requests[-1]
    assert "dry_multiplier" not in server.requests[-1]


@pytest.mark.parametrize(
    ("name", "value"), [("local_repeat_penalty", 0.5), ("local_dry_multiplier", -1.0)]
)
def test_local_decoding_settings_are_validated(name: str, value: float) -> None:
    assert getattr(load_settings(**{name: 1.2}), name) == 1.2
    with pytest.raises(ConfigError) as info:
        load_settings(**{name: value})
    assert info.value.problems[0][0].startswith(name)


def repeats(text: str) -> tuple[int, float]:
    """Duplicate sentences, and the share of distinct word trigrams."""
    sentences = [s.strip().lower() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if s.strip()]
    words = text.lower().split()
    trigrams = [tuple(words[i : i + 3]) for i in range(len(words) - 2)]
    return len(sentences) - len(set(sentences)), len(set(trigrams)) / max(1, len(trigrams))


@pytest.mark.slow
def test_the_repeat_penalty_reaches_the_embedded_llama_cpp() -> None:
    # Greedy, one thread, one slot: deterministic. Not a quality check: only that the
    # parameter reaches llama.cpp's sampler and changes what the greedy loop repeats.
    prompt = [
        {"role": "system", "content": "You are a careful technical writer."},
        {
            "role": "user",
            "content": "Write the section 'Why rivers flood' of a report on river "
            "management, about 150 words, in plain prose.",
        },
    ]
    found = {}
    for penalty in (1.0, 1.3):
        settings = load_settings(
            local_threads=1, max_concurrency=1, cache=False, local_repeat_penalty=penalty
        )
        with Gateway(settings) as gw:
            found[penalty] = repeats(gw.complete(prompt, max_tokens=200).text)
    (greedy_dups, greedy_distinct), (dups, distinct) = found[1.0], found[1.3]
    assert dups < greedy_dups and distinct > greedy_distinct
