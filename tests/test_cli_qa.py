"""`longdoc ask` and `longdoc summarize` over real HTTP to the fake OpenAI server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from longdoc.cli import main
from longdoc.testing.fake_openai import FakeOpenAI


@pytest.fixture
def book(tmp_path: Path) -> Path:
    path = tmp_path / "book.txt"
    path.write_text("\n\n".join(f"Paragraph {i}. " + "Words go on and on. " * 60 for i in range(8)))
    return path


def test_ask_with_chain_prints_answer_and_usage(
    server: FakeOpenAI, book: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ask", "What happens?", "--file", str(book), "--strategy", "chain"]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == "notes or answer"
    assert "chain:" in out.err and "calls" in out.err
    workers = [r for r in server.requests if "<document_part" in r["messages"][-1]["content"]]
    assert len(workers) >= 2 and len(server.requests) == len(workers) + 1


def test_rerunning_the_same_ask_repeats_no_call(
    server: FakeOpenAI, book: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chain = ["--strategy", "chain"]
    assert main(["ask", "What happens?", "--file", str(book), *chain]) == 0
    sent = len(server.requests)
    capsys.readouterr()
    assert main(["ask", "What happens?", "--file", str(book), *chain, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(server.requests) == sent
    assert result["resumed"] is True and result["usage"]["total"]["calls"] == 0


def test_summarize_and_vanilla(
    server: FakeOpenAI, book: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["summarize", str(book), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["task"] == "summary" and result["strategy"] == "chain"
    assert main(["ask", "Q?", "--file", str(book), "--strategy", "vanilla", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["strategy"] == "vanilla" and result["parts"] == 3  # head, gap, tail


def test_ask_needs_a_document(server: FakeOpenAI, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "What happens?"]) == 2
    assert "--doc ID or --file PATH" in capsys.readouterr().err


def test_missing_file_is_a_clear_error(
    server: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.txt"
    assert main(["ask", "Q?", "--file", str(missing)]) == 2
    assert "nope.txt" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "flag", "strategy"),
    [
        (["--strategy", "vanilla", "--run-id", "mine"], "--run-id", "vanilla"),
        (["--strategy", "vanilla", "--direction", "both"], "--direction", "vanilla"),
        (["--strategy", "chain", "--candidates", "3"], "--candidates", "chain"),
        (["--strategy", "reason", "--show-notes"], "--show-notes", "reason"),
        (["--strategy", "chain", "--show-dropped"], "--show-dropped", "chain"),
        (["--strategy", "rag"], "--file", "rag"),
    ],
)
def test_a_flag_the_strategy_does_not_use_is_one_error_line(
    server: FakeOpenAI,
    book: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    flag: str,
    strategy: str,
) -> None:
    assert main(["ask", "Q?", "--file", str(book), *args]) == 2
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert err.startswith("error: ") and err.count("error:") == 1 and "Traceback" not in err
    assert flag in err and f"{strategy} strategy" in err
    assert server.requests == []  # refused before any call


def test_summarize_rejects_a_chain_flag_with_vanilla(
    server: FakeOpenAI, book: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["summarize", str(book), "--strategy", "vanilla", "--notes-tokens", "99"]) == 2
    assert "--notes-tokens" in capsys.readouterr().err and server.requests == []


def test_answer_tokens_caps_the_vanilla_answer(
    server: FakeOpenAI, book: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["ask", "Q?", "--file", str(book), "--strategy", "vanilla", "--answer-tokens", "17"]
    assert main(argv) == 0
    [request] = server.requests
    assert request.get("max_tokens", request.get("max_completion_tokens")) == 17
