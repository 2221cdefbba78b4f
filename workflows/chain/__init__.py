"""Chain-of-Agents: the graph (``graph``) and the worker budget (``plan``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from longdoc._lazy import lazy_exports

# public name -> module that defines it
_LAZY: dict[str, str] = {
    "ChainContext": ".graph",
    "ChainInput": ".graph",
    "ChainOfAgents": ".graph",
    "ChainOutput": ".graph",
    "ChainState": ".graph",
    "build_chain_graph": ".graph",
    "plan": ".plan",
}

__all__ = [
    "ChainContext",
    "ChainInput",
    "ChainOfAgents",
    "ChainOutput",
    "ChainState",
    "build_chain_graph",
    "plan",
]

if TYPE_CHECKING:
    from longdoc.workflows.chain.graph import (
        ChainContext,
        ChainInput,
        ChainOfAgents,
        ChainOutput,
        ChainState,
        build_chain_graph,
    )
    from longdoc.workflows.chain.plan import plan


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
