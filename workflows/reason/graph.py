"""Retrieve-then-reason with verified evidence, as a resumable LangGraph workflow.

1. Candidates: the question's hybrid top chunks from the shared index (with
   neighbours, merged where they touch), or windows over the whole text of a
   document that is not in the index.
2. Extract: candidates are packed into calls that fit the window; an extractor
   returns the verbatim sentences bearing on the question, each tagged with its
   candidate. Calls run a bounded batch at a time (and the gateway bounds the
   requests in flight); each batch is one checkpointed super-step.
3. Verify: every sentence is located in its candidate (see
   :mod:`longdoc.workflows.evidence`); what is not found is dropped and counted.
4. Reason: a reasoner answers from the verified facts only and names those it
   used; with no verified fact the configured "not in the document" answer is
   returned without a call.

The candidates and calls are stored with the run (not in the checkpointed
state), so a resume sends the same prompts: finished batches are checkpointed,
finished calls of an unfinished batch come from the response cache.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from longdoc.agents.gateway import Gateway
from longdoc.agents.gateway.ledger import Usage
from longdoc.agents.reason import Extraction, excerpt_block, extract_evidence, reason_from_facts
from longdoc.errors import LongdocError, ReasonerOutputError, StructuredOutputError
from longdoc.workflows.base import (
    GraphRun,
    ProgressEvent,
    RunSpec,
    Workflow,
    blocking,
    derive_run_id,
    drained,
    emit_progress,
)
from longdoc.workflows.options import ReasonOptions, parse_options
from longdoc.workflows.reason.candidates import (
    extraction_budget,
    fit_facts,
    group_candidates,
    index_candidates,
    window_candidates,
)
from longdoc.workflows.reason.failures import FailedExtraction
from longdoc.workflows.reason.verify import Candidate, Citation, distinct_facts, verify
from longdoc.workflows.results import ReasonResult
from longdoc.workflows.sources import DocumentText, as_document

__all__ = [
    "ReasonContext",
    "ReasonInput",
    "ReasonOutput",
    "ReasonState",
    "RetrieveThenReason",
    "build_reason_graph",
]


class ReasonInput(TypedDict):
    """What a fresh run starts from: no extraction call done yet."""

    done: int


class ReasonOutput(TypedDict, total=False):
    """What a finished run returns."""

    facts: list[dict[str, Any]]
    extracted: int
    dropped: int
    dropped_text: list[str]
    failures: list[dict[str, Any]]  # FailedExtraction.model_dump() of each failed call
    answer: str
    citations: list[dict[str, Any]]
    fallback: bool


class ReasonState(ReasonInput, ReasonOutput, total=False):
    """Working state, checkpointed after every batch of extraction calls."""


@dataclass
class ReasonContext:
    """Run-scoped inputs handed to every node (not checkpointed)."""

    gateway: Gateway
    run_id: str
    query: str
    groups: list[list[Candidate]]
    threshold: float
    extract_tokens: int
    answer_tokens: int
    not_found: str
    batch: int
    usage_start: Usage = field(default_factory=Usage)


# Dropped sentences kept for auditing: enough to judge the extractor, bounded so a
# run over a whole corpus does not bloat every checkpoint.
_KEEP_DROPPED = 200


# --- the graph ------------------------------------------------------------------------------
async def _extract_one(ctx: ReasonContext, g: int) -> Extraction | FailedExtraction:
    """Extraction call ``g``; an answer that stays invalid after repair is recorded, not fatal."""
    group = ctx.groups[g]
    tagged = [(f"P{i}", c.text) for i, c in enumerate(group, start=1)]
    try:
        return await extract_evidence(ctx.gateway, ctx.query, tagged, max_tokens=ctx.extract_tokens)
    except StructuredOutputError as e:
        # The reply is cached, so a retry would fail the same way: record the call as
        # failed (it yields no evidence) and keep the other calls' work. Transport
        # errors still raise: the run stops and resumes, and the call is tried again.
        return FailedExtraction.from_error(g, group, e)


async def _extract(state: ReasonState, runtime: Runtime[ReasonContext]) -> dict[str, Any]:
    """One bounded batch of extraction calls, each verified against its candidates."""
    ctx = runtime.context
    start, total = state["done"], len(ctx.groups)
    batch = list(range(start, min(start + ctx.batch, total)))
    finished = 0

    async def run(g: int) -> Extraction | FailedExtraction:
        nonlocal finished
        reply = await _extract_one(ctx, g)
        finished += 1
        emit_progress(ctx, "step", "extract", start + finished, total)
        return reply

    replies = await asyncio.gather(*(run(g) for g in batch))
    facts = list(state.get("facts") or [])
    extracted, dropped = state.get("extracted", 0), state.get("dropped", 0)
    failures = list(state.get("failures") or [])
    dropped_text = list(state.get("dropped_text") or [])
    for g, reply in zip(batch, replies, strict=True):
        if isinstance(reply, FailedExtraction):
            failures.append(reply.model_dump())  # plain JSON in the checkpoint, like facts
            continue
        tags = {f"P{i}": c for i, c in enumerate(ctx.groups[g], start=1)}
        claims = [(s.chunk, s.sentence) for s in reply.sentences]
        checked = verify(claims, tags, ctx.threshold)
        facts += [c.model_dump() for c in checked.citations]
        extracted += len(claims)
        dropped += len(checked.dropped)
        dropped_text += checked.dropped[: max(0, _KEEP_DROPPED - len(dropped_text))]
    return {
        "done": batch[-1] + 1 if batch else total,
        "facts": facts,
        "extracted": extracted,
        "dropped": dropped,
        "dropped_text": dropped_text,
        "failures": failures,
    }


def _next(state: ReasonState, runtime: Runtime[ReasonContext]) -> str:
    return "extract" if state["done"] < len(runtime.context.groups) else "reason"


async def _reason(state: ReasonState, runtime: Runtime[ReasonContext]) -> dict[str, Any]:
    """Answer from verified facts only; no facts, no call."""
    ctx = runtime.context
    if state.get("answer"):
        return {}
    found = [Citation.model_validate(f) for f in state.get("facts") or []]
    unique = {(f.doc_id, f.char_start, f.char_end): f for f in distinct_facts(found)}
    # Best candidates first when the window cannot hold every fact; shown in document order.
    spans = list(dict.fromkeys((f.doc_id, f.char_start, f.char_end) for f in found))
    ranked = [unique[k] for k in spans if k in unique]
    kept = await asyncio.to_thread(fit_facts, ctx.gateway, ctx.query, ranked, ctx.answer_tokens)
    if not kept:
        emit_progress(ctx, "stage", "reason", 0, 0, "no verified evidence: nothing to reason from")
        return {"answer": ctx.not_found, "citations": [], "fallback": False}
    shown = sorted(kept, key=lambda f: (f.doc_id, f.char_start))
    facts = {f"F{i}": f.model_copy(update={"fact_id": f"F{i}"}) for i, f in enumerate(shown, 1)}
    emit_progress(ctx, "stage", "reason", 0, 1, f"reasoning from {len(facts)} verified facts")
    try:
        reply = await reason_from_facts(
            ctx.gateway,
            ctx.query,
            [(fid, f.quote) for fid, f in facts.items()],
            max_tokens=ctx.answer_tokens,
        )
    except StructuredOutputError as e:
        raise ReasonerOutputError(
            ctx.run_id,
            e.raw_text,
            list(facts.values()),
            extracted=state.get("extracted", 0),
            dropped=state.get("dropped", 0),
        ) from e
    named = [facts[i] for i in dict.fromkeys(x.strip() for x in reply.facts) if i in facts]
    cited = named or list(facts.values())
    return {
        "answer": reply.answer.strip(),
        "citations": [c.model_dump() for c in cited],
        "fallback": not named,
    }


def build_reason_graph() -> StateGraph[ReasonState, ReasonContext, ReasonInput, ReasonOutput]:
    """The retrieve-then-reason graph, uncompiled: extract* -> reason."""
    graph = StateGraph(
        ReasonState,
        context_schema=ReasonContext,
        input_schema=ReasonInput,
        output_schema=ReasonOutput,
    )
    graph.add_node("extract", _extract)
    graph.add_node("reason", _reason)
    graph.add_conditional_edges(START, _next, ["extract", "reason"])
    graph.add_conditional_edges("extract", _next, ["extract", "reason"])
    graph.add_edge("reason", END)
    return graph


# --- the runner -------------------------------------------------------------------------------
class RetrieveThenReason(Workflow):
    """Answer questions from verbatim evidence that is checked against the document.

    Args:
        gateway: the model gateway (a default one from the environment when None).
        index: the shared :class:`~longdoc.retrieval.Index`, for questions over indexed
            documents; default the index the settings describe, opened on first use.
        k: top chunks retrieved per question; default ``settings.reason_candidates``.
        neighbours: chunks added on each side of a hit; default ``settings.reason_neighbours``.
        threshold: least fuzzy score (0-100) of a verified sentence; default
            ``settings.reason_verify_threshold``.
        not_found: the answer when nothing is verified; default ``settings.reason_not_found``.
        extract_tokens: cap on each extractor reply; default ``settings.max_output_tokens``.
        answer_tokens: cap on the reasoner's reply; default ``settings.max_output_tokens``.
        checkpointer: a LangGraph checkpointer; default SQLite under the data dir.

    Raises:
        StrategyOptionError: an invalid option (a threshold outside 0-100, ...).

    Example:
        >>> rtr = RetrieveThenReason(Gateway())
        >>> r = rtr.run("Who marries Anne?", doc_ids=["persuasion.txt"])  # doctest: +SKIP
        >>> [(c.char_start, c.quote) for c in r.citations]                # doctest: +SKIP
    """

    def __init__(
        self,
        gateway: Gateway | None = None,
        *,
        index: Any = None,
        k: int | None = None,
        neighbours: int | None = None,
        threshold: float | None = None,
        not_found: str | None = None,
        extract_tokens: int | None = None,
        answer_tokens: int | None = None,
        checkpointer: Any = None,
    ) -> None:
        super().__init__(gateway, checkpointer=checkpointer)
        o = parse_options(
            ReasonOptions,
            {"k": k, "neighbours": neighbours, "threshold": threshold, "not_found": not_found,
             "extract_tokens": extract_tokens, "answer_tokens": answer_tokens},
        )  # fmt: skip
        s = self.gateway.settings
        self._index = index
        self.k = o.k or s.reason_candidates
        self.neighbours = s.reason_neighbours if o.neighbours is None else o.neighbours
        self.threshold = s.reason_verify_threshold if o.threshold is None else o.threshold
        self.not_found = o.not_found or s.reason_not_found
        self.extract_tokens = o.extract_tokens or s.max_output_tokens
        self.answer_tokens = o.answer_tokens or s.max_output_tokens
        self._graph = build_reason_graph()

    @property
    def index(self) -> Any:
        """The shared index (opened on first use)."""
        if self._index is None:
            from longdoc.retrieval import Index

            self._index = Index(settings=self.gateway.settings)
        return self._index

    def _all_doc_ids(self) -> list[str]:
        return [d.doc_id for d in self.index.list_documents()]

    def run_id_for(
        self,
        query: str,
        *,
        source: DocumentText | None = None,
        doc_ids: Sequence[str] | None = None,
    ) -> str:
        """The run id a run over these inputs gets by default (its checkpoint and stored plan).

        Raises:
            DocumentNotFoundError: a doc id is not in the index.
        """
        if source is not None:
            what: Any = {"text": source.content_hash}
        else:
            docs = list(doc_ids) if doc_ids is not None else self._all_doc_ids()
            # Content hashes: re-ingesting a changed document starts a new run.
            what = {
                "index": self.index.collection,
                "docs": {d: self.index.get_document(d).content_hash for d in docs},
            }
        return derive_run_id(
            "reason",
            model=self.gateway.endpoint.model_id,
            source=what,
            query=query,
            k=self.k,
            neighbours=self.neighbours,
            threshold=self.threshold,
            not_found=self.not_found,
            extract=self.extract_tokens,
            answer=self.answer_tokens,
            window=self.gateway.context_window,
        )

    def _plan(
        self, query: str, source: DocumentText | None, doc_ids: list[str] | None, run_id: str
    ) -> list[list[Candidate]]:
        """The run's extraction calls: stored with the run, so a resume sends the same prompts."""

        def group() -> list[list[dict[str, Any]]]:
            budget = extraction_budget(self.gateway, query, self.extract_tokens)
            count = self.gateway.count_tokens
            if source is not None:
                frame = count(excerpt_block("P99", ""))
                candidates = window_candidates(source, budget - frame, count)
            else:
                candidates = index_candidates(self.index, query, doc_ids, self.k, self.neighbours)
            groups = group_candidates(candidates, budget, count)
            return [[c.model_dump() for c in g] for g in groups]

        stored = self.run_file(run_id, "groups.json", group)
        return [[Candidate.model_validate(c) for c in g] for g in stored]

    async def astream(
        self,
        query: str,
        *,
        source: DocumentText | str | None = None,
        doc_ids: Sequence[str] | None = None,
        run_id: str | None = None,
    ) -> AsyncIterator[ProgressEvent | ReasonResult]:
        """Run or resume, yielding progress events and finally the result.

        Args:
            query: the question.
            source: a document read whole, in windows (not from the index; a string is
                raw text).
            doc_ids: with no ``source``: the indexed documents to search (None: all).
            run_id: name or resume a run; default derived from the inputs.

        A run whose search finds no candidate text calls no model and says so with
        ``parts == 0`` (and the ``not_found`` answer), not an error: ``auto`` escalates
        it to the chain; ``longdoc ask`` reports it as :class:`NoContextError`.

        Raises:
            LongdocError: no question, or both ``source`` and ``doc_ids`` given.
            DocumentNotFoundError: a doc id is not in the index.
        """
        if not query or not query.strip():
            raise LongdocError("the reason strategy needs a question", query=query)
        if source is not None and doc_ids is not None:
            raise LongdocError("give source or doc_ids, not both", doc_ids=list(doc_ids))
        doc = as_document(source) if source is not None else None
        ids = list(doc_ids) if doc_ids is not None else None
        if run_id is None:
            run_id = await asyncio.to_thread(
                lambda: self.run_id_for(query, source=doc, doc_ids=ids)
            )
        groups = await asyncio.to_thread(self._plan, query, doc, ids, run_id)
        ctx = self._context(query, groups, run_id)
        spec = RunSpec(
            self._graph, ctx, run_id, fresh={"done": 0}, stage="extract", total=len(groups),
            progress_key="done", finished=lambda v: "answer" in v,
            recursion_limit=-(-len(groups) // ctx.batch) + 10,
        )  # fmt: skip

        async def result(run: GraphRun) -> ReasonResult:
            return self._result(run, ctx, self._label(doc, ids))

        async for item in self._execute(spec, result):
            yield item

    arun = drained(astream)
    run = blocking(arun)

    def _context(self, query: str, groups: list[list[Candidate]], run_id: str) -> ReasonContext:
        return ReasonContext(
            gateway=self.gateway,
            run_id=run_id,
            query=query,
            groups=groups,
            threshold=self.threshold,
            extract_tokens=self.extract_tokens,
            answer_tokens=self.answer_tokens,
            not_found=self.not_found,
            # Twice the request bound keeps the gateway's slots busy while never
            # creating more than a small, fixed number of tasks at once.
            batch=2 * self.gateway.settings.max_concurrency,
            usage_start=self.gateway.usage(),
        )

    @staticmethod
    def _label(doc: DocumentText | None, doc_ids: list[str] | None) -> str:
        if doc is not None:
            return doc.name
        return ",".join(doc_ids) if doc_ids else "index"

    def _result(self, run: GraphRun, ctx: ReasonContext, source: str) -> ReasonResult:
        final = run.values
        extracted, dropped = final.get("extracted", 0), final.get("dropped", 0)
        return ReasonResult(
            answer=final.get("answer", ""),
            query=ctx.query,
            source=source,
            run_id=ctx.run_id,
            parts=len(ctx.groups),
            resumed=run.resumed,
            usage=self.gateway.usage() - ctx.usage_start,
            citations=[Citation.model_validate(c) for c in final.get("citations") or []],
            citations_fallback=final.get("fallback", False),
            facts_extracted=extracted,
            facts_verified=extracted - dropped,
            facts_dropped=dropped,
            dropped_sentences=list(final.get("dropped_text") or []),
            extraction_failures=len(final.get("failures") or []),
            failed_extractions=[
                FailedExtraction.model_validate(f) for f in final.get("failures") or []
            ],
        )
