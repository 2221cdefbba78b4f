"""A memory-chat turn: recall the budgeted context, answer, remember the turn."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from pydantic import BaseModel

from longdoc.agents.gateway import Gateway
from longdoc.agents.gateway.ledger import Usage
from longdoc.agents.memory import (
    GatewayController,
    GatewaySummarizer,
    answer_from_memory,
)
from longdoc.memory.hierarchical import HierarchicalMemory

__all__ = [
    "ChatContext",
    "ChatReply",
    "TurnInput",
    "TurnOutput",
    "TurnState",
    "build_turn_graph",
    "open_memory",
]


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
        restored: True when the turn had finished before (a killed sitting run again):
            its answer is read back from its checkpoint, no model was called.
    """

    answer: str
    context_tokens: int
    run_id: str
    episode: int | None = None
    usage: Usage
    restored: bool = False


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


def build_turn_graph() -> StateGraph[TurnState, ChatContext, TurnInput, TurnOutput]:
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
