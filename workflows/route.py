"""Route a question to the cheapest method that can answer it: direct, chain or reason.

* fits: document + question + answer fit the window -> one direct call on the whole
  text (the ``vanilla`` baseline, which then truncates nothing).
* otherwise the question's scope decides: ``global`` (a summary of the whole, themes,
  how something changes, counting or comparing across the text) -> Chain-of-Agents;
  ``local`` (a fact, a name, a quote) -> retrieve-then-reason.
* the caller escalates a reason run that verified no evidence to the chain.

The default classifier is offline: a few clear rules, then a logistic regression over
the question's sentence embedding, fitted at first use on labeled questions shipped
beside this module (``route_questions.jsonl``: QMSum's general queries = global,
specific = local, from the training half of its meetings). ``route_classifier="llm"``
asks the model instead (structured output).

Estimates never call the model: the chain's calls come from its plan (parts), the
reason's from its extraction groups; tokens assume every reply reaches its cap, so
they are an upper bound, met exactly by a model that fills its caps.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import AsyncIterator, Callable
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from longdoc.agents.baselines import single_pass_messages
from longdoc.agents.chain import judge_messages, manager_messages, worker_messages
from longdoc.agents.gateway import Gateway
from longdoc.agents.gateway.structured import with_schema
from longdoc.agents.reason import Extraction, ReasonedAnswer, extractor_messages, reasoner_messages
from longdoc.workflows.base import ProgressEvent
from longdoc.workflows.baselines import excerpt_budget
from longdoc.workflows.budget import split_to_budget
from longdoc.workflows.chain.plan import plan
from longdoc.workflows.options import AutoOptions, StrategyOptions
from longdoc.workflows.reason.candidates import (
    extraction_budget,
    group_candidates,
    index_candidates,
    window_candidates,
)
from longdoc.workflows.results import AutoResult, Estimate, ReasonResult, Route
from longdoc.workflows.sources import DocumentText, default_task

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "Estimate",
    "Route",
    "RouteScope",
    "astream_auto",
    "classify",
    "embedding_scope",
    "estimate_chain",
    "estimate_direct",
    "estimate_reason",
    "fits",
    "load_labeled",
    "method_settings",
    "route",
    "rule_scope",
]

Method = Literal["direct", "chain", "reason"]
Scope = Literal["global", "local"]


class RouteScope(BaseModel):
    """The LLM router's answer."""

    scope: Literal["global", "local"]


# --- estimates --------------------------------------------------------------------------
def fits(gateway: Gateway, doc: DocumentText, query: str | None, answer_tokens: int) -> bool:
    """Whether one direct call holds the whole document, the question and the answer."""
    from longdoc.errors import BudgetError

    try:
        budget = excerpt_budget(gateway, default_task(doc, query), query, answer_tokens)
    except BudgetError:
        return False
    return gateway.count_tokens(doc.text) <= budget


def estimate_direct(
    gateway: Gateway, doc: DocumentText, query: str | None, answer_tokens: int
) -> Estimate:
    """One call on the whole text (its prompt may exceed the window: then it does not fit)."""
    messages = single_pass_messages(default_task(doc, query), query, [doc.text])
    prompt = gateway.count_messages(messages)
    return Estimate(calls=1, tokens=prompt + answer_tokens)


def estimate_chain(
    gateway: Gateway,
    doc: DocumentText,
    query: str | None,
    *,
    notes_tokens: int,
    answer_tokens: int,
    direction: str = "ltr",
    vote: bool = False,
) -> Estimate:
    """The chain's workers (one per planned part and path), then judge and/or manager."""
    task = default_task(doc, query)
    parts = split_to_budget(doc.text, plan(gateway, task, query, notes_tokens, answer_tokens),
                            gateway.count_tokens)  # fmt: skip
    n = len(parts)
    # The first worker's empty notes read as a fixed line; later ones carry notes at their cap.
    empty = gateway.count_tokens("(none yet: you read the first part)")
    worker = 0
    for i, part in enumerate(parts, start=1):
        prompt = gateway.count_messages(worker_messages(task, query, "", part, i, n))
        worker += prompt + notes_tokens + (notes_tokens - empty if i > 1 else 0)
    manager = gateway.count_messages(manager_messages(task, query, "")) + notes_tokens
    if direction != "both":
        return Estimate(calls=n + 1, tokens=worker + manager + answer_tokens)
    judge = gateway.count_messages(judge_messages(task, query, ["", ""])) + 2 * notes_tokens
    answers = 2 if vote else 1
    calls = 2 * n + answers + 1  # a vote still asks the judge on a tie: the upper bound
    tokens = 2 * worker + answers * (manager + answer_tokens) + judge + answer_tokens
    return Estimate(calls=calls, tokens=tokens)


