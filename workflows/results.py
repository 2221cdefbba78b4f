"""The typed results of the question-answering and summarisation strategies.

Every strategy returns a subclass of :class:`StrategyResult` (answer, usage, run id
and the rest they share) tagged by ``strategy``; :data:`AskResult` is their
discriminated union, so a stored result (``model_dump``) validates back into the
class that produced it::

    TypeAdapter(AskResult).validate_python(result.model_dump())
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from longdoc.agents.gateway.ledger import Usage
from longdoc.workflows.reason.failures import FailedExtraction
from longdoc.workflows.reason.verify import Citation

__all__ = [
    "AskResult",
    "AutoResult",
    "ChainResult",
    "Estimate",
    "RagResult",
    "ReasonResult",
    "Route",
    "StrategyResult",
    "VanillaResult",
]


class Estimate(BaseModel):
    """Calls and tokens (prompt + completion, replies at their caps) of one strategy."""

    calls: int
    tokens: int


class Route(BaseModel):
    """Where auto sent a question, why, and what each method costs.

    Attributes:
        method: ``direct`` (one call on the whole text), ``chain`` or ``reason``.
        why: ``fits`` (the whole text fits the window), ``global`` / ``local`` (the
            question's scope), or ``escalated`` (reason verified no evidence).
        scope: the classifier's label (None when the text fits and no one asked).
        classifier: ``rules``, ``embedding`` or ``llm``: what gave the scope.
        document_tokens: the document's tokens by the gateway's tokenizer.
        window: the model's context window.
        estimates: per strategy (``direct``, ``chain``, ``reason``), estimated calls and tokens.
        calls: calls actually made, every method run included (None before the run).
        tokens: tokens actually spent (None before the run).
    """

    method: Literal["direct", "chain", "reason"]
    why: Literal["fits", "global", "local", "escalated"]
    scope: Literal["global", "local"] | None = None
    classifier: str | None = None
    document_tokens: int
    window: int
    estimates: dict[str, Estimate] = Field(default_factory=dict)
    calls: int | None = None
    tokens: int | None = None


class StrategyResult(BaseModel):
    """What every strategy's result holds (the base of :data:`AskResult`).

    Attributes:
        answer: the answer (or summary).
        strategy: ``auto``, ``chain``, ``vanilla``, ``rag`` or ``reason``: which subclass this is.
        task: ``qa``, ``summary`` or ``code``.
        query: the question, or None for a summary.
        source: the document's name (``index`` or the doc ids when searched in the index).
        run_id: the run's id (resume with it: chain and reason).
        parts: document parts read (chain), excerpts sent (baselines) or extraction
            calls (reason).
        resumed: True when this invocation continued an interrupted run.
        usage: calls, tokens and seconds of this invocation, per stage.
    """

    answer: str
    strategy: Literal["auto", "chain", "vanilla", "rag", "reason"]
    task: Literal["qa", "summary", "code"]
    query: str | None = None
    source: str
    run_id: str
    parts: int = 0
    resumed: bool = False
    usage: Usage = Field(default_factory=Usage)


class ChainResult(StrategyResult):
    """What Chain-of-Agents returns.

    Attributes:
        final_notes: the notes the manager answered from.
        worker_notes: per path, every worker's notes, when asked for (``keep_notes``).
        direction: the reading order of the path answered from.
        judge_reason: why the judge or the vote chose that path (multi-path only).
    """

    strategy: Literal["chain"] = "chain"
    final_notes: str
    worker_notes: list[list[str]] | None = None
    direction: Literal["ltr", "rtl"]
    judge_reason: str | None = None


class ReasonResult(StrategyResult):
    """What retrieve-then-reason returns: the answer and the verified evidence behind it.

    Attributes:
        citations: verified quotes the answer rests on, with document offsets.
        citations_fallback: the reasoner named no valid fact, so every verified fact it
            saw is cited.
        facts_extracted: sentences the extractor returned.
        facts_verified: sentences found in the document.
        facts_dropped: sentences not found, counted as hallucinated.
        dropped_sentences: those sentences as the model gave them, for auditing (the
            first 200).
        extraction_failures: extraction calls whose reply never validated.
        failed_extractions: those calls, each with its excerpts, error and raw reply.
    """

    strategy: Literal["reason"] = "reason"
    task: Literal["qa"] = "qa"
    citations: list[Citation] = Field(default_factory=list)
    citations_fallback: bool = False
    facts_extracted: int = 0
    facts_verified: int = 0
    facts_dropped: int = 0
    dropped_sentences: list[str] = Field(default_factory=list)
    extraction_failures: int = 0
    failed_extractions: list[FailedExtraction] = Field(default_factory=list)


class RagResult(StrategyResult):
    """What the rag baseline returns (``parts``: the excerpts sent)."""

    strategy: Literal["rag"] = "rag"
    task: Literal["qa"] = "qa"


class VanillaResult(StrategyResult):
    """What the vanilla baseline returns (``parts``: the excerpts sent)."""

    strategy: Literal["vanilla"] = "vanilla"


class AutoResult(StrategyResult):
    """What ``strategy="auto"`` returns: the route and the result of the method it ran.

    ``answer``, ``usage`` (every method run, summed) and the rest mirror the final run.

    Attributes:
        route: the method, why, the document's tokens, the estimates and the actual spend.
        result: the final method's result (vanilla for a direct call).
        first: the reason run that verified no evidence, when auto escalated to the chain.
    """

    strategy: Literal["auto"] = "auto"
    route: Route
    result: ChainResult | ReasonResult | VanillaResult = Field(discriminator="strategy")
    first: ReasonResult | None = None


AskResult = Annotated[
    AutoResult | ChainResult | ReasonResult | RagResult | VanillaResult,
    Field(discriminator="strategy"),
]
"""Any strategy's result, told apart by ``strategy``."""
