"""Memory chat: answer each turn from a hierarchical memory, then remember the turn.

Two LangGraph graphs share one SQLite checkpointer (see :mod:`longdoc.workflows.runs`):

* a **turn**: recall (assemble the budgeted context) -> answer -> remember (the
  user message and the answer become one ``turn`` episode);
* a **read**: one super-step per chunk of a document, each added to memory as a
  ``document`` episode keyed by the document's hash and the chunk's index. A
  killed read resumes at the next chunk; the memory's keys and journal make a
  re-sent chunk a no-op, so no summarizer call is repeated.

A :class:`Sitting` is the turns of one ``longdoc chat`` invocation, journaled until it
ends, so that a sitting killed after a finished turn and run again with the same
messages asks the model nothing again (see its docstring).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import RunnableConfig

from longdoc.agents.gateway import Gateway
from longdoc.agents.memory import (
    answer_messages,
    update_messages,
)
from longdoc.memory.hierarchical import HierarchicalMemory
from longdoc.memory.types import Episode
from longdoc.workflows.base import (
    GraphRun,
    ProgressEvent,
    RunSpec,
    Workflow,
    blocking,
    derive_run_id,
    drained,
    load_json,
    save_json_atomic,
)
from longdoc.workflows.budget import split_to_budget, tokens_left
from longdoc.workflows.chat.read import ReadReport, build_read_graph
from longdoc.workflows.chat.turn import (
    ChatContext,
    ChatReply,
    TurnInput,
    build_turn_graph,
    open_memory,
)
from longdoc.workflows.sources import DocumentText, as_document

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

__all__ = ["MemoryChat", "Sitting"]


# --- the app-facing class ---------------------------------------------------------------
class MemoryChat(Workflow):
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
        super().__init__(gateway, checkpointer=checkpointer)
        self.memory = memory or open_memory(session_id, self.gateway)
        self.context_budget = context_budget
        self.answer_tokens = answer_tokens or self.gateway.settings.max_output_tokens
        self.chunk_tokens = chunk_tokens
        self._turn = build_turn_graph()
        self._read = build_read_graph()

    def turn_budget(self, question: str) -> int:
        """Tokens the memory context may use for ``question``.

        Raises:
            BudgetError: the window cannot hold the prompt, question and answer.
        """
        budget = tokens_left(
            window=self.gateway.context_window,
            frame=self.gateway.count_messages(answer_messages("", question)),
            frame_label="prompt and question",
            reserved={"answer": self.answer_tokens},
            floor=0,
            what="the memory context of a turn",
        )
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
        async with self._saver() as saver:
            compiled = self._turn.compile(checkpointer=saver)
            run_id = await self._pending_turn(compiled, question, remember)
        return await self._arun_turn(question, remember=remember, run_id=run_id)

    async def _anext_turn_id(self, question: str, *, remember: bool = True) -> str:
        """The run id :meth:`achat` would give ``question`` now (an interrupted run's, if any)."""
        async with self._saver() as saver:
            compiled = self._turn.compile(checkpointer=saver)
            return await self._pending_turn(compiled, question, remember)

    async def _arun_turn(self, question: str, *, remember: bool, run_id: str) -> ChatReply:
        """Run, resume or replay the turn ``run_id``: a finished one is read from its checkpoint."""
        mem, gw = self.memory, self.gateway
        budget = await asyncio.to_thread(self.turn_budget, question)
        start = gw.usage()
        async with self._saver() as saver:
            compiled = self._turn.compile(checkpointer=saver)
            ctx = ChatContext(
                memory=mem, gateway=gw, run_id=run_id, budget=budget,
                answer_tokens=self.answer_tokens, remember=remember,
            )  # fmt: skip
            config: RunnableConfig = {"configurable": {"thread_id": run_id}}
            values = dict((await compiled.aget_state(config)).values)
            restored = "episode" in values or bool(values.get("answer") and not remember)
            if not restored:
                inputs: TurnInput | None = None if values else {"question": question}
                values = await compiled.ainvoke(inputs, config, context=ctx, durability="sync")
        episode = values.get("episode")
        return ChatReply(
            answer=values["answer"],
            context_tokens=values.get("context_tokens", 0),
            run_id=run_id,
            episode=episode if episode is not None and episode >= 0 else None,
            usage=gw.usage() - start,
            restored=restored,
        )

    def sitting(self) -> Sitting:
        """The turns of one sitting, replayed after a kill (see :class:`Sitting`)."""
        return Sitting(self)

    chat = blocking(achat)

    def _chunks(self, doc: DocumentText, run_id: str) -> list[str]:
        """The read's chunks, stored with the run so a resume reads exactly the same ones."""
        return list(self.run_file(run_id, "chunks.json", lambda: self._split(doc)))

    def _split(self, doc: DocumentText) -> list[str]:
        """``doc`` in chunks that the summarizer's prompt can hold, at most ``chunk_tokens``."""
        s, gw = self.memory.settings, self.gateway
        probe = Episode(session_id="", ordinal=0, role="document", text="", timestamp=0.0)
        frame = gw.count_messages(update_messages("", [probe], s.memory_summary_tokens))
        room = tokens_left(
            window=gw.context_window,
            frame=frame,
            reserved={"summary": s.memory_summary_tokens, "new summary": s.memory_summary_tokens},
            what="a chunk read into memory",
        )  # no floor here: split_to_budget refuses a budget too small to split to
        return split_to_budget(doc.text, min(self.chunk_tokens, room), gw.count_tokens)

    async def astream_read(
        self, source: DocumentText | str
    ) -> AsyncIterator[ProgressEvent | ReadReport]:
        """Read a document into memory chunk by chunk, yielding progress, then the report.

        Args:
            source: the document (a string is raw text).
        """
        doc = as_document(source)
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
        spec = RunSpec(
            self._read, ctx, run_id, fresh={"step": 0, "added": 0}, stage="read",
            total=len(chunks), progress_key="step",
            finished=lambda v: v.get("step", 0) >= len(chunks), recursion_limit=len(chunks) + 10,
        )  # fmt: skip
        start = gw.usage()

        async def report(run: GraphRun) -> ReadReport:
            await mem.aresume()  # a chunk journaled just before a kill gets its summary now
            return ReadReport(
                source=doc.name, run_id=run_id, chunks=len(chunks),
                added=run.values.get("added", 0) - run.before.get("added", 0),
                resumed=run.resumed, usage=gw.usage() - start,
            )  # fmt: skip

        async for item in self._execute(spec, report):
            yield item

    aread = drained(astream_read)
    read = blocking(aread)


# --- a sitting: the turns of one CLI invocation -------------------------------------------
class Sitting:
    """The turns of one sitting of a chat, replayed when a killed sitting is run again.

    A chat is not idempotent: the same message sent twice is two turns. But a sitting
    killed after a finished turn (its answer printed, or not yet) and started again with
    the same messages must not ask the model again. So each turn's run id is journaled
    *before* the turn runs; a sitting started while the journal of an unfinished one is
    there replays it: while its messages equal the journal's, each turn re-enters the
    same run (a finished one is read from its checkpoint, an interrupted one resumes).
    The first different message ends the replay.

    Use as a context manager: leaving it normally closes the sitting (its journal is
    removed); leaving it by an exception keeps the journal, so running the same
    messages again loses nothing.

    Args:
        chat: the chat whose session the sitting is in (one sitting per session).

    Example:
        >>> with MemoryChat("alice").sitting() as sitting:   # doctest: +SKIP
        ...     print(sitting.send("My locker code is 4417.").answer)
    """

    def __init__(self, chat: MemoryChat) -> None:
        self.chat = chat
        self.path: Path = (
            chat.run_dir(derive_run_id("memsitting", session=chat.memory.session_id)) / "turns.json"
        )
        # The turns of a sitting that did not end (killed): replayed while they match.
        self._before: list[dict[str, Any]] = (
            list(load_json(self.path)["turns"]) if self.path.is_file() else []
        )
        self._turns: list[dict[str, Any]] = []
        self._replaying = bool(self._before)

    async def asend(self, message: str, *, remember: bool = True) -> ChatReply:
        """Answer ``message`` (or replay it, when the killed sitting had it at this place).

        Returns:
            the reply; ``restored`` is True when it was read back, with no model call.
        """
        entry = {"question": message, "remember": remember}
        position = len(self._turns)
        before = self._before[position] if position < len(self._before) else None
        if self._replaying and before is not None and _same_turn(before, entry):
            run_id = str(before["run_id"])
            self._turns.append(before)
        else:
            self._replaying = False
            run_id = await self.chat._anext_turn_id(message, remember=remember)
            self._turns.append({**entry, "run_id": run_id})
            # Journaled before the turn runs: a kill at any later point finds its run.
            save_json_atomic(self.path, {"turns": self._turns})
        return await self.chat._arun_turn(message, remember=remember, run_id=run_id)

    def send(self, message: str, *, remember: bool = True) -> ChatReply:
        """Sync :meth:`asend`."""
        return self.chat.gateway.run_sync(self.asend(message, remember=remember))

    def close(self) -> None:
        """End the sitting: the same messages sent again later are new turns."""
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> Sitting:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:  # an error or an interrupt keeps the journal for the rerun
            self.close()


def _same_turn(journaled: dict[str, Any], entry: dict[str, Any]) -> bool:
    return all(journaled.get(k) == v for k, v in entry.items())
