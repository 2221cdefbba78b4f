"""One concurrency bound shared by every event loop and thread of a process.

A gateway is used from several loops at once: the caller's, the portal loop behind
its sync wrappers, a memory's own portal loop. ``asyncio.Semaphore`` and anyio's
``CapacityLimiter`` each belong to one loop, and none of our dependencies has a
limiter that spans loops, hence this small one: a counter under a thread lock, and
waiters that are woken on their own loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque

__all__ = ["ConcurrencyBound"]


class ConcurrencyBound:
    """At most ``limit`` holders at once, whichever loop or thread each runs on.

    Waiting never blocks a loop: a waiter awaits a future of its own loop, which a
    release on any thread resolves through ``call_soon_threadsafe``. Slots are
    handed over first come, first served.

    Args:
        limit: the most holders at once (at least 1).

    Example:
        >>> bound = ConcurrencyBound(4)
        >>> async def call() -> None:
        ...     async with bound:
        ...         ...  # at most 4 of these run at once in the process
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        self.limit = limit
        self._free = limit
        self._lock = threading.Lock()
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()

    @property
    def waiting(self) -> int:
        """How many acquirers are waiting for a slot."""
        with self._lock:
            return len(self._waiters)

    async def acquire(self) -> None:
        """Take a slot, waiting (without blocking the loop) until one is free."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._free > 0 and not self._waiters:
                self._free -= 1
                return
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append((loop, waiter))
        try:
            await waiter
        except BaseException:
            with self._lock:
                queued = (loop, waiter) in self._waiters
                if queued:
                    self._waiters.remove((loop, waiter))
            if not queued and waiter.done() and not waiter.cancelled():
                self.release()  # the slot reached us as we were cancelled: pass it on
            raise

    def release(self) -> None:
        """Give a slot back: to the first waiter still alive, else to the pool."""
        with self._lock:
            while self._waiters:
                loop, waiter = self._waiters.popleft()
                try:
                    loop.call_soon_threadsafe(self._hand_over, waiter)
                    return
                except RuntimeError:  # its loop is closed: that waiter is gone
                    continue
            self._free += 1

    def _hand_over(self, waiter: asyncio.Future[None]) -> None:
        """On the waiter's loop: wake it, or pass the slot on if it was cancelled meanwhile."""
        if waiter.cancelled():
            self.release()
        else:
            waiter.set_result(None)

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self.release()
