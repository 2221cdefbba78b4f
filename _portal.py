"""A private event loop in a daemon thread, behind the library's sync methods.

``asyncio.run`` per call would give async clients a new loop each time and fail
inside Jupyter's running loop; one portal per object (the gateway, a memory)
avoids both. It lives at the package root because the gateway (agents/) and
the memory (memory/) both need it and neither may import the other.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["Portal"]

R = TypeVar("R")


class Portal:
    """Runs coroutines to completion on its own loop thread.

    Args:
        name: the thread's name (shows in debuggers and thread dumps).
    """

    def __init__(self, name: str = "longdoc") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, R]) -> R:
        """Run ``coro`` on the portal's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def close(self) -> None:
        """Cancel what is left on the loop, then stop it and its thread."""

        # litellm leaves a background logging task on every loop it ran on;
        # cancel leftovers so closing is clean rather than warned about at exit.
        async def cancel_leftovers() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(cancel_leftovers(), self._loop).result(timeout=5)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            if not self._thread.is_alive():
                self._loop.close()
