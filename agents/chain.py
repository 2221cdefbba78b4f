"""Chain-of-Agents roles: worker, manager and judge, their prompts and calls."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from longdoc.agents.delimiters import DOCUMENT_TAGS, data_rule, delimit, question_block
from longdoc.agents.gateway import Gateway
from longdoc.agents.gateway.types import Messages

__all__ = [
    "MANAGER_GOAL",
    "JudgeChoice",
    "Task",
    "answer_from_notes",
    "choose_notes",
    "judge_messages",
    "manager_messages",
    "worker_messages",
    "write_notes",
]


Task = Literal["qa", "summary", "code"]

# The tags each role's user message uses, all broken by delimit; the data rule names the
# document's tags (the question is the user's own request).
_DATA_RULE = data_rule(*DOCUMENT_TAGS)
_WORKER_TAGS = ("document_part", "notes", "question")
_MANAGER_TAGS = ("notes", "question")
_JUDGE_TAGS = ("notes", "question")


_WORKER_SYSTEM = (
    "You are one worker in a chain of agents reading a long document in order, one part "
    "each. You receive the notes written by the previous worker and the next part of the "
    "document, and you write the notes that the next worker will receive. Rewrite the notes; "
    "do not just append. Keep them short and factual: quote names, numbers and key phrases "
    "exactly. " + _DATA_RULE
)


_WORKER_GOAL: dict[Task, str] = {
    "qa": (
        "Keep in the notes every piece of evidence from the document so far that helps "
        "answer the question, with who/what/where details; drop what is irrelevant. If nothing "
        "relevant has appeared yet, say so in one line."
    ),
    "summary": (
        "Keep a running summary of the whole document so far: main events, people, arguments "
        "and conclusions, in order. Merge the new part into it."
    ),
    "code": (
        "Keep a running summary of the code so far: modules, classes and functions with what "
        "they do, how they call each other, and notable behaviour, errors and configuration."
    ),
}


_MANAGER_SYSTEM = (
    "You are the manager of a chain of agents that read a long document. You never see the "
    "document itself, only the final notes the workers wrote. " + _DATA_RULE
)


MANAGER_GOAL: dict[Task, str] = {
    "qa": "Answer the question using the notes. If the notes do not contain the answer, say so.",
    "summary": "Write a clear, well-organised summary of the whole document from the notes.",
    "code": "Describe what this code does, its main parts and how they fit together.",
}


def worker_messages(
    task: Task, query: str | None, notes: str, part: str, index: int, total: int
) -> Messages:
    """Prompt of worker ``index`` (1-based) of ``total``."""
    user = (
        f"{question_block(query, *_WORKER_TAGS)}"
        f"<notes>\n{delimit(notes, *_WORKER_TAGS) or '(none yet: you read the first part)'}"
        "\n</notes>\n\n"
        f'<document_part index="{index}" of="{total}">\n{delimit(part, *_WORKER_TAGS)}'
        "\n</document_part>\n\n"
        f"{_WORKER_GOAL[task]} Reply with the new notes only."
    )
    return [{"role": "system", "content": _WORKER_SYSTEM}, {"role": "user", "content": user}]


def manager_messages(task: Task, query: str | None, notes: str) -> Messages:
    """Prompt of the manager, who sees the final notes and the query only."""
    question = question_block(query, *_MANAGER_TAGS)
    user = f"{question}<notes>\n{delimit(notes, *_MANAGER_TAGS)}\n</notes>\n\n{MANAGER_GOAL[task]}"
    return [{"role": "system", "content": _MANAGER_SYSTEM}, {"role": "user", "content": user}]


def judge_messages(task: Task, query: str | None, candidates: list[str]) -> Messages:
    """Prompt of the judge choosing the most reliable of several final notes."""
    blocks = "\n\n".join(
        f'<notes candidate="{i}">\n{delimit(c, *_JUDGE_TAGS)}\n</notes>'
        for i, c in enumerate(candidates)
    )
    goal = "answering the question" if task == "qa" else "summarising the document"
    user = (
        f"{question_block(query, *_JUDGE_TAGS)}{blocks}\n\n"
        f"These notes were written by agents that read the same document in different orders. "
        f"Which candidate is the most complete and reliable basis for {goal}? "
        f'Reply as JSON: {{"choice": <candidate number>, "reason": "<one sentence>"}}.'
    )
    system = "You judge the quality of notes about a long document. " + _DATA_RULE
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


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
