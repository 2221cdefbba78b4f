"""Agent roles: small async functions that turn a role's inputs into one gateway call."""

from __future__ import annotations

from pydantic import BaseModel, Field

from longdoc.agents.gateway import Gateway
from longdoc.agents.prompts import (
    Task,
    judge_messages,
    manager_messages,
    single_pass_messages,
    worker_messages,
)

__all__ = [
    "JudgeChoice",
    "answer_from_excerpts",
    "answer_from_notes",
    "choose_notes",
    "write_notes",
]


class JudgeChoice(BaseModel):
    """The judge's verdict between candidate notes."""

    choice: int = Field(ge=0, description="index of the chosen candidate")
    reason: str = ""


async def write_notes(
    gateway: Gateway,
    task: Task,
    query: str | None,
    notes: str,
    part: str,
    index: int,
    total: int,
    *,
    notes_tokens: int,
    prompt_tokens_at_most: int | None = None,
) -> str:
    """A chain-of-agents worker: rewrite the notes after reading one part.

    Args:
        gateway: the model gateway.
        task: what the notes are for (qa, summary, code).
        query: the question, or None for summarisation.
        notes: the previous worker's notes ("" for the first).
        part: this worker's part of the document.
        index: 1-based position of the part in reading order.
        total: number of parts.
        notes_tokens: cap on the new notes.
        prompt_tokens_at_most: a proven bound on the prompt (see ``Gateway.acomplete``).

    Returns:
        The new notes.
    """
    messages = worker_messages(task, query, notes, part, index, total)
    reply = await gateway.acomplete(
        messages,
        stage="worker",
        max_tokens=notes_tokens,
        prompt_tokens_at_most=prompt_tokens_at_most,
    )
    return reply.text.strip()


async def answer_from_notes(
    gateway: Gateway, task: Task, query: str | None, notes: str, *, answer_tokens: int
) -> str:
    """The chain-of-agents manager: answer from the final notes and the query only."""
    messages = manager_messages(task, query, notes)
    reply = await gateway.acomplete(messages, stage="manager", max_tokens=answer_tokens)
    return reply.text.strip()


async def choose_notes(
    gateway: Gateway, task: Task, query: str | None, candidates: list[str]
) -> JudgeChoice:
    """The judge of multi-path chains: pick the most reliable final notes.

    Raises:
        StructuredOutputError: the verdict is not valid JSON, or names no candidate.
    """
    from longdoc.errors import StructuredOutputError

    verdict = await gateway.astructured(
        judge_messages(task, query, candidates), JudgeChoice, stage="judge", max_tokens=128
    )
    if verdict.choice >= len(candidates):
        raise StructuredOutputError(
            "JudgeChoice", verdict.model_dump_json(), f"choice must be < {len(candidates)}"
        )
    return verdict


async def answer_from_excerpts(
    gateway: Gateway,
    task: Task,
    query: str | None,
    excerpts: list[str],
    *,
    answer_tokens: int,
    stage: str,
) -> str:
    """One call over excerpts of the document (the vanilla and RAG baselines)."""
    messages = single_pass_messages(task, query, excerpts)
    reply = await gateway.acomplete(messages, stage=stage, max_tokens=answer_tokens)
    return reply.text.strip()
