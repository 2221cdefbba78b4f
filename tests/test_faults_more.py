"""Injected faults (issue 16, section 2) for ``write`` and the batch: same outputs, retries counted.

Real HTTP throughout: the gateway talks to :class:`FaultProxy`, which forwards to the
fake OpenAI server (a scripted, deterministic upstream) or injects a fault instead.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from typing import Any

import pytest

import longdoc
from longdoc.agents.gateway import Gateway
from longdoc.config import load_settings
from longdoc.errors import TruncatedOutputError
from longdoc.testing.fake_openai import FakeOpenAI
from longdoc.testing.fault_proxy import FaultProxy
from longdoc.testing.reader import ExtractiveReader
from longdoc.testing.writer import ExactWriter

SCHEMA_MARK = "Reply with one JSON object that validates against this JSON schema"
REPAIR_MARK = "That reply is not valid:"


def _structured(body: bytes) -> bool:
    return SCHEMA_MARK.encode() in body or b'"response_format"' in body


class StructuredCutsProxy(FaultProxy):
    """The proxy, with ``length`` cuts only where a cut is a fault: a structured first reply.

    A plain reply cut by the length limit is an answer (tests/test_faults.py), so it
    would change the output; a cut repair fails loudly (tested below), so at random it
    would make the outcome depend on arrival order. Both become a 500 instead, counted as such.
    """

    def _draw(self, body: bytes) -> str | None:
        kind = super()._draw(body)
        if kind == "length" and (not _structured(body) or REPAIR_MARK.encode() in body):
            with self._lock:
                self.injected["length"] -= 1
                self.injected["500"] += 1
            return "500"
        return kind


class Once:
    """The upstream as a pure function of the prompt: the stateful scripted model is asked once.

    A faulted reply was still computed upstream (``truncated``, ``empty``, ``length``);
    its resend must get the same answer without advancing the model's state. A repair
    request gets the whole answer to the conversation it repairs.
    """

    def __init__(self, model: Callable[[list[dict[str, str]], dict[str, Any]], str]) -> None:
        self.model = model
        self.replies: dict[str, str] = {}
        self._lock = threading.Lock()

    def __call__(self, request: dict[str, Any]) -> str:
        messages = request["messages"]
        if len(messages) > 2 and messages[-2]["role"] == "assistant":
            messages = messages[:-2]
        key = json.dumps(messages, sort_keys=True)
        with self._lock:
            if key not in self.replies:
                self.replies[key] = self.model(messages, request)
            return self.replies[key]


def gateway_at(api_base: str, *, cache: bool, **overrides: Any) -> Gateway:
    settings = load_settings(
        model="openai/fake",
        api_base=api_base,
        request_timeout=1.0,  # a hang costs one second
        retries=3,
        cache=cache,
        retry_max_wait=5.0,
        **overrides,
    )
    gateway = Gateway(settings)
    gateway.waits = []  # type: ignore[attr-defined]

    async def record_wait(seconds: float) -> None:  # backoff is recorded, not slept
        gateway.waits.append(seconds)  # type: ignore[attr-defined]

    gateway._sleep = record_wait
    return gateway


def assert_every_fault_was_retried(gateway: Gateway, proxy: FaultProxy) -> None:
    """Each transient fault is one retry; a structured reply cut off is one repair call."""
    usage = gateway.usage()
    cut = proxy.injected["length"]
    assert usage.total.retries == proxy.total_injected - cut
    assert sum(s.calls for n, s in usage.stages.items() if n.endswith(":repair")) == cut
    assert usage.total.failures == 0


# --- write ----------------------------------------------------------------------------------
TASK = "Write a field guide to the birds of a small island."
PLAN = lambda words: [words // 3] * 3  # noqa: E731  (3 sections x 4 subsections of 500)
WRITE_SETTINGS: dict[str, Any] = {
    "context_window": 8192,
    "max_output_tokens": 1024,
    "writing_max_leaf_words": 500,
}


def run_write(api_base: str, upstream: FakeOpenAI, run_id: str, cache: bool) -> Any:
    upstream.responder = Once(ExactWriter(plan=PLAN))
    gateway = gateway_at(api_base, cache=cache, **WRITE_SETTINGS)
    with gateway:
        result = longdoc.write(TASK, words=6000, gateway=gateway, run_id=run_id)
    return result, gateway


def test_write_is_the_same_at_a_20_percent_fault_rate() -> None:
    upstream = FakeOpenAI().start()
    proxy = StructuredCutsProxy(upstream.base_url, rate=0.2, seed=3).start()
    try:
        clean, clean_gw = run_write(upstream.api_base, upstream, "clean", cache=False)
        clean_requests = len(upstream.requests)
        assert clean_gw.usage().total.retries == 0 and clean.words == 6000
        proxy.script("length")  # the planner's outline, cut off: repaired, never parsed
        faulty, gateway = run_write(proxy.api_base, upstream, "faulty", cache=True)
        assert faulty.markdown == clean.markdown and not faulty.resumed
        assert faulty.words == 6000 and len(faulty.sections) == 12
        assert proxy.total_injected >= 3 and proxy.injected["length"] >= 1
        assert_every_fault_was_retried(gateway, proxy)
        assert len(upstream.requests) - clean_requests >= clean_requests  # all went through it
        # The cache is keyed by model and URL: a healthy proxy keeps the faulty run's keys.
        proxy.rate = 0.0
        # its checkpoints hold only good replies: the finished run, no call
        before = len(upstream.requests)
        resumed, _ = run_write(proxy.api_base, upstream, "faulty", cache=True)
        assert resumed.markdown == clean.markdown and len(upstream.requests) == before
        # a new run from its cache: every good reply is replayed; the cut outline was never
        # stored (a structured call keeps no cut reply), so only it is asked again
        again, gateway = run_write(proxy.api_base, upstream, "again", cache=True)
        assert again.markdown == clean.markdown and len(upstream.requests) == before + 1
        assert gateway.usage().stages["planner"].cached_calls == 0
    finally:
        proxy.stop()
        upstream.stop()


def test_a_cut_outline_whose_repair_is_cut_too_fails_loudly_and_nothing_is_kept() -> None:
    upstream = FakeOpenAI().start()
    proxy = FaultProxy(upstream.base_url, rate=0.0).start()
    try:
        proxy.script("length", "length")  # the planner's outline and its repair
        with pytest.raises(TruncatedOutputError) as info:
            run_write(proxy.api_base, upstream, "cut", cache=True)
        assert info.value.finish_reason == "length"
        # the same run through the healed proxy (the same cache keys): nothing of the cut
        # replies was kept, so it is planned afresh and written whole
        proxy.rate = 0.0
        planner_calls = len(upstream.requests)
        result, gateway = run_write(proxy.api_base, upstream, "cut", cache=True)
        assert len(upstream.requests) > planner_calls and result.words == 6000
        assert gateway.usage().stages["planner"].cached_calls == 0
    finally:
        proxy.stop()
        upstream.stop()


# --- the batch --------------------------------------------------------------------------------
EXCERPT = re.compile(r'<excerpt id="(\w+)">\n(.*?)\n</excerpt>', re.S)


def story(n: int) -> str:
    return " ".join(
        f"Day {i} was quiet in village {n}. The keeper wrote entry {i}."
        + (f" The lighthouse of village {n} burned bright." if i % 60 == n else "")
        for i in range(200)
    )


READER = ExtractiveReader("lighthouse")


def batch_responder(request: dict[str, Any]) -> str:
    """Chain: the extractive reader; reason: each excerpt's first sentence, then the first fact.

    A repair request gets the whole answer to the conversation it repairs.
    """
    messages = request["messages"]
    if len(messages) > 2 and messages[-2]["role"] == "assistant":
        messages = messages[:-2]
    user = messages[-1]["content"]
    excerpts = EXCERPT.findall(user)
    if not excerpts:
        return READER(messages, request)
    if excerpts[0][0].startswith("F"):
        first = excerpts[0][1].split(". ")[0]
        return json.dumps({"answer": f"it burned: {first}", "facts": [excerpts[0][0]]})
    picked = [{"chunk": t, "sentence": text.split(". ")[0] + "."} for t, text in excerpts]
    return json.dumps({"sentences": picked})


ITEMS = [
    {"question": f"What did the lighthouse of village {n} do?", "text": story(n), "id": f"v{n}",
     "strategy": "chain" if n % 2 else "reason"}
    for n in range(1, 5)
]  # fmt: skip


def run_batch(api_base: str, cache: bool) -> tuple[list[Any], Gateway]:
    gateway = gateway_at(
        api_base, cache=cache, context_window=1024, max_output_tokens=96, max_concurrency=3
    )
    with gateway:
        records = longdoc.ask_many(ITEMS, gateway=gateway)
    return records, gateway


def answers(records: list[Any]) -> list[tuple[str | None, str]]:
    return [(r.id, str(r.result.answer) if r.result else repr(r.error)) for r in records]


def test_a_batch_answers_the_same_at_a_20_percent_fault_rate() -> None:
    upstream = FakeOpenAI(responder=batch_responder).start()
    proxy = StructuredCutsProxy(upstream.base_url, rate=0.2, seed=7).start()
    try:
        clean, clean_gw = run_batch(upstream.api_base, cache=False)
        assert all(r.ok for r in clean) and clean_gw.usage().total.retries == 0
        assert all("burned" in a for _, a in answers(clean))
        clean_requests = len(upstream.requests)
        faulty, gateway = run_batch(proxy.api_base, cache=True)
        assert answers(faulty) == answers(clean)
        assert proxy.total_injected >= 3
        assert_every_fault_was_retried(gateway, proxy)
        before = len(upstream.requests)
        assert before - clean_requests >= clean_requests  # every call went through the proxy
        # the items' checkpoints hold only good replies: a healthy re-run asks nothing
        proxy.rate = 0.0
        again, _ = run_batch(proxy.api_base, cache=True)
        assert answers(again) == answers(clean) and len(upstream.requests) == before
    finally:
        proxy.stop()
        upstream.stop()
