"""``longdoc ingest``, ``longdoc index list|show|rm`` and ``longdoc search``."""

from __future__ import annotations

from pathlib import Path

import pytest
from retrieval_support import write

from longdoc.cli import main

pytestmark = pytest.mark.slow


def test_cli_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "notes"
    write(root / "whales.txt", "The sperm whale dives deep to hunt giant squid. " * 4)
    write(root / "bread.txt", "Sourdough bread needs a lively starter and a hot oven. " * 4)
    write(root / "junk.bin", b"\x00\x01binary")
    assert main(["ingest", str(root), "--collection", "cli-test"]) == 0
    out = capsys.readouterr()
    assert "added" in out.out and "junk.bin" in out.err

    assert main(["index", "--collection", "cli-test", "list"]) == 0
    listing = capsys.readouterr().out
    assert "notes/whales.txt" in listing and "notes/bread.txt" in listing

    assert main(["search", "giant squid", "-k", "1", "--collection", "cli-test"]) == 0
    assert "notes/whales.txt" in capsys.readouterr().out

    args = ["search", "starter oven", "--mode", "bm25", "--budget", "200",
            "--doc", "notes/bread.txt", "--collection", "cli-test"]  # fmt: skip
    assert main(args) == 0
    assert "Sourdough" in capsys.readouterr().out

    assert main(["index", "--collection", "cli-test", "show", "notes/bread.txt"]) == 0
    assert "Sourdough" in capsys.readouterr().out
    assert main(["index", "--collection", "cli-test", "rm", "notes/bread.txt"]) == 0
    capsys.readouterr()
    assert main(["index", "--collection", "cli-test", "show", "notes/bread.txt"]) == 2
    assert "notes/bread.txt" in capsys.readouterr().err


def test_cli_missing_path_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "absent"
    assert main(["ingest", str(missing)]) == 2
    assert str(missing) in capsys.readouterr().err
