"""The typed result every question-answering or summarisation strategy returns."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from longdoc.agents.gateway.ledger import Usage
from longdoc.workflows.reason.verify import Citation

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
        parts: document parts read (chain), excerpts sent (baselines) or extraction
            calls (reason).
        resumed: True when this invocation continued an interrupted run.
        usage: calls, tokens and seconds of this invocation, per stage.
        citations: verified quotes the answer rests on, with document offsets (reason only).
        citations_fallback: the reasoner named no valid fact, so every verified fact it
            saw is cited (reason only).
        facts_extracted: sentences the extractor returned (reason only).
        facts_verified: sentences found in the document (reason only).
        facts_dropped: sentences not found, counted as hallucinated (reason only).
        dropped_sentences: those sentences as the model gave them, for auditing
            (the first 200; reason only).
        extraction_failures: extraction calls whose reply never validated (reason only).
    """

    answer: str
    strategy: Literal["chain", "vanilla", "rag", "reason"]
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
    # --- retrieve-then-reason (issue 6) ---
    citations: list[Citation] | None = None
    citations_fallback: bool | None = None
    facts_extracted: int | None = None
    facts_verified: int | None = None
    facts_dropped: int | None = None
    dropped_sentences: list[str] | None = None
    extraction_failures: int | None = None
