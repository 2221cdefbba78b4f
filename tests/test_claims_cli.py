"""What the README says the CLI does, over real HTTP to the fake OpenAI server.

``longdoc chat`` and ``longdoc memory read|show``, ``longdoc write --memory-session`` and
``longdoc summarize`` on a code folder: each run goes through the real CLI, gateway and
litellm; only the model is scripted, and it checks what each role is shown.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from claims_support import Roles, fake_server, memory_role

from longdoc.cli import main
from longdoc.testing.writer import ExactWriter

PART = re.compile(r'<document_part index="(\d+)" of="(\d+)">\n(.*)\n</document_part>', re.S)
FACT = "By the way, my gym locker code is 4417."
QUESTION = "What is my gym locker code?"


def book_text() -> str:
    """About 700 words in paragraphs, with no four-digit number (the answerer looks for one)."""
    return "\n\n".join(
        f"Chapter {i}. "
        + " ".join(f"Anne walked to the village and back, day {i}." for _ in range(9))
        for i in range(8)
    )


@pytest.mark.slow
def test_chat_remembers_its_turns_and_memory_read_adds_the_documents_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    roles = Roles(memory_role)
    book = tmp_path / "book.txt"
    book.write_text(book_text(), encoding="utf-8")
    chat = ["chat", "--session", "s", "--answer-tokens", "32", "-m", FACT, "-m", QUESTION]
    read = ["memory", "read", str(book), "--session", "s"]
    with fake_server(monkeypatch, roles, context_window="2048", max_output_tokens="64"):
        assert main(chat) == 0
        lines = capsys.readouterr().out.splitlines()
        # The first answer had nothing to recall; the second found the first turn.
        assert lines[0] == "I do not remember." and lines[2] == "Your code is 4417."
        assert re.fullmatch(r"context \d+ tokens", lines[1]) and lines[3].startswith("context")
        assert main(read) == 0
        report = re.search(
            r"read (\d+) chunk\(s\), (\d+) new, resumed=False", capsys.readouterr().out
        )
        assert report is not None
        chunks = int(report[1])
        assert chunks >= 3 and int(report[2]) == chunks
        summarized = len(roles.prompts(memory_role))
        assert main(read) == 0  # read again: every chunk is known, no summarizer call
        assert f"read {chunks} chunk(s), 0 new" in capsys.readouterr().out
        assert len(roles.prompts(memory_role)) == summarized
        assert main(["memory", "show", "--session", "s", "--json", "--last", "100"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["session_id"] == "s" and shown["items"] == 2 + chunks
    recent = shown["recent"]
    assert [e["ordinal"] for e in recent] == list(range(2 + chunks))
    assert [e["role"] for e in recent] == ["turn", "turn"] + ["document"] * chunks
    assert recent[0]["text"] == f"User: {FACT}\nAssistant: I do not remember."
    assert recent[1]["text"] == f"User: {QUESTION}\nAssistant: Your code is 4417."
    assert " ".join(e["text"] for e in recent[2:]).split() == book_text().split()
    assert shown["level1"] == f"Summary through item {1 + chunks}."  # every item summarized
    capsys.readouterr()
    assert main(["memory", "show", "--session", "s"]) == 0  # the human-readable form
    out = capsys.readouterr().out
    assert f"session s: {2 + chunks} items" in out and f"#1 turn User: {QUESTION}" in out


def exact_writer_role(writer: ExactWriter) -> Any:
    def writer_role(request: dict[str, Any]) -> str:
        return writer(request["messages"], request)

    return writer_role


@pytest.mark.slow
def test_write_with_a_memory_session_remembers_one_episode_per_leaf(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    writer = ExactWriter()  # three sections of 300 words: each planned again into subsections
    roles = Roles(memory_role, exact_writer_role(writer))
    out = tmp_path / "guide.md"
    task = "A field guide to the birds of a small island."
    argv = ["write", task, "--words", "900", "--max-leaf-words", "200"]
    argv += ["--memory-session", "report-1", "-o", str(out), "--json"]
    with fake_server(monkeypatch, roles, context_window="8192", max_output_tokens="512"):
        assert main(argv) == 0
        result = json.loads(capsys.readouterr().out)
        assert main(["memory", "show", "--session", "report-1", "--json", "--last", "100"]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert main(["chat", "--session", "report-1", "-m", "What did the last section say?"]) == 0
    leaves = result["sections"]
    assert len(leaves) > 3 and "subplanner" in writer.roles  # leaves, not the top sections
    assert "summary" not in writer.roles  # the memory's summaries replace the writer's own
    assert shown["items"] == len(leaves) == len(writer.written)
    episodes = shown["recent"]
    assert [e["role"] for e in episodes] == ["section"] * len(leaves)
    for episode, leaf, (path, text) in zip(episodes, leaves, writer.written, strict=True):
        assert episode["source"] == leaf["title"] and path.endswith(leaf["title"])
        assert episode["text"] == f"{leaf['title']}\n\n{text}"  # verbatim
    assert shown["level1"].startswith("Summary through item")
    # The chat afterwards answers from that memory: the last section is in its context.
    [chat_prompt] = [p for p in roles.prompts(memory_role) if "<question>" in p]
    assert " ".join(writer.written[-1][1].split()) in " ".join(chat_prompt.split())
    assert out.read_text(encoding="utf-8").count("\n### ") == len(leaves)


APP = '''"""A tiny key-value store with a command line."""

import json
from pathlib import Path


class Store:
    """Keeps string values in a JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data = json.loads(path.read_text()) if path.exists() else {}

    def put(self, key: str, value: str) -> None:
        """Remember a value and save the file."""
        self.data[key] = value
        self.path.write_text(json.dumps(self.data))

    def get(self, key: str) -> str | None:
        """The value of a key, or None."""
        return self.data.get(key)
