"""End to end with the embedded SmolLM2 model (plumbing only: no claim on answer quality).

What is asserted are facts of the run, whatever the small model writes: one worker call per
planned part, the parts read in order and together the whole text, each worker handed the
previous notes, the manager shown the final notes and no part, every call inside the window
by the server's own count, and the answer being the manager's completion.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from claims_support import RecordedCall, RecordingGateway

import longdoc
from longdoc.config import load_settings

pytestmark = pytest.mark.slow

WINDOW = 1024
PART = re.compile(r'<document_part index="(\d+)" of="(\d+)">\n(.*?)\n</document_part>', re.S)


@pytest.fixture(scope="module")
def opening(austen_text: str) -> str:
    """The first ~1,500 words of Persuasion: three parts at a 1,024-token window."""
    return " ".join(austen_text.split()[:1500])


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RecordingGateway]:
    # One embedded server for the module, on one thread (other test runs share the cores).
    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("data"),
        context_window=WINDOW,
        max_output_tokens=64,
        local_threads=1,
    )
    with RecordingGateway(settings) as gw:
        yield gw


def loose(text: str) -> str:
    """Words with tag characters removed: the delimiters escape closing tags the model wrote."""
    return " ".join(re.sub(r"[<>/\\]", " ", text).split())


def assert_every_call_fits_and_finished(calls: list[RecordedCall]) -> None:
    for call in calls:
        # prompt_tokens is what the llama.cpp server itself counted for this request
        assert call.reply.prompt_tokens > 0 and call.reply.prompt_tokens + call.max_tokens <= WINDOW
        assert call.reply.completion_tokens <= call.max_tokens
        assert call.reply.finish_reason in ("stop", "length") and not call.reply.cached


def assert_workers_read_the_parts_in_order(workers: list[RecordedCall], text: str) -> list[str]:
    found = [PART.search(c.messages[-1]["content"]) for c in workers]
    assert all(found)
    total = len(workers)
    assert [(int(m[1]), int(m[2])) for m in found] == [(i, total) for i in range(1, total + 1)]
    assert " ".join(m[3] for m in found).split() == text.split()  # the whole text, once
    return [m[3] for m in found]


def test_chain_answers_a_question_on_the_embedded_model(
    gateway: RecordingGateway, opening: str
) -> None:
    start = len(gateway.calls)
    result = longdoc.ask(
        "Who is Sir Walter Elliot?",
        text=opening,
        strategy="chain",
        gateway=gateway,
        notes_tokens=64,
        answer_tokens=48,
        keep_notes=True,
    )
    calls = gateway.calls[start:]
    workers = [c for c in calls if c.stage == "worker"]
    [manager] = [c for c in calls if c.stage == "manager"]
    assert len(calls) == len(workers) + 1 and result.parts == len(workers) >= 2
    assert_workers_read_the_parts_in_order(workers, opening)
    assert_every_call_fits_and_finished(calls)
    assert all(c.max_tokens == 64 for c in workers) and manager.max_tokens == 48
    notes = [c.reply.text.strip() for c in workers]
    assert result.worker_notes == [notes] and result.final_notes == notes[-1]
    for previous, call in zip(notes[:-1], workers[1:], strict=True):  # handed the notes before
        assert loose(previous) in loose(call.messages[-1]["content"])
    # The manager sees the question and the final notes only: no part (~600 tokens) fits
    # in the few words of its instructions.
    shown = manager.messages[-1]["content"]
    assert loose(notes[-1]) in loose(shown) and "Who is Sir Walter Elliot?" in shown
    assert len(shown.split()) <= len(notes[-1].split()) + 60
    assert result.answer == manager.reply.text.strip() and result.answer
    stages = result.usage.stages
    assert stages["worker"].requests == result.parts and stages["manager"].requests == 1
    assert stages["worker"].prompt_tokens == sum(c.reply.prompt_tokens for c in workers)
    assert stages["worker"].completion_tokens == sum(c.reply.completion_tokens for c in workers)


def test_chain_summarises_on_the_embedded_model(gateway: RecordingGateway, opening: str) -> None:
    start = len(gateway.calls)
    shorter = " ".join(opening.split()[:900])  # two parts
    result = longdoc.ask(
        None, text=shorter, strategy="chain", gateway=gateway, notes_tokens=64, answer_tokens=64
    )
    calls = gateway.calls[start:]
    workers = [c for c in calls if c.stage == "worker"]
    [manager] = [c for c in calls if c.stage == "manager"]
    assert result.task == "summary" and result.query is None and result.parts == len(workers) >= 2
    assert_workers_read_the_parts_in_order(workers, shorter)
    assert_every_call_fits_and_finished(calls)
    goal = "Keep a running summary of the whole document"
    assert all(goal in c.messages[-1]["content"] for c in workers)
    assert "Write a clear, well-organised summary" in manager.messages[-1]["content"]
    assert result.answer == manager.reply.text.strip() and result.answer


def test_vanilla_truncates_around_a_marked_gap(gateway: RecordingGateway, opening: str) -> None:
    start = len(gateway.calls)
    result = longdoc.ask("Who is Sir Walter?", text=opening, strategy="vanilla", gateway=gateway)
    [call] = gateway.calls[start:]
    assert result.parts == 3 and call.stage == "vanilla"  # head, gap marker, tail
    excerpts = re.findall(r"<excerpt>\n(.*?)\n</excerpt>", call.messages[-1]["content"], re.S)
    head, gap, tail = excerpts
    assert opening.startswith(head) and opening.endswith(tail) and len(head + tail) < len(opening)
    assert re.fullmatch(r"\[\.\.\. about \d+ tokens of the document omitted here \.\.\.\]", gap)
    assert_every_call_fits_and_finished([call])
    assert result.answer == call.reply.text.strip() and result.answer
    assert result.usage.stages["vanilla"].requests == 1
