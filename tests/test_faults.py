"""Injected faults (issue 16, section 2): every transient fault is retried, none is an answer.

Real HTTP throughout: the gateway talks to :class:`FaultProxy`, which forwards to the
fake OpenAI server (a scripted, deterministic upstream) or injects a fault instead.
"""

from __future__ import annotations

import json
import logging
import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from gateway_support import make_gateway
from pydantic import BaseModel

import longdoc
from longdoc.agents.gateway import Gateway
from longdoc.config import load_settings
from longdoc.errors import (
    IncompleteReplyError,
    ModelCallError,
    ModelConnectionError,
    StructuredOutputError,
    TruncatedOutputError,
)
from longdoc.testing.fake_openai import FakeOpenAI
from longdoc.testing.fault_proxy import FAULT_KINDS, FaultProxy
from longdoc.testing.reader import ExtractiveReader


@pytest.fixture
def upstream() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI().start()
    yield fake
    fake.stop()


@pytest.fixture
def proxy(upstream: FakeOpenAI) -> Iterator[FaultProxy]:
    faults = FaultProxy(upstream.base_url, rate=0.0).start()
    yield faults
    faults.stop()


def chat_requests(server: FakeOpenAI) -> int:
    return len(server.requests)


# --- one fault at a time ---------------------------------------------------------------------
# "length" is absent: a plain-text reply cut by max_tokens is an answer (see below).
@pytest.mark.parametrize("kind", [k for k in FAULT_KINDS if k != "length"])
def test_each_transient_fault_is_retried_once(
    kind: str, proxy: FaultProxy, upstream: FakeOpenAI
) -> None:
    proxy.script(kind)
    gw = make_gateway(proxy, request_timeout=1.0, retries=3, cache=False)  # type: ignore[arg-type]
    reply = gw.complete("are you there", prompt_tokens_at_most=10)
    assert reply.text == "echo: are you there" and reply.finish_reason == "stop"
    assert reply.attempts == 2 and gw.usage().total.retries == 1
    assert proxy.injected == {kind: 1}


def test_a_429_waits_as_long_as_retry_after_asks(proxy: FaultProxy) -> None:
    proxy.retry_after = 7.0
    proxy.script("429")
    gw = make_gateway(proxy, retry_max_wait=30.0)  # type: ignore[arg-type]
    assert gw.complete("patience", prompt_tokens_at_most=10).attempts == 2
    assert gw.waits == [7.0]  # type: ignore[attr-defined]


def test_retries_stop_at_the_time_budget_before_the_count(proxy: FaultProxy) -> None:
    proxy.retry_after = 25.0
    proxy.max_per_prompt = None
    proxy.script(*["429"] * 10)
    gw = make_gateway(proxy, retries=10, retry_max_wait=30.0, retry_budget_seconds=60.0)  # type: ignore[arg-type]
    with pytest.raises(ModelCallError) as info:
        gw.complete("doomed", prompt_tokens_at_most=10)
    # 25 + 25 s waited; a third wait would pass the 60 s budget: give up, do not sleep.
    assert gw.waits == [25.0, 25.0] and info.value.attempts == 3  # type: ignore[attr-defined]
    assert info.value.status_code == 429


def test_a_timed_out_retry_says_it_resends_the_prompt(
    proxy: FaultProxy, caplog: pytest.LogCaptureFixture
) -> None:
    proxy.script("hang")
    gw = make_gateway(proxy, request_timeout=1.0, cache=False)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="longdoc.agents.gateway.client"):
        prompt = "one two three four five six seven"
        assert gw.complete(prompt, prompt_tokens_at_most=7).attempts == 2
    (record,) = [r for r in caplog.records if "timed out" in r.getMessage()]
    assert "resends a prompt of 7 tokens" in record.getMessage()


# --- a 200 that is no answer -------------------------------------------------------------------
def test_an_empty_reply_is_never_returned_nor_cached(
    proxy: FaultProxy, upstream: FakeOpenAI
) -> None:
    proxy.max_per_prompt = None
    proxy.script(*["empty"] * 4)
    gw = make_gateway(proxy, retries=3)  # type: ignore[arg-type]
    with pytest.raises(IncompleteReplyError) as info:
        gw.complete("say something", prompt_tokens_at_most=10)
    assert info.value.finish_reason == "stop" and info.value.text == ""
    assert info.value.attempts == 4 and "empty" in str(info.value)
    # the same call against a healthy server, with the same cache: asked, and answered
    healthy = make_gateway(upstream)
    reply = healthy.complete("say something", prompt_tokens_at_most=10)
    assert reply.text == "echo: say something" and not reply.cached


def test_a_plain_reply_cut_by_the_length_limit_is_an_answer_and_says_so(
    proxy: FaultProxy,
) -> None:
    proxy.script("length")
    reply = make_gateway(proxy).complete("one two three four", prompt_tokens_at_most=10)  # type: ignore[arg-type]
    assert reply.finish_reason == "length" and reply.text == "echo: one"


class Verdict(BaseModel):
    answer: str
    confidence: float


VERDICT = '{"answer": "yes it is", "confidence": 0.5}'


