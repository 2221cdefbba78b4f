"""End to end with the embedded SmolLM2 model (plumbing only: no claim on answer quality)."""

from __future__ import annotations

import pytest

from longdoc.agents.gateway import Gateway
from longdoc.config import load_settings
from longdoc.workflows.baselines import vanilla
from longdoc.workflows.chain.graph import ChainOfAgents
from longdoc.workflows.sources import from_text

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def opening(austen_text: str) -> str:
    """The first ~1,500 words of Persuasion: three parts at a 1,024-token window."""
    return " ".join(austen_text.split()[:1500])


@pytest.fixture
def gateway() -> Gateway:
    return Gateway(load_settings(context_window=1024, max_output_tokens=64))


def test_chain_answers_a_question_on_the_embedded_model(gateway: Gateway, opening: str) -> None:
    coa = ChainOfAgents(gateway, notes_tokens=64, answer_tokens=48, keep_notes=True)
    result = coa.run(from_text(opening, "persuasion-opening"), "Who is Sir Walter Elliot?")
    assert result.parts >= 2
    assert result.answer.strip()
    assert len(result.worker_notes[0]) == result.parts
    usage = result.usage.stages
    assert usage["worker"].requests == result.parts and usage["manager"].requests == 1
    assert usage["worker"].completion_tokens <= 64 * result.parts


def test_chain_summarises_on_the_embedded_model(gateway: Gateway, opening: str) -> None:
    result = ChainOfAgents(gateway, notes_tokens=64, answer_tokens=64).run(from_text(opening))
    assert result.task == "summary" and result.answer.strip()


def test_vanilla_truncates_around_a_marked_gap(gateway: Gateway, opening: str) -> None:
    result = gateway.run_sync(vanilla(gateway, from_text(opening), "Who is Sir Walter?"))
    assert result.parts == 3  # head, gap marker, tail
    assert result.usage.stages["vanilla"].requests == 1