def estimate_reason(
    gateway: Gateway,
    query: str,
    *,
    doc: DocumentText | None,
    index: Any = None,
    doc_ids: list[str] | None = None,
    k: int,
    neighbours: int,
    extract_tokens: int,
    answer_tokens: int,
) -> Estimate:
    """Extraction calls over the candidates the run would plan, then one reasoner call.

    The reasoner's facts are at most what the extraction replies held, so they are
    counted as the extraction caps (bounded by the window).
    """
    budget = extraction_budget(gateway, query, extract_tokens)
    count = gateway.count_tokens
    if doc is not None:
        from longdoc.agents.reason import excerpt_block

        candidates = window_candidates(doc, budget - count(excerpt_block("P99", "")), count)
    else:
        candidates = index_candidates(index, query, doc_ids, k, neighbours)
    groups = group_candidates(candidates, budget, count)
    tokens = 0
    for group in groups:
        tagged = [(f"P{i}", c.text) for i, c in enumerate(group, start=1)]
        messages = with_schema(extractor_messages(query, tagged), Extraction)
        tokens += gateway.count_messages(messages) + extract_tokens
    frame = gateway.count_messages(with_schema(reasoner_messages(query, []), ReasonedAnswer))
    facts = min(len(groups) * extract_tokens, max(0, gateway.context_window - frame))
    return Estimate(calls=len(groups) + 1, tokens=tokens + frame + facts + answer_tokens)


# --- the classifier -----------------------------------------------------------------------
_WHOLE = (
    r"(the\s+)?(whole|entire|full|complete)?\s*(meeting|document|book|text|paper|story|novel"
    r"|report|file|transcript|code\s*base|codebase|repository|article|chapter)s?"
)
# Clear global wording: a summary of the whole (not "summarize the discussion about X"),
# themes, change over the text, counting, comparing, listing everything.
_GLOBAL_RULES = [
    re.compile(
        r"^\W*(summari[sz]e|sum up|give an? (summary|overview) of|what is the (summary|gist) of)"
        rf"\s+{_WHOLE}\W*$",
        re.I,
    ),
    re.compile(
        r"\b(main|key|overall|general|central|major)\s+(themes?|topics?|points?|ideas?"
        rf"|discussion|arguments?|conclusions?|takeaways?)\b.*\b{_WHOLE}\b",
        re.I,
    ),
    re.compile(r"\b(themes?|motifs?)\b", re.I),
    re.compile(
        r"\bhow\s+(does|do|did)\b.*\b(change|evolve|develop|progress|shift)\w*\b"
        r".*\b(over|through|across|throughout)\b",
        re.I,
    ),
    re.compile(r"\b(throughout|over the course of|across the (whole|entire))\b", re.I),
    re.compile(r"\b(how many times|count (all|every|the number)|how often)\b", re.I),
    re.compile(
        r"\b(list (all|every)|all the (places|times|characters|people|functions|mentions))\b",
        re.I,
    ),
    re.compile(r"\bcompare\b.*\b(across|throughout|over|all)\b", re.I),
]


def rule_scope(question: str | None) -> Scope | None:
    """``global`` when a clear rule says so (or there is no question: a summary), else None."""
    if question is None or not question.strip():
        return "global"
    return "global" if any(r.search(question) for r in _GLOBAL_RULES) else None


