"""The installed package: layout, light import, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import longdoc
from longdoc.cli import main
from longdoc.testing.fake_openai import FakeOpenAI

HEAVY = ("torch", "chromadb", "litellm", "sentence_transformers", "langgraph", "llama_index")


def run_python(code: str, cwd: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_import_longdoc_loads_no_heavy_library(tmp_path: Path) -> None:
    code = (
        "import sys, longdoc, longdoc.agents, longdoc.retrieval, longdoc.memory, "
        "longdoc.workflows, longdoc.cli\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    assert run_python(code, tmp_path) == "[]"


def test_only_longdoc_lands_in_site_packages(tmp_path: Path) -> None:
    # (llama-index-workflows owns a top-level `workflows`; none may be ours)
    repo = Path(longdoc.__file__).parent
    names = ("agents", "memory", "retrieval", "workflows", "config", "cli")
    code = "import json, importlib.util as u\n"
    code += f"print(json.dumps([str(s.origin) for n in {names!r} if (s := u.find_spec(n))]))"
    origins = {Path(o) for o in json.loads(run_python(code, tmp_path))}
    ours = {repo / n / "__init__.py" for n in ("agents", "memory", "retrieval", "workflows", "cli")}
    assert not origins & (ours | {repo / "config.py"})


def test_public_api_resolves_lazily() -> None:
    assert set(longdoc.__all__) >= {"Gateway", "Settings", "LongdocError", "Completion"}
    for name in longdoc.__all__:
        assert getattr(longdoc, name) is not None
    assert issubclass(longdoc.ContextWindowError, longdoc.LongdocError)
    with pytest.raises(AttributeError):
        _ = longdoc.NoSuchThing  # type: ignore[attr-defined]


@pytest.fixture
def fake_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI().start()
    monkeypatch.setenv("LONGDOC_MODEL", "openai/fake")
    monkeypatch.setenv("LONGDOC_API_BASE", fake.api_base)
    yield fake
    fake.stop()


def test_cli_complete(fake_env: FakeOpenAI, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["complete", "hello cli"]) == 0
    assert capsys.readouterr().out.strip() == "echo: hello cli"
    assert main(["complete", "--json", "--max-tokens", "9", "again"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["text"] == "echo: again"
    assert fake_env.requests[-1]["max_tokens"] == 9


def test_cli_doctor_checks_the_model(
    fake_env: FakeOpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "model answers" in out and "openai/fake" in out
    assert "litellm" in out  # the versions table
    assert len(fake_env.requests) == 1


def test_cli_doctor_fails_when_the_model_does_not_answer(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LONGDOC_MODEL", "openai/fake")
    monkeypatch.setenv("LONGDOC_API_BASE", "http://127.0.0.1:9/v1")  # discard port: refused
    monkeypatch.setenv("LONGDOC_RETRIES", "0")
    assert main(["doctor"]) == 1
    assert "model check failed" in capsys.readouterr().out


def test_cli_reports_bad_settings_clearly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LONGDOC_MAX_CONCURRENCY", "-3")
    assert main(["complete", "x"]) == 2
    err = capsys.readouterr().err
    assert "LONGDOC_MAX_CONCURRENCY" in err and "Traceback" not in err


def test_python_dash_m_and_entry_point(tmp_path: Path) -> None:
    env = {**os.environ, "LONGDOC_DATA_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "longdoc", "--help"], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0 and "doctor" in out.stdout and "complete" in out.stdout
    script = Path(sys.executable).parent / "longdoc"
    version = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    assert version.stdout.strip() == longdoc.__version__
