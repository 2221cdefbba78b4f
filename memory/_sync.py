"""A private event loop in a daemon thread, behind the sync methods of a memory.

memory/ may not import the gateway (which has the same helper), and
``asyncio.run`` per call would give async clients a new loop each time and
fail inside Jupyter's running loop; one loop per memory object avoids both.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from longdoc.memory.types import Episode, MemoryContext, MemorySummary, RecalledEpisode

__all__ = ["Portal", "SyncAPI"]

R = TypeVar("R")


class Portal:
    """Runs coroutines to completion on its own loop thread."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="longdoc-memory", daemon=True
        )
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, R]) -> R:
        """Run ``coro`` on the portal's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def close(self) -> None:
        """Stop the loop and its thread."""
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()


class SyncAPI:
    """The sync twins of a memory's async methods, run on the memory's own portal loop.

    The async methods (``aadd``...) are :class:`HierarchicalMemory`'s; the twins live
    here so that module stays small.
    """

    _portal: Portal | None

    def _sync(self, coro: Coroutine[Any, Any, R]) -> R:
        if self._portal is None:
            self._portal = Portal()
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