def load_labeled() -> list[dict[str, str]]:
    """The labeled questions shipped beside this module (``question``, ``scope``, ``source``)."""
    text = resources.files("longdoc.workflows").joinpath("route_questions.jsonl").read_text("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def fit_logistic(x: np.ndarray, y: np.ndarray, *, steps: int = 300, l2: float = 1e-3) -> np.ndarray:
    """Class-balanced L2 logistic regression by gradient descent, weights with a bias last.

    Hand-written (numpy only): scikit-learn would be a heavy dependency for 385 weights.
    """
    import numpy as np

    xb = np.hstack([x, np.ones((len(x), 1))])
    pos = max(1.0, float(y.sum()))
    neg = max(1.0, float(len(y) - y.sum()))
    sample = np.where(y == 1, len(y) / (2 * pos), len(y) / (2 * neg))
    w = np.zeros(xb.shape[1])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(xb @ w)))
        grad = xb.T @ (sample * (p - y)) / len(y) + l2 * w
        w -= 4.0 * grad  # unit-norm embeddings: a large fixed step converges in a few hundred
    return w


_WEIGHTS: dict[str, np.ndarray] = {}
_LOCK = threading.Lock()


def _weights(embedder: Any, key: str) -> np.ndarray:
    """The fitted weights for ``embedder`` (fitted once per process)."""
    import numpy as np

    with _LOCK:
        if key not in _WEIGHTS:
            rows = load_labeled()
            x = np.asarray(embedder.encode([r["question"] for r in rows]), dtype=float)
            y = np.array([1.0 if r["scope"] == "global" else 0.0 for r in rows])
            _WEIGHTS[key] = fit_logistic(x, y)
        return _WEIGHTS[key]


def embedding_scope(questions: list[str], embedder: Any = None) -> list[Scope]:
    """The logistic regression's labels for ``questions`` (rules not applied)."""
    import numpy as np

    from longdoc.retrieval.embedding import get_embedder

    embedder = embedder if embedder is not None else get_embedder()
    w = _weights(embedder, repr(getattr(embedder, "name", id(embedder))))
    x = np.asarray(embedder.encode(questions), dtype=float)
    scores = np.hstack([x, np.ones((len(x), 1))]) @ w
    return ["global" if s > 0 else "local" for s in scores]


async def classify(gateway: Gateway, question: str | None) -> tuple[Scope, str]:
    """The question's scope and what decided it (``rules``, ``embedding`` or ``llm``)."""
    import asyncio

    ruled = rule_scope(question)
    if ruled is not None:
        return ruled, "rules"
    assert question is not None  # rule_scope answers for no question
    if gateway.settings.route_classifier == "llm":
        prompt = (
            "Classify the question about a long document. Answer global when answering needs "
            "the whole text (a summary, themes, change over the text, counting or comparing "
            "across it); local when a few passages answer it (a fact, a name, a quote).\n\n"
            f"Question: {question}"
        )
        reply = await gateway.astructured(prompt, RouteScope, stage="route", max_tokens=32)
        return reply.scope, "llm"
    (scope,) = await asyncio.to_thread(embedding_scope, [question])
    return scope, "embedding"