def test_a_structured_reply_cut_by_the_length_limit_is_repaired_never_parsed(
    proxy: FaultProxy, upstream: FakeOpenAI
) -> None:
    # cut in half, '{"answer": "yes' ... would not parse anyway; a cut that validates
    # is refused too: the proxy's cut keeps the first half of the words
    upstream.responder = lambda request: VERDICT
    proxy.script("length")
    gw = make_gateway(proxy, cache=False)  # type: ignore[arg-type]
    assert gw.structured("Is it?", Verdict) == Verdict(answer="yes it is", confidence=0.5)
    repair = upstream.requests[-1]["messages"]
    assert repair[-2]["role"] == "assistant" and "cut off" in repair[-1]["content"]
    assert gw.usage().stages["default:repair"].calls == 1


def test_a_structured_reply_cut_that_still_validates_is_not_accepted(
    proxy: FaultProxy, upstream: FakeOpenAI
) -> None:
    upstream.responder = lambda request: VERDICT + " " + "padding " * 8
    proxy.script("length", "length")  # the answer and its repair, cut after the JSON
    gw = make_gateway(proxy, cache=False)  # type: ignore[arg-type]
    with pytest.raises(TruncatedOutputError) as info:
        gw.structured("Is it?", Verdict)
    assert info.value.finish_reason == "length" and isinstance(info.value, StructuredOutputError)
    assert VERDICT in info.value.raw_text  # it would have validated


# --- what the wire says ----------------------------------------------------------------------
def test_a_refused_connection_is_one_line_naming_the_url() -> None:
    with socket.socket() as sock:  # a loopback port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    gw = Gateway(load_settings(model="openai/fake", api_base=url, retries=0, cache=False))
    with pytest.raises(ModelConnectionError) as info:
        gw.complete("anyone?", prompt_tokens_at_most=10)
    message = str(info.value)
    assert message.startswith(f"cannot connect to {url} (Connection refused")
    assert "\n" not in message and "500" not in message and "SSL" not in message
    assert info.value.url == url and info.value.reason == "Connection refused"


# --- whole workflows at a 20% fault rate -------------------------------------------------------
STORY = " ".join(
    f"Day {i} was quiet in the village. The keeper wrote entry {i}."
    + (" The lighthouse burned bright." if i % 60 == 0 else "")
    for i in range(300)
)
EXCERPT = re.compile(r'<excerpt id="(\w+)">\n(.*?)\n</excerpt>', re.S)


def reason_responder(request: dict[str, Any]) -> str:
    """Extractor: each excerpt's first sentence; reasoner: the first fact."""
    user = request["messages"][1]["content"]
    excerpts = EXCERPT.findall(user)
    if excerpts[0][0].startswith("F"):
        return json.dumps({"answer": "it burned bright", "facts": [excerpts[0][0]]})
    picked = [{"chunk": t, "sentence": text.split(". ")[0] + "."} for t, text in excerpts]
    return json.dumps({"sentences": picked})


def run_ask(api_base: str, strategy: str, cache: bool) -> tuple[str, Gateway]:
    settings = load_settings(
        model="openai/fake",
        api_base=api_base,
        context_window=512 if strategy == "chain" else 1024,
        max_output_tokens=96,
        max_concurrency=2,
        request_timeout=1.0,
        retries=3,
        cache=cache,
        retry_max_wait=0.05,
    )
    gateway = Gateway(settings)
    result = longdoc.ask(
        "What did the lighthouse do?", text=STORY, strategy=strategy, gateway=gateway
    )
    return str(result.answer), gateway  # type: ignore[union-attr]


@pytest.mark.parametrize("strategy", ["chain", "reason"])
def test_workflows_answer_the_same_at_a_20_percent_fault_rate(
    strategy: str, upstream: FakeOpenAI
) -> None:
    if strategy == "chain":
        reader = ExtractiveReader("lighthouse")
        upstream.responder = lambda request: reader(request["messages"], request)
        # plain-text notes cut by max_tokens are answers, not faults (tested above)
        kinds = tuple(k for k in FAULT_KINDS if k != "length")
    else:
        upstream.responder = reason_responder
        kinds = FAULT_KINDS
    clean, clean_gw = run_ask(upstream.api_base, strategy, cache=False)
    clean_requests = chat_requests(upstream)
    assert clean_gw.usage().total.retries == 0 and "burned bright" in clean
    proxy = FaultProxy(upstream.base_url, rate=0.2, kinds=kinds, seed=5).start()
    try:
        faulty, gateway = run_ask(proxy.api_base, strategy, cache=True)
    finally:
        proxy.stop()
    assert faulty == clean
    injected = proxy.total_injected
    assert injected >= 3  # the rate did inject faults
    usage = gateway.usage()
    # every transient fault is one retry; a structured reply cut by the length limit is
    # one repair call instead (a cut is the model's, not the wire's: not resent as it is)
    cut = proxy.injected["length"]
    assert usage.total.retries == injected - cut
    assert sum(s.calls for n, s in usage.stages.items() if n.endswith(":repair")) == cut
    assert usage.total.failures == 0
    # the cache holds only good answers: a healthy re-run from it asks nothing, same answer
    before = chat_requests(upstream)
    again, _ = run_ask(upstream.api_base, strategy, cache=True)
    assert again == clean and chat_requests(upstream) == before
    assert before - clean_requests >= clean_requests  # every call went through the proxy
