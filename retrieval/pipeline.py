"""One producer thread feeding the calling thread through a bounded queue.

The ingest loads, chunks and embeds in the producer while the caller writes to
Chroma and the lexical index: the caller keeps the writer locks, writes in the
order items were produced and hears every error, its own or the producer's.
Hand-written: :mod:`concurrent.futures` has no bounded, ordered hand-off with a way
to stop the producer when the consumer fails.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Pipeline"]

T = TypeVar("T")
_END = object()


class Stopped(Exception):
    """Raised inside the producer by ``put`` once the consumer has given up."""


class Pipeline(Generic[T]):
    """Run ``produce(put)`` in a thread; :meth:`run` hands each item put to ``consume``.

    Args:
        produce: calls ``put(item)`` for each item, in order; runs in its own thread.
        consume: called in the caller's thread with each item, in order.
        depth: how many items may wait in the queue (the producer blocks beyond).
    """

    def __init__(
        self,
        produce: Callable[[Callable[[T], None]], None],
        consume: Callable[[T], None],
        depth: int = 4,
    ) -> None:
        self._produce, self._consume = produce, consume
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()

    def put(self, item: T) -> None:
        """Hand ``item`` on (blocks while the queue is full).

        Raises:
            Stopped: the consumer failed; the producer should return.
        """
        if self._stop.is_set():
            raise Stopped
        self._queue.put(item)

    @property
    def starving(self) -> bool:
        """Whether nothing waits for the consumer: it is idle now or soon will be."""
        return self._queue.empty()

    @property
    def stopping(self) -> bool:
        """Whether the consumer has given up (the producer may stop early)."""
        return self._stop.is_set()

    def _run_producer(self) -> None:
        try:
            self._produce(self.put)
        except Stopped:
            pass
        except BaseException as e:  # handed to the caller's thread, raised there
            self._queue.put(e)
        finally:
            self._queue.put(_END)

    def run(self) -> None:
        """Consume every item; raise the first error of either side (the producer's as is)."""
        thread = threading.Thread(target=self._run_producer, name="longdoc-ingest", daemon=True)
        thread.start()
        item: object = None
        try:
            while (item := self._queue.get()) is not _END:
                if isinstance(item, BaseException):
                    raise item
                self._consume(item)  # type: ignore[arg-type]
        finally:
            self._stop.set()
            while item is not _END:  # drain: a producer blocked in put() gets to its end
                item = self._queue.get()
            thread.join()
