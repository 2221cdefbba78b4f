"""The chain's budget: the document tokens of one worker call."""

from __future__ import annotations

from longdoc.agents.chain import (
    Task,
    manager_messages,
    worker_messages,
)
from longdoc.agents.gateway import Gateway
from longdoc.workflows.budget import tokens_left

__all__ = ["plan"]


def plan(
    gateway: Gateway, task: Task, query: str | None, notes_tokens: int, answer_tokens: int
) -> int:
    """The document budget (tokens) of one worker call.

    Raises:
        BudgetError: the window cannot hold instructions, query, notes and a useful part,
            or the manager's prompt plus answer.
    """
    window = gateway.context_window
    frame = gateway.count_messages(worker_messages(task, query, "", "", 1, 1))
    budget = tokens_left(
        window=window,
        frame=frame,
        frame_label="instructions and query",
        reserved={"previous notes": notes_tokens, "new notes": notes_tokens},
        floor=64,
        what="document text per worker call",
    )
    tokens_left(
        window=window,
        frame=gateway.count_messages(manager_messages(task, query, "")),
        frame_label="manager prompt",
        reserved={"notes": notes_tokens, "answer": answer_tokens},
        floor=0,
        what="the manager's call",
    )
    return budget
