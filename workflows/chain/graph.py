"""Chain-of-Agents (Zhang et al., NeurIPS 2024) as a resumable LangGraph workflow.

Workers read the document's parts in order; worker *i* gets its part, the
previous worker's notes (the paper's communication unit, CU) and the query, and
rewrites the notes. A manager answers from the final notes and the query only.

Budgets are exact: the document budget of each worker call is the window minus
the worker's instructions and query (counted by the model's tokenizer on the
real prompt), minus the previous notes at their cap, minus the reply reserved
for the new notes, minus a small margin for tokenization at the seams; the
notes are capped by ``max_tokens``. No call can overflow the window.

Every worker step is a LangGraph super-step, checkpointed in SQLite under the
data dir; running again with the same run id resumes at the next worker, and
the gateway's response cache covers a step that finished its call but not its
checkpoint.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from longdoc.agents.chain import (
    Task,
    answer_from_notes,
    choose_notes,
    write_notes,
)
from longdoc.agents.gateway import Gateway
from longdoc.agents.gateway.ledger import Usage
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
from longdoc.workflows.budget import split_to_budget
from longdoc.workflows.chain.plan import plan
from longdoc.workflows.options import ChainOptions, parse_options
from longdoc.workflows.results import ChainResult
from longdoc.workflows.sources import DocumentText, as_document, default_task

__all__ = [
    "ChainContext",
    "ChainInput",
    "ChainOfAgents",
    "ChainOutput",
    "ChainState",
    "Direction",
    "build_chain_graph",
]


Direction = Literal["ltr", "rtl"]


class ChainInput(TypedDict):
    """What a fresh run starts from."""

    step: int
    notes: list[str]


class ChainState(ChainInput, total=False):
    """Working state, checkpointed after every step (the parts live outside it)."""

    history: list[list[str]]
    chosen: int
    judge_reason: str
    path_answers: list[str]
    answer: str


class ChainOutput(TypedDict, total=False):
    """What a finished run returns."""

    notes: list[str]
    history: list[list[str]]
    chosen: int
    judge_reason: str
    path_answers: list[str]
    answer: str


@dataclass
class ChainContext:
    """Run-scoped inputs handed to every node (not checkpointed)."""

    gateway: Gateway
    run_id: str
    parts: list[str]
    task: Task
    query: str | None
    directions: list[Direction]
    notes_tokens: int
    answer_tokens: int
    keep_notes: bool = False
    vote: bool = False
    usage_start: Usage = field(default_factory=Usage)

    def part_for(self, direction: Direction, step: int) -> tuple[int, str]:
        """The 1-based index and text of the part a path reads at ``step``."""
        i = step if direction == "ltr" else len(self.parts) - 1 - step
        return i + 1, self.parts[i]


async def _work(state: ChainState, runtime: Runtime[ChainContext]) -> dict[str, Any]:
    """One worker step on every path (paths run concurrently)."""
    ctx = runtime.context
    step, total = state["step"], len(ctx.parts)
    # plan() sized every part so that frame + previous notes at their cap + part +
    # margin <= window - new notes: a proven bound, so the gateway need not count.
    bound = ctx.gateway.context_window - ctx.notes_tokens
    jobs = []
    for path, direction in enumerate(ctx.directions):
        index, part = ctx.part_for(direction, step)
        jobs.append(
            write_notes(
                ctx.gateway,
                ctx.task,
                ctx.query,
                state["notes"][path],
                part,
                index,
                total,
                notes_tokens=ctx.notes_tokens,
                prompt_tokens_at_most=bound,
            )
        )
    notes = list(await asyncio.gather(*jobs))
    update: dict[str, Any] = {"step": step + 1, "notes": notes}
    if ctx.keep_notes:
        history = state.get("history") or [[] for _ in ctx.directions]
        update["history"] = [[*h, n] for h, n in zip(history, notes, strict=True)]
    emit_progress(ctx, "step", "worker", step + 1, total)
    return update


def _next(state: ChainState, runtime: Runtime[ChainContext]) -> str:
    ctx = runtime.context
    if state["step"] < len(ctx.parts):
        return "work"
    return "decide" if len(ctx.directions) > 1 else "manage"


def _normalise(answer: str) -> str:
    return " ".join(answer.lower().split()).strip(" .")


async def _decide(state: ChainState, runtime: Runtime[ChainContext]) -> dict[str, Any]:
    """Multi-path: majority vote over per-path answers when asked, else the judge's pick."""
    ctx = runtime.context
    update: dict[str, Any] = {}
    if ctx.vote:
        emit_progress(ctx, "stage", "manager", 0, len(ctx.directions), "answering on every path")
        answers = list(
            await asyncio.gather(
                *(
                    answer_from_notes(
                        ctx.gateway, ctx.task, ctx.query, n, answer_tokens=ctx.answer_tokens
                    )
                    for n in state["notes"]
                )
            )
        )
        update["path_answers"] = answers
        top, count = Counter(_normalise(a) for a in answers).most_common(1)[0]
        if count * 2 > len(answers):
            chosen = next(i for i, a in enumerate(answers) if _normalise(a) == top)
            return {
                **update,
                "chosen": chosen,
                "answer": answers[chosen],
                "judge_reason": f"majority vote ({count} of {len(answers)})",
            }
    emit_progress(ctx, "stage", "judge", 0, 1, "choosing the most reliable notes")
    verdict = await choose_notes(ctx.gateway, ctx.task, ctx.query, state["notes"])
    update.update(chosen=verdict.choice, judge_reason=verdict.reason)
    if "path_answers" in update:
        update["answer"] = update["path_answers"][verdict.choice]
    return update


