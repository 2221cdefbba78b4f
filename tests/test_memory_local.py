"""Memory chat end to end with the embedded SmolLM2 model (plumbing only: no claim on quality)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from longdoc.agents.gateway import Gateway
from longdoc.config import load_settings
from longdoc.workflows.chat.session import MemoryChat
from longdoc.workflows.chat.turn import open_memory
from longdoc.workflows.sources import from_path

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    with Gateway(load_settings(context_window=2048, max_output_tokens=48)) as gw:
        yield gw


def test_a_12_turn_chat_stays_in_budget_and_remembers(gateway: Gateway) -> None:
    memory = open_memory(
        "local-chat", gateway, memory_summary_tokens=48, memory_fold_tokens=64,
        memory_fold_every=6,
    )  # fmt: skip
    chat = MemoryChat(gateway=gateway, memory=memory, answer_tokens=32, context_budget=600)
    for i in range(12):
        question = f"Turn {i}: my favourite number today is {100 + i}. What is it?"
        reply = chat.chat(question)
        assert reply.answer.strip() and reply.context_tokens <= 600
        assert reply.episode == i
    summary = memory.summary()
    assert summary.items == 12 and summary.folds == 2 and summary.level2.strip()
    stages = gateway.usage().stages
    assert stages["memory:update"].requests == 12 and stages["memory:fold"].requests == 2
    assert stages["memory:answer"].requests == 12
    assert stages["memory:update"].completion_tokens <= 48 * 12
    assert memory.recall("favourite number 105", k=3)


def test_reading_a_short_text_into_memory_then_answering(gateway: Gateway) -> None:
    memory = open_memory(
        "local-reader",
        gateway,
        memory_summary_tokens=48,
        memory_fold_tokens=64,
        memory_fold_every=8,
    )
    chat = MemoryChat(gateway=gateway, memory=memory, answer_tokens=32, chunk_tokens=400)
    report = chat.read(from_path(REPO / "examples" / "data" / "persuasion_ch1-2.txt"))
    assert report.chunks >= 10 and report.added == report.chunks
    assert memory.summary().folds == report.chunks // 8
    reply = chat.chat("Who is Sir Walter Elliot?", remember=False)
    assert reply.answer.strip() and reply.episode is None
    found = memory.recall("Sir Walter Elliot of Kellynch Hall", k=3)
    assert any("Walter" in r.episode.text for r in found)
