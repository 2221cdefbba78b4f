"""Every example script runs as shipped, against the fake OpenAI server, and prints its results.

Each example reads ``LONGDOC_MODEL`` / ``LONGDOC_API_BASE`` like any user program, so the
test points them at the fake server and runs the script's ``main()`` in-process (a
subprocess would add the imports of litellm and torch to every run for no extra path
tested). The scripted roles check what each call is shown.
"""

from __future__ import annotations

import ast
import re
import runpy
import sys
from pathlib import Path
from typing import Any

import pytest
from claims_support import Roles, chain_role, evidence_role, fake_server, memory_role

from longdoc.testing.writer import ExactWriter

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
BOOK = EXAMPLES / "data" / "persuasion_ch1-2.txt"


def run_example(name: str, monkeypatch: pytest.MonkeyPatch, *args: str) -> None:
    """Run ``examples/<name>``'s ``main()`` with ``args`` on its command line."""
    path = EXAMPLES / name
    monkeypatch.setattr(sys, "argv", [str(path), *args])
    runpy.run_path(str(path), run_name="example")["main"]()


def test_every_example_is_tested() -> None:
    tested = {"quickstart.py", "memory_chat.py", "cited_answers.py", "long_report.py"}
    tested |= {"book_qa.py", "book_summary.py", "codebase_qa.py", "code_map.py"}
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


def quickstart_role(request: dict[str, Any]) -> str:
    system, user = request["messages"][0]["content"], request["messages"][-1]["content"]
    if '"Book"' in system:  # the schema of the structured call
        assert "Name a novel by Jane Austen." in user
        return 'Here it is: {"title": "Persuasion", "author": "Jane Austen"}'
    if user.startswith("Define '"):
        return f"A definition of {user.split(chr(39))[1]}."
    assert user == "In one sentence, why do long documents need chunking?"
    return "Because they do not fit in the context window."