'''
FUNCTIONS = [
    f'''

def command_{i}(store, args):
    """Handle sub-command number {i}: store the arguments under key {i}."""
    if not args:
        raise SystemExit("command_{i} needs arguments")
    store.put("key{i}", " ".join(args))
    return store.get("key{i}")
'''
    for i in range(30)
]


def test_summarize_a_code_folder_reads_code_parts_for_a_code_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "kv"
    (root / "kv").mkdir(parents=True)
    (root / "kv" / "store.py").write_text(APP, encoding="utf-8")
    (root / "kv" / "commands.py").write_text("".join(FUNCTIONS), encoding="utf-8")
    (root / "NOTES.md").write_text("# kv\n\nA toy store.\n", encoding="utf-8")
    parts: list[tuple[int, int, str]] = []

    def worker(request: dict[str, Any]) -> str | None:
        system, user = request["messages"][0]["content"], request["messages"][-1]["content"]
        if not system.startswith("You are one worker in a chain of agents"):
            return None
        assert "Keep a running summary of the code so far" in user and "<question>" not in user
        found = PART.search(user)
        assert found is not None
        index = int(found[1])
        if index > 1:  # each worker is handed the notes of the one before
            assert f"Notes after part {index - 1}:" in user
        parts.append((index, int(found[2]), found[3]))
        return f"Notes after part {found[1]}: a Store class and command functions."

    def manager(request: dict[str, Any]) -> str | None:
        system, user = request["messages"][0]["content"], request["messages"][-1]["content"]
        if not system.startswith("You are the manager"):
            return None
        assert "Describe what this code does" in user and "<document_part" not in user
        assert f"Notes after part {len(parts)}:" in user  # the last worker's notes
        return "A JSON-file key-value store with thirty sub-commands."

    roles = Roles(worker, manager)
    with fake_server(monkeypatch, roles, context_window="1024", max_output_tokens="64"):
        assert main(["summarize", str(root), "--strategy", "chain", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["task"] == "code" and result["strategy"] == "chain" and result["query"] is None
    assert result["answer"] == "A JSON-file key-value store with thirty sub-commands."
    total = len(parts)
    assert total >= 2 and result["parts"] == total
    assert [(i, n) for i, n, _ in parts] == [(i, total) for i in range(1, total + 1)]
    text = "\n".join(p for _, _, p in parts)
    for name in ("store.py", "commands.py", "NOTES.md"):
        assert re.search(rf"^=== file: \S*{re.escape(name)} ===$", text, re.M), name
    assert "class Store:" in text and all(f"def command_{i}(" in text for i in range(30))
