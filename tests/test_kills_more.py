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
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kill_support import kill, spawn_cli, wait_until
from retrieval_support import write
from test_kills import HoldAt, _extract_or_reason, _notes, _prompt, _prose

from longdoc.cli import main
from longdoc.testing.fake_openai import FakeOpenAI
from longdoc.testing.writer import ExactWriter

pytestmark = pytest.mark.slow

Args = Callable[[Path], list[str]]
Output = Callable[[Path, str], Any]


def _kill_and_rerun(
    args: Args,
    output: Output,
    hold: HoldAt,
    points: list[int],
    server: FakeOpenAI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Run ``args(dir)`` uninterrupted, then killed at each of ``points``, then to the end.

    ``args`` and ``output`` take the run's folder (its data dir is ``dir/data``), so
    the reference and the killed run write different files; ``output(dir, stdout)``
    is what must be equal. ``points[i]`` is the request held in the ``i``-th killed run.
    """
    monkeypatch.setenv("LONGDOC_MAX_CONCURRENCY", "1")  # one request in flight: the held one
    server.responder = hold
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    for d in (ref, killed):
        d.mkdir()
    monkeypatch.setenv("LONGDOC_DATA_DIR", str(ref / "data"))
    capsys.readouterr()
    assert main(args(ref)) == 0
    reference = output(ref, capsys.readouterr().out)
    ref_calls = Counter(_prompt(r) for r in server.requests)
    assert len(server.requests) > sum(p - 1 for p in points)  # every kill lands before the end

    monkeypatch.setenv("LONGDOC_DATA_DIR", str(killed / "data"))
    finished: list[str] = []
    for at in points:
        start = len(server.requests)
        hold.n, hold.seen = at, 0
        hold.arrived.clear()
        hold.release.clear()
        proc = spawn_cli(args(killed), tmp_path)
        try:
            wait_until(hold.arrived.is_set, proc, f"model request {at}")
            kill(proc)
        finally:
            hold.release.set()
        done = [_prompt(r) for r in server.requests[start:]][:-1]  # the last one was held
        assert len(done) == at - 1 and not set(done) & set(finished)  # nothing finished twice
        finished += done

    hold.n = 0
    start = len(server.requests)
    assert main(args(killed)) == 0  # the same command again, to the end
    result = output(killed, capsys.readouterr().out)
    rerun = Counter(_prompt(r) for r in server.requests[start:])
    assert not set(finished) & set(rerun)  # no finished call asked again
    assert Counter(finished) + rerun == ref_calls  # and every other call asked once
    assert result == reference


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
    _kill_and_rerun(args, output, hold, [3], server, tmp_path, monkeypatch, capsys)


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
    _kill_and_rerun(args, output, hold, [2], server, tmp_path, monkeypatch, capsys)


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
    _kill_and_rerun(args, output, hold, [2, 4], server, tmp_path, monkeypatch, capsys)


# --- chat ---------------------------------------------------------------------------------------
def test_a_killed_chat_resumes_its_turn(
    server: FakeOpenAI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Killed while the first turn is remembered (its answer finished, its summary held):
    # the rerun finishes that turn. A turn already remembered is not replayed: sending
    # its message again is a new turn (a chat is not idempotent), so the kill is in turn 1.
    def args(_where: Path) -> list[str]:
        return ["chat", "--session", "s", "-m", "My locker code is 4417.", "-m", "And my name?"]

    def output(_where: Path, out: str) -> Any:
        capsys.readouterr()
        assert main(["memory", "show", "--session", "s", "--json", "--last", "10"]) == 0
        memory = json.loads(capsys.readouterr().out)
        recent = [(e["ordinal"], e["role"], e["text"]) for e in memory.pop("recent")]
        return out, recent, memory

    hold = HoldAt(_notes)
    _kill_and_rerun(args, output, hold, [2], server, tmp_path, monkeypatch, capsys)


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
    _kill_and_rerun(args, output, hold, [3, 4], server, tmp_path, monkeypatch, capsys)