def test_quickstart(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    roles = Roles(quickstart_role)
    with fake_server(monkeypatch, roles):
        run_example("quickstart.py", monkeypatch)
    *lines, usage = capsys.readouterr().out.splitlines()
    assert lines == [
        "model: openai/fake",
        "complete: Because they do not fit in the context window.",
        "tokens in that reply: 9",  # the fake server's tokenizer: one token per word
        "structured: title='Persuasion' author='Jane Austen'",
        "async: A definition of chapter.",
        "async: A definition of summary.",
    ]
    found = re.fullmatch(r"usage: 4 calls, (\d+) tokens, [\d.]+ s; per stage: \['default'\]", usage)
    assert found is not None and int(found[1]) > 0 and len(roles.requests) == 4


@pytest.mark.slow
def test_memory_chat_and_its_second_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    roles = Roles(memory_role)
    with fake_server(monkeypatch, roles, context_window="2048", max_output_tokens="128"):
        run_example("memory_chat.py", monkeypatch)
        first = capsys.readouterr().out.splitlines()
        run_example("memory_chat.py", monkeypatch)  # the session is kept under the data dir
        second = capsys.readouterr().out.splitlines()
    assert first[:6] == [
        "user: Hi! My gym locker code is 4417.",
        "model: I do not remember.",  # nothing was remembered before the first message
        "user: I am reading Persuasion by Jane Austen this month.",
        "model: Your code is 4417.",
        "user: My sister lives in Bath.",
        "model: Your code is 4417.",
    ]
    assert re.fullmatch(r"model: Your code is 4417\. \(\d+ context tokens\)", first[6])
    recalled = [line for line in first if line.startswith("  recalled episode ")]
    assert len(recalled) == 2
    fact_turn = "  recalled episode 0: 'User: Hi! My gym locker code is 4417."
    assert any(line.startswith(fact_turn) for line in recalled)
    assert first[-1] == "3 items remembered; level-1 summary: 'Summary through item 2.'"
    # The second run finds three items and asks straight away; nothing new is remembered.
    assert second[0] == first[6] and second[-1] == first[-1]


@pytest.mark.slow
def test_cited_answers(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def roles_for_book(request: dict[str, Any]) -> str | None:
        return evidence_role(request, "Baronetage", "The Baronetage.")

    roles = Roles(roles_for_book)
    with fake_server(monkeypatch, roles, context_window="2048", max_output_tokens="128"):
        run_example("cited_answers.py", monkeypatch)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "The Baronetage."
    text = BOOK.read_text(encoding="utf-8")
    cites = [
        re.fullmatch(r"  \[(F\d+)\] (\S+) chars (\d+)-(\d+): (.*)", line) for line in out[1:-1]
    ]
    assert cites and all(cites)
    for match in cites:
        _fact, doc_id, start, end, quote = match.groups()
        assert doc_id == BOOK.name and "Baronetage" in text[int(start) : int(end)]
        assert text[int(start) : int(end)] == ast.literal_eval(quote)  # printed as its repr
    found = re.fullmatch(
        r"evidence: (\d+) extracted, (\d+) verified, 0 dropped; (\d+) calls", out[-1]
    )
    assert found is not None and int(found[2]) >= len(cites) >= 1


@pytest.mark.slow
def test_long_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    writer = ExactWriter(plan=lambda words: [words // 2, words - words // 2])

    def writer_role(request: dict[str, Any]) -> str:
        user = request["messages"][-1]["content"]
        if "writer of one section" in request["messages"][0]["content"]:
            assert '<excerpt id="S1-' in user  # grounded: the writer is shown passages of the book
        return writer(request["messages"], request)

    monkeypatch.chdir(tmp_path)  # it writes report.md into the working directory
    roles = Roles(writer_role)
    with fake_server(monkeypatch, roles, context_window="8192", max_output_tokens="512"):
        run_example("long_report.py", monkeypatch)  # its default: 400 words
    [line] = capsys.readouterr().out.splitlines()
    found = re.fullmatch(
        r"400 words for 400 \(S_l 100\.0\), (\d+) sections, (\d+) calls -> report\.md", line
    )
    assert found is not None and int(found[1]) == len(writer.written) == 2
    assert int(found[2]) == len(roles.requests)
    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert all(text in report for _, text in writer.written)
    assert writer.roles[0] == "planner" and writer.roles.count("writer") == 2


@pytest.mark.slow
def test_book_qa_routes_each_question(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def book_roles(request: dict[str, Any]) -> str | None:
        found = evidence_role(request, "Baronetage", "The Baronetage.")
        return found or chain_role(request, "Notes: debts, retrenchment.", "They let the Hall.")

    with fake_server(monkeypatch, Roles(book_roles), context_window="2048"):
        run_example("book_qa.py", monkeypatch)
    out = capsys.readouterr().out.splitlines()
    routes = [line.split(";")[0] for line in out if line.startswith("route: ")]
    assert routes == ["route: reason (local)", "route: chain (global)"]
    answers = [line for line in out if line.startswith("A: ")]
    assert answers == ["A: The Baronetage.", "A: They let the Hall."]
    text = BOOK.read_text(encoding="utf-8")
    cites = [re.fullmatch(r"  \[F\d+\] (\S+) chars (\d+)-(\d+): .*", x) for x in out if "[F" in x]
    assert cites and all(c and "Baronetage" in text[int(c[2]) : int(c[3])] for c in cites)


@pytest.mark.slow
def test_book_summary(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    roles = Roles(lambda request: chain_role(request, "Notes so far.", "A summary."))
    with fake_server(monkeypatch, roles, context_window="2048"):
        run_example("book_summary.py", monkeypatch)
    out = capsys.readouterr().out.splitlines()
    found = re.fullmatch(r"-- (\d+) parts read, (\d+) calls, \d+ tokens", out[-1])
    assert out[0] == "A summary." and found is not None
    assert int(found[2]) == int(found[1]) + 1 == len(roles.requests)  # workers + the manager


@pytest.mark.slow
def test_codebase_qa_cites_files_and_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    roles = Roles(lambda request: evidence_role(request, "rank", "By reciprocal rank fusion."))
    with fake_server(monkeypatch, roles, context_window="4096"):
        run_example("codebase_qa.py", monkeypatch)
    out = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"retrieval: \d+ files, \d+ chunks indexed", out[0])
    assert "A: By reciprocal rank fusion." in out
    repo = EXAMPLES.parent / "retrieval"
    cites = [re.fullmatch(r"  \[F\d+\] retrieval/(\S+):(\d+)(?:-(\d+))?: '(.*)'", x) for x in out]
    cites = [c for c in cites if c]
    assert cites
    for c in cites:  # the first line with words of each quote is on the cited lines
        lines = (repo / c[1]).read_text(encoding="utf-8").splitlines()
        cited = lines[int(c[2]) - 1 : int(c[3] or c[2])]
        assert any(c[4] in line for line in cited)


def code_map_role(request: dict[str, Any]) -> str | None:
    """File, folder and repository summaries of a code map, each naming what it read."""
    system, user = request["messages"][0]["content"], request["messages"][-1]["content"]
    if system.startswith("You write one entry of a code map"):
        path = re.search(r'<file path="([^"]+)"', user)
        return f"File {path[1] if path else '?'}."
    if "the summary of one folder" in system:
        return "A folder."
    if system.startswith("You write the opening of a code map"):
        return "The code-map workflow."
    return chain_role(request, "Notes.", "A big file.")


def test_code_map_and_its_second_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # it writes code_map.md into the working directory
    roles = Roles(code_map_role)
    with fake_server(monkeypatch, roles, context_window="8192", cache="false"):
        run_example("code_map.py", monkeypatch)
        first = capsys.readouterr().out.splitlines()
        calls = len(roles.requests)
        run_example("code_map.py", monkeypatch)  # nothing changed: every summary is reused
        second = capsys.readouterr().out.splitlines()
    shipped = sorted(p.name for p in (EXAMPLES.parent / "workflows" / "codemap").glob("*.py"))
    found = re.fullmatch(
        rf"-- {len(shipped)} files, 1 folders: (\d+) summarized, 0 reused; (\d+) calls -> "
        r"code_map\.md",
        first[-1],
    )
    assert first[0] == "The code-map workflow." and found is not None
    assert int(found[2]) == calls and len(roles.requests) == calls  # the re-run made no call
    assert second[-1].endswith(f"0 summarized, {int(found[1])} reused; 0 calls -> code_map.md")
    markdown = (tmp_path / "code_map.md").read_text(encoding="utf-8")
    assert all(f"File {name}." in markdown for name in shipped)
