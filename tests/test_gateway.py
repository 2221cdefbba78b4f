"""The gateway against a real local HTTP server speaking the OpenAI chat API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from gateway_support import make_gateway
from pydantic import BaseModel

from longdoc.agents.gateway import Gateway
from longdoc.config import load_settings
from longdoc.errors import ContextWindowError, ModelCallError, StructuredOutputError
from longdoc.testing.fake_openai import Action, FakeOpenAI


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI().start()
    yield fake
    fake.stop()


def test_completion_and_ledger_per_stage(server: FakeOpenAI) -> None:
    gw = make_gateway(server)
    first = gw.complete("hello there", stage="worker")
    gw.complete("second prompt", stage="worker", temperature=0.5)
    gw.complete("third", stage="manager")
    assert first.text == "echo: hello there"
    assert first.prompt_tokens > 0 and first.completion_tokens == 3
    usage = gw.usage()
    assert usage.stages["worker"].calls == 2
    assert usage.stages["manager"].calls == 1
    assert usage.total.calls == 3 and usage.total.requests == 3
    assert usage.total.prompt_tokens == sum(s.prompt_tokens for s in usage.stages.values())
    # what went over the wire is the OpenAI chat shape, with our parameters
    sent = server.requests[0]
    assert sent["messages"] == [{"role": "user", "content": "hello there"}]
    assert sent["max_tokens"] == 512 and sent["temperature"] == 0


def test_retries_500_twice_then_succeeds(server: FakeOpenAI) -> None:
    server.script(Action("status", status=500), Action("status", status=500))
    gw = make_gateway(server, retries=3)
    result = gw.complete("persist")
    assert result.text == "echo: persist"
    assert result.attempts == 3
    assert len(server.requests) == 3
    assert gw.usage().total.retries == 2
    assert len(gw.waits) == 2 and all(0 < w <= 5.0 for w in gw.waits)


def test_429_honours_retry_after(server: FakeOpenAI) -> None:
    server.script(Action("status", status=429, retry_after=3.5))
    gw = make_gateway(server)
    assert gw.complete("wait for me").attempts == 2
    assert gw.waits == [3.5]


def test_gives_up_after_the_retry_budget(server: FakeOpenAI) -> None:
    server.script(*[Action("status", status=503)] * 3)
    gw = make_gateway(server, retries=2)
    with pytest.raises(ModelCallError) as info:
        gw.complete("doomed", stage="s1")
    assert info.value.attempts == 3 and info.value.status_code == 503
    assert info.value.__cause__ is not None
    assert gw.usage().stages["s1"].failures == 1


def test_client_errors_are_not_retried(server: FakeOpenAI) -> None:
    server.script(Action("status", status=400))
    gw = make_gateway(server, retries=3)
    with pytest.raises(ModelCallError) as info:
        gw.complete("bad input")
    assert info.value.attempts == 1 and info.value.status_code == 400
    assert len(server.requests) == 1


def test_a_hang_times_out_and_is_retried(server: FakeOpenAI) -> None:
    server.script(Action("hang"), Action("hang"))
    gw = make_gateway(server, request_timeout=0.5, retries=1)
    with pytest.raises(ModelCallError) as info:
        gw.complete("are you there")
    server.release_hangs()
    assert info.value.attempts == 2
    assert "Timeout" in type(info.value.__cause__).__name__
    assert len(server.requests) == 2


async def test_concurrency_never_exceeds_the_bound(server: FakeOpenAI) -> None:
    # The server holds each request until 4 are in flight (or 0.3 s pass), so
    # an unbounded client would reach 4; a bound of 3 must never get there.
    server.hold_until_inflight = 4
    gw = make_gateway(server, max_concurrency=3, cache=False)
    results = await asyncio.gather(*(gw.acomplete(f"q{i}") for i in range(10)))
    assert [r.text for r in results] == [f"echo: q{i}" for i in range(10)]
    assert server.max_in_flight == 3


def test_cache_hit_on_repeat_and_across_gateways(server: FakeOpenAI) -> None:
    gw = make_gateway(server)
    first = gw.complete("cache me", stage="a")
    again = gw.complete("cache me", stage="a")
    assert (first.cached, again.cached) == (False, True)
    assert again.text == first.text
    assert len(server.requests) == 1
    stage = gw.usage().stages["a"]
    assert (stage.calls, stage.cached_calls, stage.requests) == (2, 1, 1)
    # persistent: a new gateway (a re-run of the process) also hits
    assert make_gateway(server).complete("cache me").cached
    # a different parameter is a different call
    gw.complete("cache me", max_tokens=7)
    assert len(server.requests) == 2


def test_sampled_calls_and_disabled_cache_always_go_out(server: FakeOpenAI) -> None:
    gw = make_gateway(server)
    gw.complete("sampled", temperature=0.7)
    gw.complete("sampled", temperature=0.7)
    off = make_gateway(server, cache=False)
    off.complete("plain")
    off.complete("plain")
    assert len(server.requests) == 4


def test_window_overflow_fails_before_sending(server: FakeOpenAI) -> None:
    gw = make_gateway(server, context_window=300, max_output_tokens=100)
    with pytest.raises(ContextWindowError) as info:
        gw.complete(" ".join(["word"] * 250), max_tokens=100)
    err = info.value
    assert err.context_window == 300 and err.max_output_tokens == 100
    assert err.prompt_tokens >= 250
    assert str(err.prompt_tokens) in str(err) and "300" in str(err)
    assert server.requests == []


def test_token_counts_come_from_the_server_and_are_memoised(server: FakeOpenAI) -> None:
    gw = make_gateway(server)
    assert gw.count_tokens("one two three") == 3
    assert gw.endpoint.counter.source == "server:llamacpp"
    calls = server.tokenize_calls
    assert gw.count_tokens("one two three") == 3
    assert server.tokenize_calls == calls
    messages = [{"role": "user", "content": "one two three"}]
    assert gw.count_messages(messages) > 3  # template overhead counted


class Verdict(BaseModel):
    answer: str
    confidence: float


def test_structured_output_repairs_invalid_json_once(server: FakeOpenAI) -> None:
    server.script(
        Action("ok", text="Sure! {answer: yes"),
        Action("ok", text='```json\n{"answer": "yes", "confidence": 0.9}\n```'),
    )
    gw = make_gateway(server)
    verdict = gw.structured("Is it?", Verdict, stage="judge")
    assert verdict == Verdict(answer="yes", confidence=0.9)
    repair = server.requests[1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": "Sure! {answer: yes"}
    assert "not valid" in repair[-1]["content"]
    assert "confidence" in server.requests[0]["messages"][0]["content"]  # schema in prompt
    assert gw.usage().stages["judge:repair"].calls == 1


def test_structured_output_error_carries_the_raw_text(server: FakeOpenAI) -> None:
    server.script(Action("ok", text="no json here"), Action("ok", text='{"answer": "x"}'))
    gw = make_gateway(server)
    with pytest.raises(StructuredOutputError) as info:
        gw.structured("Is it?", Verdict)
    assert info.value.raw_text == '{"answer": "x"}'
    assert "confidence" in info.value.validation_error


def test_structured_output_valid_first_time_makes_one_call(server: FakeOpenAI) -> None:
    server.script(Action("ok", text=json.dumps({"answer": "ok", "confidence": 1})))
    gw = make_gateway(server, structured_mode="json_schema")
    assert gw.structured("q", Verdict).confidence == 1.0
    assert len(server.requests) == 1
    assert server.requests[0]["response_format"]["type"] == "json_schema"


async def test_sync_wrapper_works_inside_a_running_loop(server: FakeOpenAI) -> None:
    gw = make_gateway(server)
    assert gw.complete("from async code").text == "echo: from async code"
    assert (await gw.acomplete("and async")).text == "echo: and async"
    gw.close()


def test_hosted_vllm_uses_the_vllm_tokenizer_dialect(server: FakeOpenAI) -> None:
    server.dialect = "vllm"
    settings = load_settings(model="hosted_vllm/fake", api_base=server.api_base)
    gw = Gateway(settings)
    assert gw.count_tokens("one two three four") == 4
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    assert gw.count_messages(messages) == 3 + 2 * 5  # the server's chat-template count
    assert gw.endpoint.counter.source == "server:vllm"
    assert gw.complete("through litellm's vllm provider").text.startswith("echo:")
    assert server.requests[-1]["model"] == "fake"


def test_unknown_openai_compatible_server_is_probed(server: FakeOpenAI) -> None:
    server.dialect = "vllm"
    gw = make_gateway(server)  # openai/fake: dialect not known in advance
    assert gw.count_tokens("a b") == 2
    assert gw.endpoint.counter.source == "server:vllm"


def test_hosted_providers_count_with_litellm() -> None:
    gw = Gateway(load_settings(model="openai/gpt-4o-mini"))
    assert gw.endpoint.counter.source == "litellm"
    assert 1 <= gw.count_tokens("hello world") <= 3


def test_scripted_backend_keeps_window_cache_and_ledger() -> None:
    from longdoc.testing.scripted import ScriptedModel

    seen: list[int] = []

    def respond(messages: list, params: dict) -> str:
        seen.append(params["max_tokens"])
        return "one two three four five six"

    model = ScriptedModel(respond)
    gw = Gateway(load_settings(context_window=300, max_output_tokens=50), backend=model)
    reply = gw.complete("hello", max_tokens=4, stage="w")
    assert (reply.text, reply.finish_reason) == ("one two three four", "length")
    assert gw.complete("hello", max_tokens=4, stage="w").cached
    assert seen == [4] and len(model.calls) == 1
    assert gw.usage().stages["w"].cached_calls == 1
    with pytest.raises(ContextWindowError):
        gw.complete("word " * 290)
    assert "litellm" not in gw.endpoint.litellm_model


def test_a_proven_prompt_bound_skips_the_count_and_a_loose_one_does_not(
    server: FakeOpenAI,
) -> None:
    gw = make_gateway(server, context_window=300, max_output_tokens=100, cache=False)
    messages = [{"role": "user", "content": "one two three"}]
    gw.count_messages(messages)  # resolve the endpoint and warm the memo
    before = server.tokenize_calls
    reply = gw.complete("four five six", max_tokens=100, prompt_tokens_at_most=200)
    assert server.tokenize_calls == before  # the bound proved the fit: nothing counted
    assert reply.prompt_tokens > 0  # the ledger takes the server's own usage figure
    # A bound that does not prove the fit falls back to the exact count, and the
    # window check still refuses an overflowing prompt before sending.
    sent = len(server.requests)
    with pytest.raises(ContextWindowError):
        gw.complete(" ".join(["word"] * 250), max_tokens=100, prompt_tokens_at_most=260)
    assert server.tokenize_calls > before and len(server.requests) == sent
