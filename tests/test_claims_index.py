"""Questions to the whole index (no document named): rag and reason draw on every document.

Real index (Chroma, sentence-transformers, BM25), the real CLI and gateway over HTTP to the
fake OpenAI server; only the model's replies are scripted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from claims_support import Roles, evidence_role, fake_server

from longdoc.cli import main

pytestmark = pytest.mark.slow

QUESTION = "Where do the bees live?"
LEEDS = "The Leeds bees live in a white hive on the flat roof of the old library."
BATH = "The Bath bees live in a hollow oak tree beside the river Avon."


def filler(topic: str, n: int) -> str:
    return " ".join(f"The {topic} report for week {i} lists the usual figures." for i in range(n))


@pytest.fixture
def docs(tmp_path: Path) -> dict[str, Path]:
    """Two documents of several chunks each, the bees in the middle of each."""
    folder = tmp_path / "docs"
    folder.mkdir()
    paths = {}
    for name, fact, topic in (("leeds", LEEDS, "tram"), ("bath", BATH, "spa")):
        path = folder / f"{name}.txt"
        path.write_text(f"{filler(topic, 30)}\n\n{fact}\n\n{filler(topic + ' fund', 30)}\n")
        paths[name] = path
    return paths


def rag_role(request: dict[str, Any]) -> str | None:
    if not request["messages"][0]["content"].startswith("You answer from excerpts"):
        return None
    return "In a hive in Leeds and an oak in Bath."


def reason_roles(request: dict[str, Any]) -> str | None:
    return evidence_role(request, "bees live", "In a hive in Leeds and an oak in Bath.")


def test_rag_and_reason_without_a_document_use_every_indexed_document(
    docs: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    roles = Roles(rag_role, reason_roles)
    with fake_server(monkeypatch, roles, context_window="2048", max_output_tokens="128"):
        assert main(["ingest", str(docs["leeds"].parent)]) == 0
        capsys.readouterr()
        assert main(["index", "list"]) == 0
        listing = capsys.readouterr().out
        ids = {name: f"docs/{name}.txt" for name in docs}
        assert all(doc_id in listing for doc_id in ids.values())
        assert main(["ask", QUESTION, "--strategy", "rag", "--json"]) == 0
        rag = json.loads(capsys.readouterr().out)
        assert main(["ask", QUESTION, "--strategy", "reason", "--json"]) == 0
        reason = json.loads(capsys.readouterr().out)
    # rag: one call, whose excerpts hold the passage of each document
    [rag_prompt] = roles.prompts(rag_role)
    assert rag["strategy"] == "rag" and rag["answer"] == "In a hive in Leeds and an oak in Bath."
    assert LEEDS in rag_prompt and BATH in rag_prompt
    assert rag_prompt.count("<excerpt>") == rag["parts"] >= 2
    # reason: a verified citation from each document, its offsets slicing that file's text
    assert reason["strategy"] == "reason" and reason["facts_dropped"] == 0
    cites = reason["citations"]
    assert sorted(c["doc_id"] for c in cites) == sorted(ids.values())
    for cite in cites:
        name = Path(cite["doc_id"]).stem
        text = docs[name].read_text(encoding="utf-8")
        assert cite["source"] == str(docs[name].resolve())
        assert text[cite["char_start"] : cite["char_end"]] == cite["quote"]
        assert cite["quote"] == {"leeds": LEEDS, "bath": BATH}[name]
