"""Reading a document into memory: one checkpointed super-step per chunk."""

from __future__ import annotations

from typing import Any, TypedDict

from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from pydantic import BaseModel

from longdoc.agents.gateway.ledger import Usage
from longdoc.memory.types import Episode
from longdoc.workflows.base import (
    ProgressEvent,
)
from longdoc.workflows.chat.turn import ChatContext

__all__ = ["ReadReport", "ReadState", "build_read_graph"]


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


def build_read_graph() -> StateGraph[ReadState, ChatContext, ReadState, ReadState]:
    """The read graph: one chunk per super-step until the last."""
    graph = StateGraph(ReadState, context_schema=ChatContext)
    graph.add_node("read", _read_chunk)
    graph.add_edge(START, "read")
    graph.add_conditional_edges("read", _more, ["read", END])
    return graph
