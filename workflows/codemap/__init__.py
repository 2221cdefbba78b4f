"""The code map: hierarchical, resumable, incremental summaries of a repository.

``graph`` runs it (:class:`CodeMap`), ``plan`` finds the files and keys them, ``store``
keeps every summary as it is made, ``render`` writes the Markdown, ``result`` is what
a run returns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from longdoc._lazy import lazy_exports

# public name -> module that defines it
_LAZY: dict[str, str] = {
    "CodeMap": ".graph",
    "CodeMapResult": ".result",
    "Definition": ".result",
    "MapEntry": ".result",
    "SkippedFile": ".result",
    "SummaryStore": ".store",
    "definitions": ".plan",
    "plan_map": ".plan",
    "render_markdown": ".render",
}

__all__ = [
    "CodeMap",
    "CodeMapResult",
    "Definition",
    "MapEntry",
    "SkippedFile",
    "SummaryStore",
    "definitions",
    "plan_map",
    "render_markdown",
]

if TYPE_CHECKING:
    from longdoc.workflows.codemap.graph import CodeMap
    from longdoc.workflows.codemap.plan import definitions, plan_map
    from longdoc.workflows.codemap.render import render_markdown
    from longdoc.workflows.codemap.result import CodeMapResult, Definition, MapEntry, SkippedFile
    from longdoc.workflows.codemap.store import SummaryStore


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
