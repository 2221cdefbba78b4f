"""The sync methods of a memory, run on the memory's own :class:`~longdoc._portal.Portal`."""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from longdoc._portal import Portal

if TYPE_CHECKING:
    from longdoc.memory.types import Episode, MemoryContext, MemorySummary, RecalledEpisode

__all__ = ["SyncAPI"]

R = TypeVar("R")


class SyncAPI:
    """The sync twins of a memory's async methods, run on the memory's own portal loop.

    The async methods (``aadd``...) are :class:`HierarchicalMemory`'s; the twins live
    here so that module stays small.
    """

    _portal: Portal | None

    def _sync(self, coro: Coroutine[Any, Any, R]) -> R:
        if self._portal is None:
            self._portal = Portal("longdoc-memory")
        return self._portal.run(coro)

    def add(self, text: str, role: str = "user", **kwargs: Any) -> Episode | None:
        """Sync :meth:`aadd`."""
        return self._sync(self.aadd(text, role, **kwargs))

    def add_many(self, items: Sequence[Any], **kwargs: Any) -> list[Episode]:
        """Sync :meth:`aadd_many`."""
        return self._sync(self.aadd_many(items, **kwargs))

    def recall(self, query: str, k: int | None = None) -> list[RecalledEpisode]:
        """Sync :meth:`arecall`."""
        return self._sync(self.arecall(query, k))

    def build_context(self, query: str, budget_tokens: int, **kwargs: Any) -> MemoryContext:
        """Sync :meth:`abuild_context`."""
        return self._sync(self.abuild_context(query, budget_tokens, **kwargs))

    def summary(self) -> MemorySummary:
        """Sync :meth:`asummary`."""
        return self._sync(self.asummary())

    def forget(self, ordinals: Sequence[int] | None = None) -> int:
        """Sync :meth:`aforget`."""
        return self._sync(self.aforget(ordinals))

    def prune(self) -> list[int]:
        """Sync :meth:`aprune`."""
        return self._sync(self.aprune())

    def resume(self) -> None:
        """Sync :meth:`aresume`."""
        self._sync(self.aresume())
