"""Recursive long-output writing: the graph, the outline, quality checks, memory and the result."""

from __future__ import annotations

from typing import TYPE_CHECKING

from longdoc._lazy import lazy_exports

# public name -> module that defines it
_LAZY: dict[str, str] = {
    "LeafReport": ".result",
    "LongWriter": ".graph",
    "RunningSummary": ".memory",
    "SectionMemory": ".memory",
    "WritingMemory": ".memory",
    "WritingResult": ".result",
    "build_writing_graph": ".graph",
}

__all__ = [
    "LeafReport",
    "LongWriter",
    "RunningSummary",
    "SectionMemory",
    "WritingMemory",
    "WritingResult",
    "build_writing_graph",
]

if TYPE_CHECKING:
    from longdoc.workflows.writing.graph import LongWriter, build_writing_graph
    from longdoc.workflows.writing.memory import RunningSummary, SectionMemory, WritingMemory
    from longdoc.workflows.writing.result import LeafReport, WritingResult


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
