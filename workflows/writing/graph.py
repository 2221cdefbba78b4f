"""Recursive long-output writing (AgentWrite, L2MAC) as a resumable LangGraph workflow.

Plan, then write: the planner returns an outline whose budgets are rebalanced in
code to the requested length; sections above ``writing_max_leaf_words`` are
planned again into subsections, to any depth; the leaves are then written in
order, one call each, with length control (one continuation below 70% of the
budget, one condensing call above 150%) and a repetition guard (one rewrite
naming the repeat).

The context of every writer call is bounded: the instruction, the outline view
(titles and budgets of the top level and the current branch), a running summary
capped in tokens, the tail of the previous section and, when grounded, source
passages packed into a token budget. AgentWrite gives each call all text written
so far, so its prompts grow with the output; these do not.

Every leaf is a LangGraph super-step checkpointed in SQLite; leaf texts and the
plan live as JSON files under ``data_dir/runs/<run_id>/`` (written atomically),
and a leaf whose file exists is never written again.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from longdoc.agents.gateway import Gateway
from longdoc.agents.gateway.ledger import Usage
from longdoc.agents.writing import (
    Evidence,
    Section,
    WritingBrief,
    condense_section,
    continue_section,
    output_tokens,
    plan_outline,
    plan_subsections,
    rewrite_repeat,
    write_section,
)
from longdoc.errors import LongdocError
from longdoc.workflows.base import (
    GraphRun,
    ProgressEvent,
    RunSpec,
    Workflow,
    blocking,
    derive_run_id,
    drained,
    emit_progress,
    load_json,
    save_json_atomic,
)
from longdoc.workflows.writing.evidence import gather_evidence, resolve_sources
from longdoc.workflows.writing.memory import RunningSummary, SectionMemory, WritingMemory
from longdoc.workflows.writing.outline import (
    PlanNode,
    even_split,
    fit_to_target,
    heading_path,
    leaves,
    outline_view,
    to_nodes,
)
from longdoc.workflows.writing.quality import (
    Repeat,
    count_words,
    find_repeat,
    repeated_paragraphs,
    tail_words,
)
from longdoc.workflows.writing.result import (
    LeafReport,
    WritingResult,
    assemble,
    leaf_reports,
    length_figures,
)

__all__ = [
    "LeafReport",
    "LongWriter",
    "RunningSummary",
    "SectionMemory",
    "WritingContext",
    "WritingInput",
    "WritingMemory",
    "WritingOutput",
    "WritingResult",
    "WritingState",
    "build_writing_graph",
    "make_plan",
    "resolve_sources",
    "write_leaf",
]

_PLAN_TOKENS = 1536  # an outline of 8 sections with points is ~700 tokens of JSON


class WritingInput(TypedDict):
    """What a fresh run starts from."""

    next: int


class WritingState(WritingInput, total=False):
    """Working state, checkpointed after every leaf (texts live in files)."""

    leaves: int
    written: int
    summary: str
    done: bool


class WritingOutput(TypedDict, total=False):
    """What a finished run returns."""

    leaves: int
    written: int
    done: bool


@dataclass
class WritingContext:
    """Run-scoped inputs handed to every node (not checkpointed)."""

    gateway: Gateway
    run_id: str
    instruction: str
    words: int
    memory: WritingMemory
    index: Any = None
    doc_ids: list[str] = field(default_factory=list)
    usage_start: Usage = field(default_factory=Usage)
    plan: dict[str, Any] | None = None

    @property
    def run_dir(self) -> Path:
        """Where the plan and the leaf texts are stored."""
        return self.gateway.settings.data_dir / "runs" / self.run_id

    def roots(self) -> list[PlanNode]:
        """The outline tree (the plan must exist)."""
        assert self.plan is not None
        return [PlanNode.model_validate(r) for r in self.plan["roots"]]

    def leaf_path(self, i: int) -> Path:
        """The file of leaf ``i`` (0-based)."""
        return self.run_dir / "leaves" / f"{i:05d}.json"


# --- planning -------------------------------------------------------------------------
async def _expand(ctx: WritingContext, roots: list[PlanNode], node: PlanNode, depth: int) -> None:
    """Give ``node`` children until every leaf below it fits the leaf limit."""
    s = ctx.gateway.settings
    max_leaf = s.writing_max_leaf_words
    if node.words <= max_leaf:
        return
    if depth + 1 >= s.writing_max_depth:  # children at the deepest level must be leaves
        node.children = even_split(node, max_leaf)
    else:
        section = Section(title=node.title, points=node.points, words=node.words)
        sub = await plan_subsections(
            ctx.gateway,
            ctx.instruction,
            outline_view(roots, node.id),
            section,
            node.words,
            parts=min(14, math.ceil(node.words / max_leaf)),
            max_tokens=min(_PLAN_TOKENS, ctx.gateway.context_window // 3),
        )
        split = len(sub.sections) >= 2
        node.children = (
            to_nodes(sub.sections, node.words, f"{node.id}.")
            if split
            else even_split(node, max_leaf)
        )
    await asyncio.gather(*(_expand(ctx, roots, c, depth + 1) for c in node.children))


async def make_plan(ctx: WritingContext) -> dict[str, Any]:
    """Plan the document: outline, recursive split, budgets fitted to the target."""
    s = ctx.gateway.settings
    outline = await plan_outline(
        ctx.gateway,
        ctx.instruction,
        ctx.words,
        # Sections much under ~150 words make choppy text: short pieces get fewer.
        max_sections=min(s.writing_max_sections, max(2, math.ceil(ctx.words / 150))),
        max_tokens=min(_PLAN_TOKENS, ctx.gateway.context_window // 3),
    )
    roots = to_nodes(outline.sections, ctx.words)
    await asyncio.gather(*(_expand(ctx, roots, r, 1) for r in roots))
    title = outline.title.strip() or ctx.instruction.strip().split("\n")[0][:80]
    title = " ".join(title.replace("#", " ").split())
    headings = fit_to_target(title, roots, ctx.words)
    return {"title": title, "headings": headings, "roots": [r.model_dump() for r in roots]}


async def _plan(state: WritingState, runtime: Runtime[WritingContext]) -> dict[str, Any]:
    ctx = runtime.context
    path = ctx.run_dir / "plan.json"
    if ctx.plan is None and path.is_file():  # planned, but killed before the checkpoint
        ctx.plan = load_json(path)
    if ctx.plan is None:
        emit_progress(ctx, "stage", "planner", 0, ctx.words, "planning the outline")
        ctx.plan = await make_plan(ctx)
        save_json_atomic(path, ctx.plan)
    n = len(leaves(ctx.roots()))
    emit_progress(ctx, "stage", "planner", 0, ctx.words, f"{n} sections to write")
    return {"next": 0, "leaves": n, "written": 0, "summary": ""}


# --- writing one leaf -------------------------------------------------------------------
def _earlier(ctx: WritingContext, i: int) -> list[tuple[str, str]]:
    return [(rec["id"], rec["text"]) for rec in (load_json(ctx.leaf_path(j)) for j in range(i))]


async def _control_length(ctx: WritingContext, brief: WritingBrief, text: str) -> tuple[str, str]:
    """One continuation below the floor or one condensing call above the ceiling."""
    s = ctx.gateway.settings
    tpw, words = s.writing_tokens_per_word, count_words(text)
    if words < s.writing_continue_below * brief.words:
        more = brief.words - words
        cap = output_tokens(more, tpw)
        return await continue_section(ctx.gateway, brief, text, more, max_tokens=cap), "continued"
    if words > s.writing_condense_above * brief.words:
        cap = output_tokens(brief.words, tpw)
        return await condense_section(ctx.gateway, brief, text, max_tokens=cap), "condensed"
    return text, ""


async def _guard_repeats(
    ctx: WritingContext, brief: WritingBrief, text: str, earlier: list[tuple[str, str]], cap: int
) -> tuple[str, Repeat | None, list[Repeat]]:
    """The repetition guard: one rewrite naming the first repeat found.

    Returns:
        The text, the repeat rewritten (None when there was none) and the repeated
        paragraphs left in the text: one rewrite is all the guard does, and what it
        leaves is counted, not hidden.
    """
    repeat = find_repeat(text, earlier, ngram=ctx.gateway.settings.writing_repeat_ngram)
    if repeat is not None:
        text = await rewrite_repeat(
            ctx.gateway, brief, text, repeat.text, max_tokens=cap, within=not repeat.earlier
        )
    return text, repeat, repeated_paragraphs(text, earlier)


async def write_leaf(ctx: WritingContext, i: int, summary: str) -> dict[str, Any]:
    """Write leaf ``i`` with length control and the repetition guard; update the memory.

    Returns:
        The leaf's record: its :class:`LeafReport` fields, ``text``, the memory's
        ``summary`` after it, and the ``passages`` shown to the writer.
    """
    s = ctx.gateway.settings
    roots = ctx.roots()
    leaf = leaves(roots)[i]
    earlier = await asyncio.to_thread(_earlier, ctx, i)
    evidence = await asyncio.to_thread(
        gather_evidence,
        ctx.index,
        ctx.doc_ids,
        " ".join([leaf.title, *leaf.points]),
        s.writing_evidence_tokens,
        ctx.gateway.count_tokens,
    )
    if hasattr(ctx.memory, "restore"):  # the default memory lives in the checkpoint
        ctx.memory.restore(summary)
    brief = WritingBrief(
        instruction=ctx.instruction,
        outline=outline_view(roots, leaf.id),
        title=heading_path(roots, leaf.id),
        points=leaf.points,
        words=leaf.words,
        summary=ctx.memory.summary(),
        tail=tail_words(earlier[-1][1], s.writing_tail_words) if earlier else "",
        evidence=[Evidence(label=e["label"], doc_id=e["doc_id"], text=e["text"]) for e in evidence],
    )
    cap = output_tokens(leaf.words, s.writing_tokens_per_word)
    text, action = await _control_length(
        ctx, brief, await write_section(ctx.gateway, brief, max_tokens=cap)
    )
    actions = [action] if action else []
    text, repeat, left = await _guard_repeats(ctx, brief, text, earlier, cap)
    if repeat is not None:
        actions.append("rewritten")
    await ctx.memory.update(leaf.title, text)
    words = count_words(text)
    report = LeafReport(
        id=leaf.id,
        title=leaf.title,
        budget=leaf.words,
        words=words,
        words_distinct=words - sum(count_words(r.text) for r in left),
        actions=actions,
        repeat=repeat,
        repeats_left=left,
        evidence=[e["label"] for e in evidence],
    )
    return {**report.model_dump(), "text": text, "summary": ctx.memory.summary(),
            "passages": evidence}  # fmt: skip


async def _write(state: WritingState, runtime: Runtime[WritingContext]) -> dict[str, Any]:
    """One leaf per super-step; a leaf whose file exists is read back, not rewritten."""
    ctx = runtime.context
    if ctx.plan is None:
        ctx.plan = load_json(ctx.run_dir / "plan.json")
    i, path = state["next"], ctx.leaf_path(state["next"])
    if path.is_file():
        record = load_json(path)
    else:
        record = await write_leaf(ctx, i, state.get("summary", ""))
        save_json_atomic(path, record)
    written = state.get("written", 0) + record["words"]
    msg = f"{i + 1}/{state['leaves']} {record['title']}"
    emit_progress(ctx, "step", "writer", written, ctx.words, msg)
    return {"next": i + 1, "written": written, "summary": record["summary"]}


def _after_write(state: WritingState) -> str:
    return "write" if state["next"] < state["leaves"] else "finish"


async def _finish(state: WritingState, runtime: Runtime[WritingContext]) -> dict[str, Any]:
    ctx = runtime.context
    plan = ctx.plan or load_json(ctx.run_dir / "plan.json")
    words = state.get("written", 0) + plan["headings"]  # the whole document, headings included
    emit_progress(ctx, "done", "writer", words, ctx.words, "assembled")
    return {"done": True}


def build_writing_graph() -> StateGraph[WritingState, WritingContext, WritingInput, WritingOutput]:
    """The writing graph, uncompiled: plan -> write* -> finish."""
    graph = StateGraph(
        WritingState,
        context_schema=WritingContext,
        input_schema=WritingInput,
        output_schema=WritingOutput,
    )
    graph.add_node("plan", _plan)
    graph.add_node("write", _write)
    graph.add_node("finish", _finish)
    graph.add_edge(START, "plan")
    graph.add_conditional_edges("plan", _after_write, ["write", "finish"])
    graph.add_conditional_edges("write", _after_write, ["write", "finish"])
    graph.add_edge("finish", END)
    return graph


def _memory_label(memory: WritingMemory | None) -> str:
    if memory is None:
        return "running-summary"
    session = getattr(getattr(memory, "memory", None), "session_id", "")
    return f"{type(memory).__name__}:{session}" if session else type(memory).__name__


class LongWriter(Workflow):
    """Writes documents of a requested length (10,000 words and more) with a bounded context.

    Args:
        gateway: the model gateway (a default one from the environment when None).
        index: the shared :class:`~longdoc.retrieval.Index`, for grounded runs.
        memory: what the writer remembers of earlier sections; default a
            :class:`RunningSummary` capped at ``writing_summary_tokens``.
        checkpointer: a LangGraph checkpointer; default SQLite under the data dir.

    The documents a run draws passages from are its ``evidence`` (doc ids in the
    index, or paths ingested first); "source" means the document a reading workflow
    reads whole, so the writer does not use the word for its inputs.

    Example:
        >>> w = LongWriter(Gateway())
        >>> w.run("A guide to sourdough baking", words=10_000).markdown  # doctest: +SKIP
    """

    def __init__(
        self,
        gateway: Gateway | None = None,
        *,
        index: Any = None,
        memory: WritingMemory | None = None,
        checkpointer: Any = None,
    ) -> None:
        super().__init__(gateway, checkpointer=checkpointer)
        self.index = index
        self.memory = memory
        self._graph = build_writing_graph()

    def _run_id(self, instruction: str, words: int, doc_ids: list[str]) -> str:
        s = self.gateway.settings
        hashes = [(d, self.index.get_document(d).content_hash) for d in doc_ids]
        knobs = {k: v for k, v in s.model_dump().items() if k.startswith("writing_")}
        return derive_run_id(
            "write",
            model=self.gateway.endpoint.model_id,
            instruction=instruction,
            words=words,
            sources=hashes,
            knobs=knobs,
            window=self.gateway.context_window,
            # A different memory gives different prompts: never resume across memories.
            memory=_memory_label(self.memory),
        )

    async def _doc_ids(self, evidence: list[str]) -> list[str]:
        if not evidence:
            return []
        if self.index is None:
            from longdoc.retrieval import Index

            self.index = await asyncio.to_thread(Index, settings=self.gateway.settings)
        return await asyncio.to_thread(resolve_sources, self.index, evidence)

    async def astream(
        self,
        instruction: str,
        *,
        words: int,
        evidence: Sequence[str] | None = None,
        run_id: str | None = None,
    ) -> AsyncIterator[ProgressEvent | WritingResult]:
        """Run or resume, yielding progress events (words so far / target), then the result.

        Args:
            instruction: what to write.
            words: the length wanted, in words (at least 10).
            evidence: ground the text in these documents: doc ids in the index, or
                paths (files, folders) ingested into it first.
            run_id: name or resume a run; default derived from the inputs.

        Raises:
            LongdocError: an empty instruction, a length below 10 words, or bad evidence.
        """
        if not instruction.strip():
            raise LongdocError("the writing instruction is empty", parameter="instruction")
        if words < 10:
            raise LongdocError(f"words must be at least 10, not {words}", parameter="words")
        doc_ids = await self._doc_ids(list(evidence or []))
        if run_id is None:
            run_id = await asyncio.to_thread(self._run_id, instruction, words, doc_ids)
        s = self.gateway.settings
        ctx = WritingContext(
            gateway=self.gateway,
            run_id=run_id,
            instruction=instruction,
            words=words,
            memory=self.memory or RunningSummary(self.gateway, s.writing_summary_tokens),
            index=self.index,
            doc_ids=doc_ids,
            usage_start=self.gateway.usage(),
        )
        spec = RunSpec(
            self._graph, ctx, run_id, fresh={"next": 0}, stage="writer", total=words,
            progress_key="written", finished=lambda v: bool(v.get("done")),
            recursion_limit=100_000,
        )  # fmt: skip

        async def result(run: GraphRun) -> WritingResult:
            return await asyncio.to_thread(self._result, ctx, run.resumed)  # reads run files

        async for item in self._execute(spec, result):
            yield item

    arun = drained(astream)
    run = blocking(arun)

    def _result(self, ctx: WritingContext, resumed: bool) -> WritingResult:
        plan = load_json(ctx.run_dir / "plan.json")
        roots = [PlanNode.model_validate(r) for r in plan["roots"]]
        records = [load_json(ctx.leaf_path(i)) for i in range(len(leaves(roots)))]
        markdown, words, sources = assemble(plan, records)
        save_json_atomic(ctx.run_dir / "result.json", {"markdown": markdown, "words": words})
        sections = leaf_reports(records)
        return WritingResult(
            markdown=markdown,
            title=plan["title"],
            target_words=ctx.words,
            **length_figures(ctx.words, words, sections),
            run_id=ctx.run_id,
            outline=roots,
            sections=sections,
            sources=sources,
            resumed=resumed,
            usage=self.gateway.usage() - ctx.usage_start,
        )
