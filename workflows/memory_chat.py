"""Memory chat: answer each turn from a hierarchical memory, then remember the turn.

Two LangGraph graphs share one SQLite checkpointer (see :mod:`longdoc.workflows.runs`):

* a **turn**: recall (assemble the budgeted context) -> answer -> remember (the
  user message and the answer become one ``turn`` episode);
* a **read**: one super-step per chunk of a document, each added to memory as a
  ``document`` episode keyed by the document's hash and the chunk's index. A
  killed read resumes at the next chunk; the memory's keys and journal make a
  re-sent chunk a no-op, so no summarizer call is repeated.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, TypedDict

from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from pydantic import BaseModel

from longdoc.agents.gateway import Gateway
from longdoc.agents.ledger import Usage
from longdoc.agents.memory import (
    GatewayController,
    GatewaySummarizer,
    answer_from_memory,
    answer_messages,
    update_messages,
)
from longdoc.memory.hierarchical import HierarchicalMemory
from longdoc.memory.types import Episode
from longdoc.workflows.runs import (
    GraphRun,
    ProgressEvent,
    derive_run_id,
    load_json,
    run_or_resume,
    save_json_atomic,
    saver_scope,
)
from longdoc.workflows.sources import DocumentText, from_text
from longdoc.workflows.splitting import BudgetError, seam_margin, split_to_budget

__all__ = ["ChatReply", "MemoryChat", "ReadReport", "open_memory"]


def open_memory(
    session_id: str,
    gateway: Gateway | None = None,
    *,
    controller: bool = False,
    **overrides: Any,
) -> HierarchicalMemory:
    """A :class:`HierarchicalMemory` whose summarizer, counter and settings come from a gateway.

    Args:
        session_id: the session.
        gateway: the model gateway; default one from the environment.
        controller: also consult the SCM controller agent when a context is over budget.
        **overrides: settings fields for this memory (``memory_fold_every=20``...).
    """
    gateway = gateway or Gateway()
    return HierarchicalMemory(
        session_id,
        summarizer=GatewaySummarizer(gateway),
        count_tokens=gateway.count_tokens,
        settings=gateway.settings,
        controller=GatewayController(gateway) if controller else None,
        **overrides,
    )


class ChatReply(BaseModel):
    """One answered turn.

    Attributes:
        answer: the assistant's answer.
        context_tokens: tokens of the memory context it was answered from.
        run_id: the turn's run id (its checkpoint thread).
        episode: the ordinal of the remembered turn, or None when not remembered.
        usage: calls and tokens of this turn, per stage.
    """

    answer: str
    context_tokens: int
    run_id: str
    episode: int | None = None
    usage: Usage


class ReadReport(BaseModel):
    """What reading a document into memory did.

    Attributes:
        source: the document's name.
        run_id: the read's run id.
        chunks: chunks in the document.
        added: chunks added by this invocation (0 when all were read before).
        resumed: True when this invocation continued an interrupted read.
        usage: calls and tokens of this invocation, per stage.
    """

    source: str
    run_id: str
    chunks: int
    added: int
    resumed: bool
    usage: Usage


# --- the turn graph ---------------------------------------------------------------------
class TurnInput(TypedDict):
    """A user message."""

    question: str


class TurnState(TurnInput, total=False):
    """Working state of a turn, checkpointed after every node."""

    context: str
    context_tokens: int
    answer: str
    episode: int


class TurnOutput(TypedDict, total=False):
    """A finished turn."""

    answer: str
    context_tokens: int
    episode: int


@dataclass
class ChatContext:
    """Run-scoped inputs of a turn or a read (not checkpointed)."""

    memory: HierarchicalMemory
    gateway: Gateway
    run_id: str
    budget: int = 0
    answer_tokens: int = 0
    remember: bool = True
    chunks: list[str] = field(default_factory=list)
    doc_key: str = ""
    source: str = ""


async def _recall(state: TurnState, runtime: Runtime[ChatContext]) -> dict[str, Any]:
    ctx = runtime.context
    built = await ctx.memory.abuild_context(state["question"], ctx.budget)
    return {"context": built.text, "context_tokens": built.tokens}


async def _answer(state: TurnState, runtime: Runtime[ChatContext]) -> dict[str, Any]:
    ctx = runtime.context
    answer = await answer_from_memory(
        ctx.gateway, state["context"], state["question"], answer_tokens=ctx.answer_tokens
    )
    return {"answer": answer}


async def _remember(state: TurnState, runtime: Runtime[ChatContext]) -> dict[str, Any]:
    ctx = runtime.context
    if not ctx.remember:
        return {}
    text = f"User: {state['question']}\nAssistant: {state['answer']}"
    ep = await ctx.memory.aadd(text, role="turn", key=ctx.run_id)
    if ep is None:  # journaled by a run killed before it finished: the same item
        return {"episode": ctx.memory.state.ordinal_of(ctx.memory.session_id, ctx.run_id)}
    return {"episode": ep.ordinal}


def build_turn_graph() -> StateGraph:
    """The turn graph: recall -> answer -> remember."""
    graph = StateGraph(
        TurnState, context_schema=ChatContext, input_schema=TurnInput, output_schema=TurnOutput
    )
    graph.add_node("recall", _recall)
    graph.add_node("answer", _answer)
    graph.add_node("remember", _remember)
    graph.add_edge(START, "recall")
    graph.add_edge("recall", "answer")
    graph.add_edge("answer", "remember")
    graph.add_edge("remember", END)
    return graph


# --- the read graph ---------------------------------------------------------------------
class ReadState(TypedDict):
    """Chunks read so far (the chunks themselves are stored beside the run)."""

    step: int
    added: int


async def _read_chunk(state: ReadState, runtime: Runtime[ChatContext]) -> dict[str, Any]:
    ctx = runtime.context
    step = state["step"]
    ep: Episode | None = await ctx.memory.aadd(
        ctx.chunks[step],
        role="document",
        source=f"{ctx.source}#{step}",
        key=f"{ctx.doc_key}:{step}",
    )
    get_stream_writer()(
        ProgressEvent(
            run_id=ctx.run_id, kind="step", stage="read", step=step + 1, total=len(ctx.chunks)
        )
    )
    return {"step": step + 1, "added": state["added"] + (ep is not None)}


def _more(state: ReadState, runtime: Runtime[ChatContext]) -> str:
    return "read" if state["step"] < len(runtime.context.chunks) else END


def build_read_graph() -> StateGraph:
    """The read graph: one chunk per super-step until the last."""
    graph = StateGraph(ReadState, context_schema=ChatContext)
    graph.add_node("read", _read_chunk)
    graph.add_edge(START, "read")
    graph.add_conditional_edges("read", _more, ["read", END])
    return graph


# --- the app-facing class ---------------------------------------------------------------
class MemoryChat:
    """A chat (or a reader) with hierarchical memory, resumable through SQLite checkpoints.

    Args:
        session_id: the memory session (ignored when ``memory`` is given).
        gateway: the model gateway; default one from the environment.
        memory: a memory to use; default :func:`open_memory` on ``session_id`` and ``gateway``.
        context_budget: cap on the memory context per turn; default what the window
            leaves after the prompt, the question, the answer and a margin.
        answer_tokens: cap on each answer; default ``settings.max_output_tokens``.
        chunk_tokens: cap on each chunk read into memory (the embedder reads ~256 word
            pieces, so longer chunks would be embedded by their beginning only).
        checkpointer: a LangGraph checkpointer; default SQLite under the data dir.

    Example:
        >>> chat = MemoryChat("alice")
        >>> chat.chat("My locker code is 4417.").answer       # doctest: +SKIP
        >>> chat.read(from_path("book.txt"))                  # doctest: +SKIP
    """

    def __init__(
        self,
        session_id: str = "default",
        gateway: Gateway | None = None,
        *,
        memory: HierarchicalMemory | None = None,
        context_budget: int | None = None,
        answer_tokens: int | None = None,
        chunk_tokens: int = 200,
        checkpointer: Any = None,
    ) -> None:
        self.gateway = gateway or Gateway()
        self.memory = memory or open_memory(session_id, self.gateway)
        self.context_budget = context_budget
        self.answer_tokens = answer_tokens or self.gateway.settings.max_output_tokens
        self.chunk_tokens = chunk_tokens
        self._checkpointer = checkpointer
        self._turn = build_turn_graph()
        self._read = build_read_graph()

    def _saver(self) -> Any:
        return saver_scope(self._checkpointer, self.gateway.settings.data_dir)

    def turn_budget(self, question: str) -> int:
        """Tokens the memory context may use for ``question``.

        Raises:
            BudgetError: the window cannot hold the prompt, question and answer.
        """
        window = self.gateway.context_window
        frame = self.gateway.count_messages(answer_messages("", question))
        margin = seam_margin(window)
        budget = window - frame - self.answer_tokens - margin
        if budget < 0:
            detail = f"window {window} - prompt and question {frame} - answer "
            raise BudgetError(budget, 0, f"{detail}{self.answer_tokens} - margin {margin}")
        return min(budget, self.context_budget) if self.context_budget else budget

    def _turn_id(self, turn: int, question: str, remember: bool) -> str:
        mem = self.memory
        return derive_run_id(
            "memchat", session=mem.session_id, turn=turn, question=question,
            model=self.gateway.endpoint.model_id, remember=remember,
        )  # fmt: skip

    async def _pending_turn(self, compiled: Any, question: str, remember: bool) -> str:
        """The run id of the turn: the interrupted run of the same question, if any.

        A turn killed while remembering has journaled its item (keyed by its run id)
        but not finished; asking the same question again finishes that run instead
        of answering again and remembering the turn twice.
        """
        items = self.memory.items
        if remember and items:
            previous = self._turn_id(items - 1, question, remember)
            if self.memory.state.has_key(self.memory.session_id, previous):
                state = await compiled.aget_state({"configurable": {"thread_id": previous}})
                if "episode" not in state.values:
                    return previous
        return self._turn_id(items, question, remember)

    async def achat(self, question: str, *, remember: bool = True) -> ChatReply:
        """Answer ``question`` from memory, then remember the turn (unless ``remember=False``)."""
        mem, gw = self.memory, self.gateway
        budget = await asyncio.to_thread(self.turn_budget, question)
        start = gw.usage()
        async with self._saver() as saver:
            compiled = self._turn.compile(checkpointer=saver)
            run_id = await self._pending_turn(compiled, question, remember)
            ctx = ChatContext(
                memory=mem, gateway=gw, run_id=run_id, budget=budget,
                answer_tokens=self.answer_tokens, remember=remember,
            )  # fmt: skip
            config = {"configurable": {"thread_id": run_id}}
            values = dict((await compiled.aget_state(config)).values)
            if "episode" not in values and not (values.get("answer") and not remember):
                inputs = None if values else {"question": question}
                values = await compiled.ainvoke(inputs, config, context=ctx, durability="sync")
        episode = values.get("episode")
        return ChatReply(
            answer=values["answer"],
            context_tokens=values.get("context_tokens", 0),
            run_id=run_id,
            episode=episode if episode is not None and episode >= 0 else None,
            usage=gw.usage() - start,
        )

    def chat(self, question: str, *, remember: bool = True) -> ChatReply:
        """Sync :meth:`achat`."""
        return self.gateway.run_sync(self.achat(question, remember=remember))

    def _chunks(self, doc: DocumentText, run_id: str) -> list[str]:
        """The read's chunks, stored with the run so a resume reads exactly the same ones."""
        path = self.gateway.settings.data_dir / "runs" / run_id / "chunks.json"
        if path.is_file():
            return list(load_json(path))
        s, gw = self.memory.settings, self.gateway
        probe = Episode(session_id="", ordinal=0, role="document", text="", timestamp=0.0)
        frame = gw.count_messages(update_messages("", [probe], s.memory_summary_tokens))
        room = gw.context_window - frame - 2 * s.memory_summary_tokens
        room -= seam_margin(gw.context_window)
        chunks = split_to_budget(doc.text, min(self.chunk_tokens, room), gw.count_tokens)
        save_json_atomic(path, chunks)
        return chunks

    async def astream_read(
        self, source: DocumentText | str
    ) -> AsyncIterator[ProgressEvent | ReadReport]:
        """Read a document into memory chunk by chunk, yielding progress, then the report."""
        doc = source if isinstance(source, DocumentText) else from_text(source)
        mem, gw = self.memory, self.gateway
        run_id = derive_run_id(
            "memread", session=mem.session_id, doc=doc.content_hash,
            chunk=self.chunk_tokens, model=gw.endpoint.model_id,
        )  # fmt: skip
        chunks = await asyncio.to_thread(self._chunks, doc, run_id)
        ctx = ChatContext(
            memory=mem, gateway=gw, run_id=run_id, chunks=chunks,
            doc_key=f"doc:{doc.content_hash[:16]}", source=doc.name,
        )  # fmt: skip
        start, run = gw.usage(), GraphRun({}, {})
        async for item in run_or_resume(
            self._read, self._saver(), ctx, run_id=run_id, fresh={"step": 0, "added": 0},
            stage="read", total=len(chunks), progress_key="step",
            finished=lambda v: v.get("step", 0) >= len(chunks),
            recursion_limit=len(chunks) + 10,
        ):  # fmt: skip
            if isinstance(item, ProgressEvent):
                yield item
            else:
                run = item
        await mem.aresume()  # a chunk journaled just before a kill gets its summary now
        yield ReadReport(
            source=doc.name, run_id=run_id, chunks=len(chunks),
            added=run.values.get("added", 0) - run.before.get("added", 0),
            resumed=run.resumed, usage=gw.usage() - start,
        )  # fmt: skip

    async def aread(self, source: DocumentText | str) -> ReadReport:
        """Read a document into memory to the end (or resume) and return the report."""
        report: ReadReport | None = None
        async for item in self.astream_read(source):
            if isinstance(item, ReadReport):
                report = item
        assert report is not None
        return report

    def read(self, source: DocumentText | str) -> ReadReport:
        """Sync :meth:`aread`."""
        return self.gateway.run_sync(self.aread(source))
