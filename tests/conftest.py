"""Shared test set-up: offline, and every test's data under a temporary folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from longdoc.testing.fake_openai import FakeOpenAI

# Before anything imports huggingface_hub or litellm: nothing may be downloaded.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point the data dir at a temporary folder and clear user settings; stop kept workers."""
    for key in list(os.environ):
        if key.startswith("LONGDOC_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("LONGDOC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LONGDOC_CONFIG", str(tmp_path / "no-such-longdoc.toml"))
    yield
    from longdoc.retrieval.chunk_pool import close_warm_workers

    close_warm_workers()  # no test inherits another's chunking processes


@pytest.fixture
def shared_data() -> Path:
    """The shared evaluation data, or a skip when this clone has none."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def austen_text() -> str:
    """A whole public-domain novel shipped with the repository."""
    return (REPO / "examples" / "data" / "persuasion.txt").read_text(encoding="utf-8")


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    """A real HTTP server speaking the OpenAI protocol, set as the model of every setting.

    A test module that wants other replies overrides this fixture and sets ``responder``.
    """
    fake = FakeOpenAI(responder=lambda request: "notes or answer").start()
    monkeypatch.setenv("LONGDOC_MODEL", "openai/fake")
    monkeypatch.setenv("LONGDOC_API_BASE", fake.api_base)
    monkeypatch.setenv("LONGDOC_CONTEXT_WINDOW", "1024")
    monkeypatch.setenv("LONGDOC_MAX_OUTPUT_TOKENS", "64")
    yield fake
    fake.stop()