async def _manage(state: ChainState, runtime: Runtime[ChainContext]) -> dict[str, Any]:
    """The manager answers from the chosen final notes and the query only."""
    ctx = runtime.context
    if state.get("answer"):
        return {}
    emit_progress(ctx, "stage", "manager", 0, 1, "answering from the final notes")
    notes = state["notes"][state.get("chosen", 0)]
    answer = await answer_from_notes(
        ctx.gateway, ctx.task, ctx.query, notes, answer_tokens=ctx.answer_tokens
    )
    return {"answer": answer}


def build_chain_graph() -> StateGraph[ChainState, ChainContext, ChainInput, ChainOutput]:
    """The chain-of-agents graph, uncompiled: work* -> [decide] -> manage."""
    graph = StateGraph(
        ChainState, context_schema=ChainContext, input_schema=ChainInput, output_schema=ChainOutput
    )
    graph.add_node("work", _work)
    graph.add_node("decide", _decide)
    graph.add_node("manage", _manage)
    graph.add_edge(START, "work")
    graph.add_conditional_edges("work", _next, ["work", "decide", "manage"])
    graph.add_edge("decide", "manage")
    graph.add_edge("manage", END)
    return graph


_DIRECTIONS: dict[str, list[Direction]] = {"ltr": ["ltr"], "rtl": ["rtl"], "both": ["ltr", "rtl"]}


