"""Long-output writing end to end with the embedded SmolLM2 model (plumbing only, no quality claim).

Small on purpose: a 4,096-token window and short leaves, so each run is about a
minute on two cores. Run under ``flock /tmp/longdoc-heavy.lock``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from longdoc.agents.gateway import Gateway
from longdoc.cli import main
from longdoc.config import load_settings
from longdoc.workflows.writing.graph import LongWriter
from longdoc.workflows.writing.quality import count_words, length_score

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
BOOK = REPO / "examples" / "data" / "persuasion_ch1-2.txt"


def test_a_400_word_request_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "bees.md"
    argv = ["write", "Write a short guide to keeping bees in a city garden.", "--words", "400",
            "--max-leaf-words", "150", "--context-window", "4096", "-o", str(out),
            "--json"]  # fmt: skip
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    markdown = out.read_text(encoding="utf-8")
    assert markdown.startswith("# ") and markdown.count("\n## ") >= 1
    assert result["words"] == count_words(markdown) > 0
    # S_l counts a paragraph the guard could not remove once (the small model loops)
    assert result["length_score"] == pytest.approx(length_score(400, result["words_distinct"]))
    assert result["length_score_raw"] == pytest.approx(length_score(400, result["words"]))
    assert result["repeats_left"] == sum(len(s["repeats_left"]) for s in result["sections"])
    assert len(result["sections"]) >= 3 and all(s["budget"] <= 150 for s in result["sections"])
    stages = result["usage"]["stages"]
    assert stages["writer"]["requests"] == len(result["sections"])
    assert stages["planner"]["requests"] >= 1
    # the same command again: the finished run comes back without a call
    assert main(argv) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["usage"]["total"]["calls"] == 0 and again["resumed"]
    assert out.read_text(encoding="utf-8") == markdown


def test_writing_grounded_in_a_book_shows_the_writer_its_passages() -> None:
    settings = load_settings(
        context_window=4096,
        writing_max_leaf_words=150,
        writing_evidence_tokens=300,
        writing_summary_tokens=96,
    )
    writer = LongWriter(Gateway(settings))
    result = writer.run(
        "Write a short essay on Sir Walter Elliot's vanity in Persuasion.",
        words=300,
        evidence=[str(BOOK)],
    )
    assert writer.index.list_documents()[0].doc_id == "persuasion_ch1-2.txt"
    assert result.sections and all(s.evidence for s in result.sections)
    assert all(label.startswith("S1-") for s in result.sections for label in s.evidence)
    assert result.words > 0 and result.markdown.startswith("# ")
    assert {s["doc_id"] for s in result.sources} <= {"persuasion_ch1-2.txt"}
