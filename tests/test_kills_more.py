"""Real kills of the other commands: ``ask --strategy auto``, ``write``, ``chat``, batch ``ask``.

Issue 16, section 1, beside tests/test_kills.py (whose responders and ``HoldAt`` are
reused): each command runs once uninterrupted (the reference, its own data dir), then
in a CLI process SIGKILLed while the fake server holds its ``N``-th model request (so
``N - 1`` calls finished), then again to completion. Required: no finished model call
asked again (counted on the server), every other call asked once, and the final
output equal to the reference's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kill_support import HoldAt, kill_and_rerun
from retrieval_support import write
from test_kills import _extract_or_reason, _notes, _prose

from longdoc.cli import main
from longdoc.testing.fake_openai import FakeOpenAI
from longdoc.testing.writer import ExactWriter

pytestmark = pytest.mark.slow


def _answer(_where: Path, out: str) -> Any:
    data = json.loads(out)
    return data["answer"], data.get("citations"), data["route"]["method"], data["route"]["why"]


# --- ask --strategy auto ------------------------------------------------------------------------
def test_a_killed_auto_run_that_chose_the_chain_resumes(
    server: FakeOpenAI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    book = write(tmp_path / "book.txt", _prose("violins", 80))
    question = "What are the main themes of the whole survey?"  # a global rule: the chain

    def args(_where: Path) -> list[str]:
        return ["ask", question, "--file", str(book), "--strategy", "auto", "--json"]

    def output(where: Path, out: str) -> Any:
        assert json.loads(out)["route"]["method"] == "chain"
        return _answer(where, out)

    hold = HoldAt(_notes)
    kill_and_rerun(args, output, hold, [3], server, tmp_path, monkeypatch, capsys)


def test_a_killed_auto_run_that_chose_reason_resumes(
    server: FakeOpenAI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    book = write(tmp_path / "book.txt", _prose("beetles", 60))
    question = "How many beetles did observers count near station 7?"  # a local fact

    def args(_where: Path) -> list[str]:
        return ["ask", question, "--file", str(book), "--strategy", "auto", "--json"]

    def output(where: Path, out: str) -> Any:
        assert json.loads(out)["route"]["method"] == "reason"
        return _answer(where, out)

    hold = HoldAt(_extract_or_reason)
    kill_and_rerun(args, output, hold, [2], server, tmp_path, monkeypatch, capsys)


# --- write --------------------------------------------------------------------------------------
def _writer(request: dict[str, Any]) -> str:
    """The scripted writer, fresh per request: its replies depend on the prompt alone."""
    return ExactWriter()(request["messages"], request)


def test_a_write_killed_twice_resumes_to_the_same_document(
    server: FakeOpenAI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LONGDOC_MAX_OUTPUT_TOKENS", "400")

    def args(where: Path) -> list[str]:
        return ["write", "A report on ferries.", "--words", "600", "--max-leaf-words", "200",
                "-o", str(where / "out.md"), "--json"]  # fmt: skip

    def output(where: Path, out: str) -> Any:
        sections = [(s["id"], s["title"], s["words"]) for s in json.loads(out)["sections"]]
        assert len(sections) >= 3
        return (where / "out.md").read_text(encoding="utf-8"), sections

    hold = HoldAt(_writer)
    kill_and_rerun(args, output, hold, [2, 4], server, tmp_path, monkeypatch, capsys)


# --- chat ---------------------------------------------------------------------------------------
def test_a_killed_chat_resumes_its_turn(
    server: FakeOpenAI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Killed while the first turn is remembered (its answer finished, its summary held):
    # the rerun finishes that turn (kills after a finished turn: the test below).
    def args(_where: Path) -> list[str]:
        return ["chat", "--session", "s", "-m", "My locker code is 4417.", "-m", "And my name?"]

    def output(_where: Path, out: str) -> Any:
        capsys.readouterr()
        assert main(["memory", "show", "--session", "s", "--json", "--last", "10"]) == 0
        memory = json.loads(capsys.readouterr().out)
        recent = [(e["ordinal"], e["role"], e["text"]) for e in memory.pop("recent")]
        return out, recent, memory

    hold = HoldAt(_notes)
    kill_and_rerun(args, output, hold, [2], server, tmp_path, monkeypatch, capsys)


_TWO_TURNS = ["chat", "--session", "s", "-m", "My locker code is 4417.", "-m", "And my name?"]


def _chat_output(capsys: pytest.CaptureFixture[str]) -> Any:
    def output(_where: Path, out: str) -> Any:
        capsys.readouterr()
        assert main(["memory", "show", "--session", "s", "--json", "--last", "10"]) == 0
        memory = json.loads(capsys.readouterr().out)
        recent = [(e["ordinal"], e["role"], e["text"]) for e in memory.pop("recent")]
        assert [role for _, role, _ in recent] == ["turn", "turn"]  # each turn remembered once
        return out, recent, memory

    return output


def test_a_chat_killed_after_a_finished_turn_replays_it(
    server: FakeOpenAI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Request 3 is turn 2's answer: killed right after turn 1 finished (answered,
    # remembered, printed). The rerun replays turn 1 with no call and is killed again
    # during turn 2 (its answer finished, its summary held, request 2 of that run).
    hold = HoldAt(_notes)
    kill_and_rerun(
        lambda _w: _TWO_TURNS, _chat_output(capsys), hold, [3, 2], server, tmp_path,
        monkeypatch, capsys,
    )  # fmt: skip


def test_a_finished_sitting_not_closed_is_replayed_and_a_closed_one_is_not(
    server: FakeOpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    from longdoc.agents.gateway import Gateway
    from longdoc.workflows.chat import MemoryChat

    server.responder = _notes
    messages = _TWO_TURNS[4::2]
    with Gateway() as gateway:
        chat = MemoryChat("s", gateway)
        sitting = chat.sitting()  # never closed: as if killed after its last answer
        first = [sitting.send(m) for m in messages]
        calls = len(server.requests)
        assert not any(r.restored for r in first)

        replayed = [chat.sitting().send(m) for m in messages[:1]]  # a new sitting, same start
        assert len(server.requests) == calls  # no model call
        assert [(r.answer, r.episode, r.restored) for r in replayed] == [
            (first[0].answer, first[0].episode, True)
        ]

    capsys.readouterr()
    assert main(_TWO_TURNS) == 0  # the CLI replays the whole sitting, then closes it
    out, err = capsys.readouterr()
    assert len(server.requests) == calls
    assert [r.answer for r in first] == out.splitlines()[::2]
    assert err.count("restored from the interrupted sitting") == 2

    assert main(_TWO_TURNS[:5]) == 0  # closed: the same message again is a new turn
    assert len(server.requests) > calls
    assert "restored" not in capsys.readouterr().err
    assert main(["memory", "show", "--session", "s", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["items"] == 3


# --- ask --questions ----------------------------------------------------------------------------
def test_a_killed_batch_resumes_without_repeating_a_finished_call(
    server: FakeOpenAI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    books = [write(tmp_path / f"{t}.txt", _prose(t, 40)) for t in ("whales", "comets", "tulips")]
    questions = tmp_path / "q.jsonl"
    items = [{"id": p.stem, "question": f"What differs among the {p.stem}?", "path": str(p)}
             for p in books]  # fmt: skip
    questions.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")

    def args(where: Path) -> list[str]:
        return ["ask", "--questions", str(questions), "--out", str(where / "a.jsonl"),
                "--strategy", "chain", "--items-in-flight", "1"]  # fmt: skip

    def output(where: Path, _out: str) -> Any:
        lines = (where / "a.jsonl").read_text(encoding="utf-8").splitlines()
        records = [json.loads(x) for x in lines if x.strip()]
        assert all(r["error"] is None for r in records)
        return sorted((r["id"], r["line"], r["answer"], r["strategy"]) for r in records)

    hold = HoldAt(_notes)
    kill_and_rerun(args, output, hold, [3, 4], server, tmp_path, monkeypatch, capsys)
