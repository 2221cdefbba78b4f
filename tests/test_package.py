"""The installed package: layout, light import, CLI."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_import_graph import package_modules

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


REPO = Path(longdoc.__file__).resolve().parent


@pytest.mark.slow
def test_python_started_in_the_repository_root_can_ingest(tmp_path: Path) -> None:
    # The root on sys.path once made our workflows/ folder shadow the top-level `workflows`
    # package llama-index-core imports: "No module named 'workflows.context'".
    note = tmp_path / "note.txt"
    note.write_text("Anne Elliot reads Captain Wentworth's letter twice.\n", encoding="utf-8")
    code = (
        "from longdoc.retrieval import Index\n"
        f"report = Index().ingest([{str(note)!r}])\n"
        "print(report.added, report.chunks_embedded)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "['note.txt'] 1"


def test_the_root_folder_is_not_the_top_level_workflows(tmp_path: Path) -> None:
    # `workflows.context` is what llama-index-core's first import needs
    code = (
        "import longdoc.workflows, workflows, workflows.context\n"
        "print(workflows.__file__ == longdoc.workflows.__file__)"
    )
    # from the root (on sys.path) as from elsewhere: llama-index-workflows' package
    for cwd in (REPO, tmp_path):
        assert run_python(code, cwd) == "False"


def _third_party_imports() -> dict[str, str]:
    """Top-level third-party module -> one file of the package that imports it."""
    found: dict[str, str] = {}
    for path in package_modules().values():
        rel = path.relative_to(REPO)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("longdoc", "__future__"):
                    found.setdefault(top, str(rel))
    return found


def _canonical(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.split(r"[<>=!~ \[;]", requirement, maxsplit=1)[0]).lower()


def test_every_library_the_package_imports_is_declared() -> None:
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    runtime = {_canonical(r) for r in project["dependencies"]}
    optional = {_canonical(r) for name in ("local", "onnx", "postgres") for r in extras[name]}
    distributions = importlib.metadata.packages_distributions()
    undeclared = [
        f"{module} (imported by {where}; from {distributions.get(module)})"
        for module, where in _third_party_imports().items()
        if not {_canonical(d) for d in distributions.get(module, [module])} & (runtime | optional)
    ]
    assert not undeclared, "imported but not in pyproject's dependencies: " + ", ".join(undeclared)
    # the optional back-ends stay out of a plain install
    assert {"xllamacpp", "onnx", "onnxruntime"} <= optional and not optional & runtime


@pytest.mark.parametrize(
    ("missing", "extra"), [("xllamacpp", "local"), ("onnxruntime", "onnx")], ids=["local", "onnx"]
)
def test_a_missing_extra_is_one_clear_error(
    missing: str, extra: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from longdoc.agents.gateway.local import get_local_server
    from longdoc.errors import MissingExtraError
    from longdoc.retrieval.embedding import OnnxEmbedder

    monkeypatch.setitem(sys.modules, missing, None)  # what `import` meets when it is absent
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    with pytest.raises(MissingExtraError) as info:
        if extra == "local":
            get_local_server(gguf, slots=1, slot_context=512, threads=1, data_dir=tmp_path)
        else:
            OnnxEmbedder(data_dir=tmp_path)
    assert (info.value.extra, info.value.package) == (extra, missing)  # type: ignore[attr-defined]
    assert f"pip install 'longdoc[{extra}]'" in str(info.value)
    if extra == "onnx":  # imported here; the embedded server imports xllamacpp in its process
        assert isinstance(info.value.__cause__, ModuleNotFoundError)


def test_a_broken_install_is_not_called_a_missing_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from longdoc._extras import import_extra

    (tmp_path / "half_installed").mkdir()
    (tmp_path / "half_installed" / "__init__.py").write_text("import no_such_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as info:
        import_extra("half_installed", extra="x", package="half-installed", feature="a test")
    assert info.value.name == "no_such_dependency"
