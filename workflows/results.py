"""The typed result every question-answering or summarisation strategy returns."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from longdoc.agents.ledger import Usage

__all__ = ["StrategyResult"]


class StrategyResult(BaseModel):
    """What ``chain``, ``vanilla`` and ``rag`` return.

    Attributes:
        answer: the answer (or summary).
        strategy: ``chain``, ``vanilla`` or ``rag``.
        task: ``qa``, ``summary`` or ``code``.
        query: the question, or None for a summary.
        source: the document's name.
        run_id: the run's id (resume with it).
        final_notes: the notes the manager answered from (chain only).
        worker_notes: per path, every worker's notes, when asked for (chain only).
        direction: reading order used (chain only).
        judge_reason: why the judge or the vote chose a path (multi-path only).
        parts: document parts read (chain) or excerpts sent (baselines).
        resumed: True when this invocation continued an interrupted run.
        usage: calls, tokens and seconds of this invocation, per stage.
    """

    answer: str
    strategy: Literal["chain", "vanilla", "rag"]
    task: Literal["qa", "summary", "code"]
    query: str | None = None
    source: str
    run_id: str
    final_notes: str | None = None
    worker_notes: list[list[str]] | None = None
    direction: str | None = None
    judge_reason: str | None = None
    parts: int = 0
    resumed: bool = False
    usage: Usage = Field(default_factory=Usage)
