"""Hierarchical memory (HEMA, SCM): compact summaries, verbatim episodes, budgeted contexts.

Names resolve lazily, so ``import longdoc.memory`` loads neither chromadb nor torch::

    from longdoc.memory import HierarchicalMemory
    mem = HierarchicalMemory("alice", summarizer=summarizer, count_tokens=count)
    mem.add("My locker code is 4417.")
    mem.build_context("What is my locker code?", budget_tokens=3500).text
"""

from __future__ import annotations

from longdoc._lazy import lazy_exports

__all__ = [
    "CUT_MARK",
    "ContextPiece",
    "Controller",
    "Decision",
    "Episode",
    "HierarchicalMemory",
    "MemoryContext",
    "MemorySessionError",
    "MemoryState",
    "MemorySummary",
    "RecalledEpisode",
    "SalienceRule",
    "Summarizer",
    "TokenCounter",
    "cap_tokens",
    "collection_name",
    "fit_context",
    "prune_victims",
    "render",
]

_WHERE = {
    "CUT_MARK": "context",
    "ContextPiece": "types",
    "Controller": "types",
    "Decision": "types",
    "Episode": "types",
    "HierarchicalMemory": "hierarchical",
    "MemoryContext": "types",
    "MemorySessionError": ".errors",
    "MemoryState": "state",
    "MemorySummary": "types",
    "RecalledEpisode": "types",
    "SalienceRule": "salience",
    "Summarizer": "types",
    "TokenCounter": "types",
    "cap_tokens": "context",
    "collection_name": "hierarchical",
    "fit_context": "context",
    "prune_victims": "salience",
    "render": "context",
}

__getattr__, __dir__ = lazy_exports(__name__, {k: f".{v}" for k, v in _WHERE.items()}, globals())