def method_settings(
    gateway: Gateway, options: AutoOptions
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The chain's and reason's settings as they will run (their own defaults filled in)."""
    from longdoc.workflows.chain.graph import ChainOfAgents
    from longdoc.workflows.reason.graph import RetrieveThenReason

    c = ChainOfAgents(gateway, **options.for_method("chain").model_dump())
    r = RetrieveThenReason(gateway, **options.for_method("reason").model_dump())
    chain = {"notes_tokens": c.notes_tokens, "direction": c.direction, "vote": c.vote}
    reason = {"k": r.k, "neighbours": r.neighbours, "extract_tokens": r.extract_tokens}
    return chain, reason


async def route(
    gateway: Gateway,
    question: str | None,
    *,
    doc: DocumentText,
    options: AutoOptions,
    index: Any = None,
    doc_ids: list[str] | None = None,
) -> Route:
    """The route of ``question`` over ``doc`` with every strategy's estimate.

    Nothing calls the model, except the classifier with ``route_classifier="llm"``.

    Args:
        gateway: the model gateway (window and tokenizer).
        question: the question; None summarises.
        doc: the document's text (what direct and the chain read).
        options: auto's options (the chain's and reason's as they will run).
        index: the index reason searches when ``doc_ids`` are given.
        doc_ids: the indexed documents reason searches; None reads ``doc`` in windows.
    """
    import asyncio

    answer_tokens = options.answer_tokens or gateway.settings.max_output_tokens
    chain, reason = method_settings(gateway, options)
    estimates = {
        "direct": estimate_direct(gateway, doc, question, answer_tokens),
        "chain": await asyncio.to_thread(
            lambda: estimate_chain(gateway, doc, question, answer_tokens=answer_tokens, **chain)
        ),
    }
    if question:
        estimates["reason"] = await asyncio.to_thread(
            lambda: estimate_reason(
                gateway, question, doc=None if doc_ids else doc, index=index, doc_ids=doc_ids,
                answer_tokens=answer_tokens, **reason,
            )
        )  # fmt: skip
    base = Route(
        method="direct", why="fits", estimates=estimates,
        document_tokens=gateway.count_tokens(doc.text), window=gateway.context_window,
    )  # fmt: skip
    if fits(gateway, doc, question, answer_tokens):
        return base
    scope, by = await classify(gateway, question)
    method: Method = "chain" if scope == "global" else "reason"
    return base.model_copy(update={"method": method, "why": scope, "scope": scope,
                                   "classifier": by})  # fmt: skip


RunMethod = Callable[[StrategyOptions, "str | None"], AsyncIterator["ProgressEvent | Any"]]


async def _final(
    stream: AsyncIterator[ProgressEvent | Any], out: list[Any]
) -> AsyncIterator[ProgressEvent]:
    """The stream's progress events; its result is appended to ``out``."""
    async for item in stream:
        if isinstance(item, ProgressEvent):
            yield item
        else:
            out.append(item)


async def astream_auto(
    question: str | None,
    options: AutoOptions,
    *,
    gateway: Gateway,
    doc: DocumentText,
    index: Any,
    doc_ids: list[str] | None,
    run_id: str | None,
    run: RunMethod,
) -> AsyncIterator[ProgressEvent | AutoResult]:
    """Route, run the method chosen, and escalate to the chain when reason finds nothing.

    ``run(options, run_id)`` runs one method; a reason run that verified no evidence
    is followed by the chain when ``route_on_no_evidence`` is ``escalate`` (a progress
    event says so, the route's ``why`` becomes ``escalated``, ``first`` keeps it).
    """
    chosen = await route(gateway, question, doc=doc, options=options, index=index,
                         doc_ids=doc_ids)  # fmt: skip
    label = run_id or "auto"
    yield ProgressEvent(run_id=label, kind="stage", stage="route",
                        message=f"route: {chosen.method} ({chosen.why})")  # fmt: skip
    out: list[Any] = []
    async for event in _final(run(options.for_method(chosen.method), run_id), out):
        yield event
    final, first = out[-1], None
    escalate = gateway.settings.route_on_no_evidence == "escalate"
    if isinstance(final, ReasonResult) and not final.citations and escalate:
        yield ProgressEvent(run_id=label, kind="stage", stage="route",
                            message="reason verified no evidence: escalating to chain")  # fmt: skip
        first = final
        chain_id = f"{run_id}-chain" if run_id else None
        async for event in _final(run(options.for_method("chain"), chain_id), out):
            yield event
        final = out[-1]
        chosen = chosen.model_copy(update={"method": "chain", "why": "escalated"})
    usage = first.usage + final.usage if first is not None else final.usage
    spent = {"calls": usage.total.calls, "tokens": usage.total.total_tokens}
    chosen = chosen.model_copy(update=spent)
    yield AutoResult(
        answer=final.answer, task=final.task, query=final.query, source=final.source,
        run_id=final.run_id, parts=final.parts, resumed=final.resumed, usage=usage,
        route=chosen, result=final, first=first,
    )  # fmt: skip
