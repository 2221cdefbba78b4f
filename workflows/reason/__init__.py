"""Retrieve-then-reason: the graph, candidate windows and budgets, quote verification, failures."""

from __future__ import annotations

from typing import TYPE_CHECKING

from longdoc._lazy import lazy_exports

# public name -> module that defines it
_LAZY: dict[str, str] = {
    "Candidate": ".verify",
    "Citation": ".verify",
    "ExcerptSpan": ".failures",
    "FailedExtraction": ".failures",
    "RetrieveThenReason": ".graph",
    "build_reason_graph": ".graph",
    "verify": ".verify",
}

__all__ = [
    "Candidate",
    "Citation",
    "ExcerptSpan",
    "FailedExtraction",
    "RetrieveThenReason",
    "build_reason_graph",
    "verify",
]

if TYPE_CHECKING:
    from longdoc.workflows.reason.failures import ExcerptSpan, FailedExtraction
    from longdoc.workflows.reason.graph import RetrieveThenReason, build_reason_graph
    from longdoc.workflows.reason.verify import Candidate, Citation, verify


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
