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

    if TYPE_CHECKING:
        # The async methods the twins call, defined by HierarchicalMemory.
        async def aadd(
            self, text: str, role: str = "user", *, source: str = "", key: str | None = None
        ) -> Episode | None: ...
        async def aadd_many(
            self,
            items: Sequence[str | tuple[str, str]],
            *,
            role: str = "user",
            source: str = "",
            keys: Sequence[str | None] | None = None,
        ) -> list[Episode]: ...
        async def arecall(
            self, query: str, k: int | None = None, *, exclude: Sequence[int] = ()
        ) -> list[RecalledEpisode]: ...
        async def abuild_context(
            self, query: str, budget_tokens: int, *, k: int | None = None
        ) -> MemoryContext: ...
        async def asummary(self) -> MemorySummary: ...
        async def aforget(self, ordinals: Sequence[int] | None = None) -> int: ...
        async def aprune(self, now: int | None = None) -> list[int]: ...
        async def aresume(self) -> None: ...

    def add(
        self, text: str, role: str = "user", *, source: str = "", key: str | None = None
    ) -> Episode | None:
        """Sync :meth:`aadd`."""
        return self._sync(self.aadd(text, role, source=source, key=key))

    def add_many(
        self,
        items: Sequence[str | tuple[str, str]],
        *,
        role: str = "user",
        source: str = "",
        keys: Sequence[str | None] | None = None,
    ) -> list[Episode]:
        """Sync :meth:`aadd_many`."""
        return self._sync(self.aadd_many(items, role=role, source=source, keys=keys))

    def recall(
        self, query: str, k: int | None = None, *, exclude: Sequence[int] = ()
    ) -> list[RecalledEpisode]:
        """Sync :meth:`arecall`."""
        return self._sync(self.arecall(query, k, exclude=exclude))

    def build_context(
        self, query: str, budget_tokens: int, *, k: int | None = None
    ) -> MemoryContext:
        """Sync :meth:`abuild_context`."""
        return self._sync(self.abuild_context(query, budget_tokens, k=k))

    def summary(self) -> MemorySummary:
        """Sync :meth:`asummary`."""
        return self._sync(self.asummary())

    def forget(self, ordinals: Sequence[int] | None = None) -> int:
        """Sync :meth:`aforget`."""
        return self._sync(self.aforget(ordinals))

    def prune(self, now: int | None = None) -> list[int]:
        """Sync :meth:`aprune`."""
        return self._sync(self.aprune(now))

    def resume(self) -> None:
        """Sync :meth:`aresume`."""
        self._sync(self.aresume())