class ChainOfAgents(Workflow):
    """Question answering and summarisation over any length of text, by a chain of agents.

    Args:
        gateway: the model gateway (a default one from the environment when None).
        direction: ``ltr`` (the paper's), ``rtl``, or ``both`` (multi-path with a judge).
        notes_tokens: cap on the notes each worker writes; default window/16 in [64, 1024].
        answer_tokens: cap on the manager's answer; default ``settings.max_output_tokens``.
        vote: with ``both``, answer on each path and keep a majority answer; the judge
            decides ties.
        keep_notes: return every worker's notes in the result.
        checkpointer: a LangGraph checkpointer; default SQLite under the data dir.
        task: force ``qa``, ``summary`` or ``code``; default from the query and document.

    Raises:
        StrategyOptionError: an invalid option (a direction other than ltr, rtl or both).

    Example:
        >>> coa = ChainOfAgents(Gateway())
        >>> coa.run("Who marries Anne?", source=from_path("book.txt")).answer  # doctest: +SKIP
    """

    def __init__(
        self,
        gateway: Gateway | None = None,
        *,
        direction: Literal["ltr", "rtl", "both"] = "ltr",
        notes_tokens: int | None = None,
        answer_tokens: int | None = None,
        vote: bool = False,
        keep_notes: bool = False,
        checkpointer: Any = None,
        task: Task | None = None,
    ) -> None:
        super().__init__(gateway, checkpointer=checkpointer)
        options = parse_options(
            ChainOptions,
            {"direction": direction, "notes_tokens": notes_tokens, "answer_tokens": answer_tokens,
             "vote": vote, "keep_notes": keep_notes},
        )  # fmt: skip
        window = self.gateway.context_window
        self.direction = options.direction
        self.notes_tokens = options.notes_tokens or max(64, min(1024, window // 16))
        self.answer_tokens = options.answer_tokens or self.gateway.settings.max_output_tokens
        self.vote = options.vote
        self.keep_notes = options.keep_notes
        self.task = task
        self._graph = build_chain_graph()

    def _run_id(self, doc: DocumentText, query: str | None, task: Task) -> str:
        return derive_run_id(
            "chain",
            model=self.gateway.endpoint.model_id,
            doc=doc.content_hash,
            query=query,
            task=task,
            direction=self.direction,
            notes=self.notes_tokens,
            answer=self.answer_tokens,
            window=self.gateway.context_window,
            vote=self.vote,
        )

    def _parts(self, doc: DocumentText, query: str | None, task: Task, run_id: str) -> list[str]:
        """The run's parts: stored with the run, so a resume reads exactly the same ones."""

        def split() -> list[str]:
            budget = plan(self.gateway, task, query, self.notes_tokens, self.answer_tokens)
            return split_to_budget(doc.text, budget, self.gateway.count_tokens)

        return list(self.run_file(run_id, "parts.json", split))

    async def astream(
        self,
        query: str | None = None,
        *,
        source: DocumentText | str,
        run_id: str | None = None,
    ) -> AsyncIterator[ProgressEvent | ChainResult]:
        """Run or resume, yielding progress events and finally the result.

        Args:
            query: the question; None summarises (code gets a code summary).
            source: the document, read whole (a string is raw text).
            run_id: name or resume a run; default derived from the inputs.
        """
        doc = as_document(source)
        task: Task = self.task or default_task(doc, query)
        if run_id is None:
            run_id = await asyncio.to_thread(self._run_id, doc, query, task)
        parts = await asyncio.to_thread(self._parts, doc, query, task, run_id)
        ctx = ChainContext(
            gateway=self.gateway,
            run_id=run_id,
            parts=parts,
            task=task,
            query=query,
            directions=_DIRECTIONS[self.direction],
            notes_tokens=self.notes_tokens,
            answer_tokens=self.answer_tokens,
            keep_notes=self.keep_notes,
            vote=self.vote,
            usage_start=self.gateway.usage(),
        )
        spec = RunSpec(
            self._graph, ctx, run_id, fresh={"step": 0, "notes": [""] * len(ctx.directions)},
            stage="worker", total=len(parts), progress_key="step",
            finished=lambda v: "answer" in v, recursion_limit=len(parts) + 10,
        )  # fmt: skip

        async def result(run: GraphRun) -> ChainResult:
            return self._result(run, ctx, doc)

        async for item in self._execute(spec, result):
            yield item

    arun = drained(astream)
    run = blocking(arun)

    def _result(self, run: GraphRun, ctx: ChainContext, doc: DocumentText) -> ChainResult:
        final = run.values
        chosen = final.get("chosen", 0)
        return ChainResult(
            answer=final.get("answer", ""),
            task=ctx.task,
            query=ctx.query,
            source=doc.name,
            run_id=ctx.run_id,
            final_notes=final["notes"][chosen],
            worker_notes=final.get("history") if self.keep_notes else None,
            direction=ctx.directions[chosen],
            judge_reason=final.get("judge_reason"),
            parts=len(ctx.parts),
            resumed=run.resumed,
            usage=self.gateway.usage() - ctx.usage_start,
        )
