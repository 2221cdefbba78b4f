"""strategy="auto": fits -> direct, global -> chain, local -> reason, escalation, estimates."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

import longdoc
from longdoc.agents.gateway import Gateway
from longdoc.api import aroute, astream_ask
from longdoc.cli import main
from longdoc.config import load_settings
from longdoc.testing.fake_openai import FakeOpenAI
from longdoc.testing.scripted import ScriptedModel
from longdoc.workflows.base import ProgressEvent
from longdoc.workflows.results import (
    AskResult,
    AutoResult,
    ChainResult,
    ReasonResult,
    VanillaResult,
)
from longdoc.workflows.route import rule_scope

SHORT = "Anne Elliot lived at Kellynch Hall. Her father was Sir Walter."
LONG = "\n\n".join(f"Paragraph {i}. " + "Words go on and on. " * 30 for i in range(12))
LOCAL = "Which town did the captain visit?"


def is_extraction(messages: list[dict[str, str]]) -> bool:
    return '"sentences"' in messages[0]["content"] + messages[-1]["content"]


def is_route_call(messages: list[dict[str, str]]) -> bool:
    return "Classify the question" in messages[-1]["content"]


def fill(messages: list[dict[str, str]], params: dict[str, Any]) -> str:
    """Every free-text reply reaches its cap (the estimates' upper bound); no evidence found."""
    if is_route_call(messages):
        return json.dumps({"scope": "local"})
    if is_extraction(messages):
        return json.dumps({"sentences": []})
    return "w " * 5000


def gateway_for(respond: Any, **settings: Any) -> tuple[Gateway, ScriptedModel]:
    model = ScriptedModel(respond)
    base = {"context_window": 1024, "max_output_tokens": 64, **settings}
    return Gateway(load_settings(**base), backend=model), model


def run_auto(gateway: Gateway, question: str | None, **kw: Any) -> tuple[AutoResult, list[Any]]:
    async def collect() -> list[Any]:
        return [i async for i in astream_ask(question, gateway=gateway, **kw)]

    items = gateway.run_sync(collect())
    result = items[-1]
    assert isinstance(result, AutoResult)
    return result, [i for i in items if isinstance(i, ProgressEvent)]


def test_a_document_that_fits_gets_one_direct_call_with_the_whole_text() -> None:
    gateway, model = gateway_for(lambda m, p: "Kellynch Hall")
    result = longdoc.ask("Where did Anne live?", text=SHORT, gateway=gateway)
    assert isinstance(result, AutoResult) and (result.route.method, result.route.why) == (
        "direct", "fits"
    )  # fmt: skip
    [call] = model.calls
    assert SHORT in call.messages[-1]["content"] and "omitted" not in call.messages[-1]["content"]
    assert isinstance(result.result, VanillaResult) and result.result.parts == 1
    assert result.answer == "Kellynch Hall" and result.route.calls == 1


def test_a_global_question_over_a_long_text_reads_it_with_the_chain() -> None:
    gateway, model = gateway_for(fill)
    result, events = run_auto(gateway, "Summarize the whole document.", text=LONG)
    assert (result.route.method, result.route.why, result.route.classifier) == (
        "chain", "global", "rules"
    )  # fmt: skip
    assert isinstance(result.result, ChainResult) and result.first is None
    workers = [c for c in model.calls if "<document_part" in c.messages[-1]["content"]]
    assert len(workers) == result.parts >= 2 and len(model.calls) == len(workers) + 1
    assert result.route.document_tokens > gateway.context_window
    assert any(e.stage == "route" and "chain (global)" in e.message for e in events)


def test_a_local_question_with_evidence_is_answered_by_reason_not_the_chain() -> None:
    def respond(messages: list[dict[str, str]], params: dict[str, Any]) -> str:
        if is_route_call(messages):
            assert LOCAL in messages[-1]["content"]  # the router is shown the question
            return json.dumps({"scope": "local"})
        if is_extraction(messages):
            tag = re.search(r'<excerpt id="(P\d+)">', messages[-1]["content"])
            assert tag is not None
            found = {"chunk": tag.group(1), "sentence": "Words go on and on."}
            return json.dumps({"sentences": [found]})
        return json.dumps({"answer": "Nowhere.", "fact_ids": ["F1"]})

    gateway, model = gateway_for(respond, route_classifier="llm")
    result, _ = run_auto(gateway, LOCAL, text=LONG)
    assert (result.route.method, result.route.why, result.route.classifier) == (
        "reason", "local", "llm"
    )  # fmt: skip
    assert isinstance(result.result, ReasonResult) and result.result.citations
    assert not any("<document_part" in c.messages[-1]["content"] for c in model.calls)
    # Estimates: calls exact (extractions + reasoner); tokens an upper bound.
    estimate = result.route.estimates["reason"]
    assert estimate.calls == result.result.usage.total.calls
    assert result.result.usage.total.total_tokens <= estimate.tokens


def test_reason_without_verified_evidence_escalates_to_the_chain_and_keeps_its_work() -> None:
    gateway, model = gateway_for(fill, route_classifier="llm")
    result, events = run_auto(gateway, LOCAL, text=LONG)
    assert (result.route.method, result.route.why, result.route.scope) == (
        "chain", "escalated", "local"
    )  # fmt: skip
    assert isinstance(result.first, ReasonResult) and result.first.citations == []
    assert isinstance(result.result, ChainResult)
    assert any("escalating to chain" in e.message for e in events)
    extractions = [c for c in model.calls if is_extraction(c.messages)]
    assert len(extractions) == result.first.parts >= 1
    # Usage covers both runs (the router's own call is outside them).
    both = result.first.usage.total.calls + result.result.usage.total.calls
    assert result.usage.total.calls == both == result.route.calls == len(model.calls) - 1


def test_not_found_setting_answers_not_found_without_the_chain() -> None:
    gateway, model = gateway_for(fill, route_classifier="llm", route_on_no_evidence="not-found")
    result, _ = run_auto(gateway, LOCAL, text=LONG)
    assert (result.route.method, result.route.why) == ("reason", "local")
    assert result.first is None and result.answer == gateway.settings.reason_not_found
    assert not any("<document_part" in c.messages[-1]["content"] for c in model.calls)


@pytest.mark.parametrize(
    ("question", "text", "method"),
    [("Where did Anne live?", SHORT, "direct"), ("Summarize the whole document.", LONG, "chain"),
     (None, LONG, "chain")],
)  # fmt: skip
def test_dry_run_estimates_equal_what_the_run_spends(
    question: str | None, text: str, method: str
) -> None:
    gateway, model = gateway_for(fill)
    planned = gateway.run_sync(aroute(question, text=text, gateway=gateway))
    assert model.calls == [] and planned.method == method  # estimating calls no model
    result, _ = run_auto(gateway, question, text=text)
    spent = result.usage.total
    assert planned.estimates[method].calls == spent.calls == len(model.calls)
    assert planned.estimates[method].tokens == spent.total_tokens  # replies fill their caps


def test_auto_passes_each_option_to_the_method_that_uses_it() -> None:
    gateway, model = gateway_for(fill)
    result, _ = run_auto(gateway, "Summarize the whole document.", text=LONG, k=3, notes_tokens=40)
    workers = [c for c in model.calls if "<document_part" in c.messages[-1]["content"]]
    assert result.route.method == "chain" and {c.params["max_tokens"] for c in workers} == {40}


def test_an_auto_result_reads_back_as_itself() -> None:
    gateway, _ = gateway_for(fill)
    result, _ = run_auto(gateway, "Summarize the whole document.", text=LONG)
    back = TypeAdapter(AskResult).validate_python(result.model_dump())
    assert isinstance(back, AutoResult) and back == result


@pytest.mark.parametrize(
    ("question", "scope"),
    [("Summarize the whole meeting.", "global"),
     ("What are the main themes of the book?", "global"),
     ("How does Emma change over the novel?", "global"),
     ("How many times is Bath mentioned?", "global"),
     (None, "global"), ("Summarize the discussion about the budget.", None),
     ("Who does Anne marry?", None)],
)  # fmt: skip
def test_rules_mark_clear_global_questions_and_leave_the_rest(
    question: str | None, scope: str | None
) -> None:
    assert rule_scope(question) == scope


@pytest.mark.slow
def test_the_embedding_classifier_on_fixed_questions() -> None:
    from longdoc.workflows.route import embedding_scope

    questions = {
        "What was the general discussion of the meeting?": "global",
        "What did the project manager say about the budget of the remote control?": "local",
        "Summarize the discussion about the user interface design.": "local",
        "Why did the marketing expert disagree with the industrial designer?": "local",
    }
    assert embedding_scope(list(questions)) == list(questions.values())


@pytest.mark.slow
def test_a_local_question_is_routed_to_reason_by_the_default_classifier() -> None:
    gateway, _ = gateway_for(fill, route_on_no_evidence="not-found")
    result, _ = run_auto(gateway, "What did the captain say about the ship's name?", text=LONG)
    assert (result.route.method, result.route.classifier) == ("reason", "embedding")


def test_cli_dry_run_prints_every_estimate_and_calls_no_model(
    server: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = tmp_path / "book.txt"
    book.write_text(LONG)
    assert main(["ask", "Summarize the whole document.", "--file", str(book), "--dry-run"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert server.requests == [] and "route: chain (global)" in out
    with Gateway(load_settings()) as gateway:
        question = "Summarize the whole document."
        planned = gateway.run_sync(aroute(question, path=book, gateway=gateway))
    for name, estimate in planned.estimates.items():
        assert f"{name} │ {estimate.calls} │ {estimate.tokens}" in out


def test_cli_prints_the_route_after_the_answer(
    server: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = tmp_path / "book.txt"
    book.write_text(SHORT)
    assert main(["ask", "Where did Anne live?", "--file", str(book)]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == "notes or answer" and len(server.requests) == 1
    assert "route: direct (fits)" in out.err
