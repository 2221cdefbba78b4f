"""The chain's budget: the document tokens of one worker call."""

from __future__ import annotations

from longdoc.agents.chain import (
    Task,
    manager_messages,
    worker_messages,
)
from longdoc.agents.gateway import Gateway
from longdoc.errors import BudgetError
from longdoc.workflows.budget import seam_margin

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
    margin = seam_margin(window)
    budget = window - frame - 2 * notes_tokens - margin
    detail = (
        f"window {window} - instructions and query {frame} - previous notes {notes_tokens} "
        f"- new notes {notes_tokens} - margin {margin}"
    )
    if budget < 64:
        raise BudgetError(budget, 64, detail)
    manager = gateway.count_messages(manager_messages(task, query, "")) + notes_tokens + margin
    if manager + answer_tokens > window:
        raise BudgetError(
            window - manager - answer_tokens,
            0,
            f"manager prompt {manager} + answer {answer_tokens} exceeds window {window}",
        )
    return budget
