"""Many questions at once: ``ask_many`` / ``astream_many`` and ``longdoc ask --questions``."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import longdoc
from longdoc.agents.gateway import Gateway
from longdoc.cli import main
from longdoc.config import load_settings
from longdoc.testing.fake_openai import FakeOpenAI
from longdoc.testing.scripted import ScriptedModel

REPO = Path(__file__).resolve().parent.parent
SHORT = "Anne walks to the shore. The sea is grey. Wentworth waits by the wall."
LONG = "\n\n".join(f"Paragraph {i}. " + "Words go on and on. " * 40 for i in range(8))


def _question_of(messages: list[dict[str, Any]]) -> str | None:
    """Which ``Q<n>?`` a request is about (every strategy puts the question in its prompt)."""
    text = " ".join(str(m.get("content", "")) for m in messages)
    words = text.replace("<", " ").replace(">", " ").split()
    found = [w for w in words if w[:1] == "Q" and w.endswith("?")]
    return found[0] if found else None


@pytest.fixture
def server(server: FakeOpenAI) -> FakeOpenAI:
    server.responder = lambda r: f"answer to {_question_of(r['messages'])}"
    return server


def test_results_come_back_in_input_order_though_they_finish_out_of_it() -> None:
    q2_received = asyncio.Event()

    async def respond(messages: Any, params: Any) -> str:
        question = _question_of(messages)
        if question == "Q0?":
            await q2_received.wait()  # Q0 finishes only after Q2's record came: out of order
        return f"answer to {question}"

    model = ScriptedModel(respond)
    settings = load_settings(context_window=1024, max_output_tokens=64, max_concurrency=3)
    items = [longdoc.BatchItem(question=f"Q{i}?", text=SHORT, id=f"item{i}") for i in range(3)]
    with Gateway(settings, backend=model) as gateway:

        async def finishing_order() -> list[int]:
            order = []
            async for r in longdoc.astream_many(items, strategy="vanilla", gateway=gateway):
                order.append(r.index)
                if r.index == 2:
                    q2_received.set()
            return order

        order = gateway.run_sync(finishing_order())
        records = longdoc.ask_many(items, strategy="vanilla", gateway=gateway)
    assert order.index(2) < order.index(0) and sorted(order) == [0, 1, 2]
    assert [r.index for r in records] == [0, 1, 2]
    assert [r.id for r in records] == ["item0", "item1", "item2"]
    assert [r.result.answer for r in records if r.result] == [f"answer to Q{i}?" for i in range(3)]


def test_each_items_usage_is_its_own_though_the_items_overlap() -> None:
    started: list[str] = []
    all_started = asyncio.Event()

    async def respond(messages: Any, params: Any) -> str:
        started.append(str(_question_of(messages)))
        if len(started) == 3:
            all_started.set()
        await all_started.wait()  # all three calls are in flight together
        return "answer " + "word " * (3 + len(started))

    model = ScriptedModel(respond)
    settings = load_settings(context_window=1024, max_output_tokens=64, max_concurrency=3)
    items = [longdoc.BatchItem(question=f"Q{i}?", text=SHORT) for i in range(3)]
    with Gateway(settings, backend=model) as gateway:
        records = longdoc.ask_many(items, strategy="vanilla", gateway=gateway)
        total = gateway.usage().total
    usages = [r.result.usage.total for r in records if r.result]
    assert [u.calls for u in usages] == [1, 1, 1]
    assert sum(u.prompt_tokens for u in usages) == total.prompt_tokens
    assert sum(u.completion_tokens for u in usages) == total.completion_tokens


def test_one_items_model_error_is_its_record_and_the_others_finish(server: FakeOpenAI) -> None:
    server.fail_status = lambda r: 400 if _question_of(r["messages"]) == "Q1?" else None
    items: list[Any] = [{"question": f"Q{i}?", "text": LONG} for i in range(4)]
    items[3]["strategy"] = "vanilla"
    records = longdoc.ask_many(items, strategy="chain")
    assert [r.ok for r in records] == [True, False, True, True]
    error = records[1].error
    assert error is not None and error.type == "ModelCallError"
    assert error.data["status_code"] == 400 and "HTTP 400" in error.message
    assert records[0].result is not None and records[0].result.strategy == "chain"
    assert records[3].result is not None and records[3].result.strategy == "vanilla"
    assert records[2].result is not None and records[2].result.answer == "answer to Q2?"


def test_items_in_flight_never_exceed_the_gateways_bound_and_reach_it(
    server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LONGDOC_MAX_CONCURRENCY", "3")
    server.hold_until_inflight, server.hold_timeout = 3, 5.0  # overlap requests if let
    items = [{"question": f"Q{i}?", "text": SHORT} for i in range(9)]
    records = longdoc.ask_many(items, strategy="vanilla", max_items_in_flight=9)
    assert all(r.ok for r in records) and len(server.requests) == 9
    assert server.max_in_flight == 3


def test_an_invalid_item_is_a_typed_record_and_the_rest_run() -> None:
    model = ScriptedModel(lambda messages, params: "an answer")
    settings = load_settings(context_window=1024, max_output_tokens=64)
    items: list[Any] = [
        {"question": "Q0?", "text": SHORT},
        {"question": "Q1?", "text": SHORT, "path": "x.txt"},
        {"question": "Q2?", "text": SHORT, "colour": "red"},
    ]
    with Gateway(settings, backend=model) as gateway:
        records = longdoc.ask_many(items, strategy="vanilla", gateway=gateway)
    assert [r.ok for r in records] == [True, False, False]
    assert records[1].error is not None and records[1].error.type == "BatchInputError"
    assert "at most one of doc, path or text" in records[1].error.message
    assert records[2].error is not None and records[2].error.data["line"] == 2
    assert "colour" in records[2].error.data["problem"] and len(model.calls) == 1


def test_closing_the_stream_early_cancels_the_items_in_flight() -> None:
    async def respond(messages: Any, params: Any) -> str:
        if _question_of(messages) != "Q0?":
            await asyncio.Event().wait()  # never answers: only cancellation ends it
        return "an answer"

    model = ScriptedModel(respond)
    settings = load_settings(context_window=1024, max_output_tokens=64)
    items = [{"question": f"Q{i}?", "text": SHORT} for i in range(5)]
    with Gateway(settings, backend=model) as gateway:

        async def first_then_stop() -> tuple[int, int]:
            stream = longdoc.astream_many(items, strategy="vanilla", gateway=gateway)
            first = await anext(stream)
            await stream.aclose()
            left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            return first.index, len([t for t in left if not t.done()])

        first, still_running = gateway.run_sync(first_then_stop())
    assert first == 0 and still_running == 0
    assert len(model.calls) == 1  # the cancelled calls never returned a reply


# --- the command line --------------------------------------------------------------------------
def _write_questions(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_malformed_line_is_reported_by_number_and_the_rest_run(
    server: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    questions = _write_questions(
        tmp_path / "q.jsonl",
        [
            json.dumps({"question": "Q0?", "text": SHORT, "id": "first"}),
            '{"question": "Q1?", "text": ',
            json.dumps({"text": SHORT}),
            json.dumps({"question": "Q3?", "text": SHORT}),
        ],
    )
    out = tmp_path / "a.jsonl"
    args = ["ask", "--questions", str(questions), "--out", str(out), "--strategy", "vanilla"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "line 2: not JSON" in err and "line 3: question: Field required" in err
    assert "2 answered" in err and "2 bad line(s)" in err
    records = {r["line"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert records[1]["answer"] == "answer to Q0?" and records[1]["id"] == "first"
    assert records[4]["answer"] == "answer to Q3?" and records[4]["error"] is None
    assert records[2]["error"]["type"] == "BatchInputError" and records[2]["answer"] is None
    assert records[1]["usage"]["calls"] == 1 and records[1]["strategy"] == "vanilla"


def test_questions_cannot_be_mixed_with_a_single_question(
    server: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    questions = _write_questions(tmp_path / "q.jsonl", [json.dumps({"question": "Q0?"})])
    out = str(tmp_path / "a.jsonl")
    assert main(["ask", "Q?", "--questions", str(questions), "--out", out]) == 2
    assert "QUESTION" in capsys.readouterr().err
    assert main(["ask", "--questions", str(questions)]) == 2
    assert "--out" in capsys.readouterr().err
    assert server.requests == []


def test_a_batch_killed_mid_run_resumes_without_asking_a_finished_item_again(
    server: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    q3_arrived, release = threading.Event(), threading.Event()

    def respond(request: dict[str, Any]) -> str:
        question = _question_of(request["messages"])
        if question == "Q3?" and not release.is_set():
            q3_arrived.set()
            release.wait(60)  # held until the client is killed
        return f"answer to {question}"

    server.responder = respond
    strategies = ["chain", "vanilla", "chain", "vanilla", "chain"]
    lines = [
        json.dumps({"question": f"Q{i}?", "text": LONG, "strategy": s})
        for i, s in enumerate(strategies)
    ]
    questions, out = _write_questions(tmp_path / "q.jsonl", lines), tmp_path / "a.jsonl"
    cli = ["ask", "--questions", str(questions), "--out", str(out), "--items-in-flight", "1"]
    env = {**os.environ, "LONGDOC_MAX_CONCURRENCY": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "longdoc", *cli], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert q3_arrived.wait(120), "the batch never reached its fourth item"
        proc.kill()  # SIGKILL: no handler runs, nothing is flushed on the way out
        proc.wait(30)
    finally:
        release.set()
    finished = {json.loads(line)["question"] for line in out.read_text().splitlines()}
    assert finished == {"Q0?", "Q1?", "Q2?"}  # items answer one at a time, in order

    before = len(server.requests)
    assert main(cli) == 0
    asked_again = {_question_of(r["messages"]) for r in server.requests[before:]}
    assert asked_again == {"Q3?", "Q4?"}  # no finished item asked again
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["line"] for r in records) == [1, 2, 3, 4, 5]
    assert "2 answered, 3 already answered (skipped), 0 failed" in capsys.readouterr().err

    before = len(server.requests)
    assert main(cli) == 0 and len(server.requests) == before  # all answered: nothing asked
