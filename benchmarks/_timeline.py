"""Where an ingest's wall time goes, by stage and thread: a timeline of one run.

cProfile shows CPU time per function, not what each pipeline thread waits on; this
wraps the few calls that mark the stages (embed, Chroma upsert, lexical writes, the
wait for chunks, the hand-off queue) and sums their intervals per thread, and records
the embedding process's round trips, so one run says whether the embedder, the
chunking or the writes bound it.

Use: ``with Timeline() as tl: index.ingest(paths)`` then ``tl.report()``.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import defaultdict
from concurrent.futures import Future
from typing import Any

__all__ = ["Timeline"]


class Timeline:
    """Patches the ingest's stage calls for the length of a ``with`` block."""

    def __init__(self) -> None:
        self.spans: dict[tuple[str, str], float] = defaultdict(float)
        self.ready: list[tuple[str, float]] = []
        self.embedded: list[tuple[int, float, float]] = []  # (texts, sent, vectors back)
        self.intervals: dict[str, list[tuple[float, float]]] = defaultdict(list)
        self._undo: list[tuple[Any, str, Any]] = []
        self.t0 = self.t1 = 0.0

    def _wrap(self, owner: Any, name: str, label: str, each: bool = False) -> None:
        """Sum the time of ``owner.name`` per thread; with ``each``, list every call too."""
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                end = time.perf_counter()
                thread = threading.current_thread().name
                self.spans[(thread, label)] += end - t
                if each:
                    self.intervals[label].append((t - self.t0, end - self.t0))

        self._undo.append((owner, name, original))
        setattr(owner, name, timed)

    def _watch_pool(self) -> None:
        from longdoc.retrieval.chunk_pool import ChunkPool

        original = ChunkPool.submit

        def submit(pool: ChunkPool, doc: Any) -> Future[Any]:
            future = original(pool, doc)
            name = doc.doc_id.rsplit("/", 1)[-1]
            future.add_done_callback(
                lambda _f: self.ready.append((name, time.perf_counter() - self.t0))
            )
            return future

        self._undo.append((ChunkPool, "submit", original))
        ChunkPool.submit = submit  # type: ignore[method-assign]

    def _watch_embedding_process(self) -> None:
        from longdoc.retrieval.embedding_process import _Child

        original = _Child.submit

        def submit(child: _Child, texts: list[str], batch_size: int) -> Future[Any]:
            sent = time.perf_counter() - self.t0
            future = original(child, texts, batch_size)
            future.add_done_callback(
                lambda _f: self.embedded.append((len(texts), sent, time.perf_counter() - self.t0))
            )
            return future

        self._undo.append((_Child, "submit", original))
        _Child.submit = submit  # type: ignore[method-assign]

    def __enter__(self) -> Timeline:
        from longdoc.retrieval import index as index_module
        from longdoc.retrieval.index import Index, _Vectors
        from longdoc.retrieval.lexical import Bm25Index
        from longdoc.retrieval.pipeline import Pipeline
        from longdoc.retrieval.store import Store

        self._wrap(Store, "start_embed", "embed (on a GPU: the start only)")
        self._wrap(_Vectors, "get", "waiting on vectors")
        self._wrap(Store, "upsert", "Chroma upsert", each=True)
        self._wrap(Bm25Index, "add", "lexical writes", each=True)
        self._wrap(Index, "_apply", "writes, all (consumer busy)")
        self._wrap(Future, "result", "waiting on chunks")
        self._wrap(index_module, "_wait_for_chunks", "waiting on chunks")
        self._wrap(Pipeline, "put", "hand-off (blocked while the queue is full)")
        self._wrap(Index, "_produce", "producer, all")
        self._watch_pool()
        self._watch_embedding_process()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.t1 = time.perf_counter()
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)
        self._undo.clear()

    def report(self, indent: str = "    ") -> str:
        """The summed intervals per thread and stage, and when each document's chunks came."""
        wall = self.t1 - self.t0
        lines = [f"{indent}timeline of one run: {wall:.2f}s wall"]
        for (thread, label), secs in sorted(self.spans.items()):
            lines.append(
                f"{indent}  {thread:<16}{label:<44}{secs:>7.2f}s {100 * secs / wall:>5.1f}%"
            )
        ready = ", ".join(f"{name} {t:.2f}s" for name, t in self.ready)
        lines.append(f"{indent}  chunks ready at: {ready or '-'}")
        for label, spans in sorted(self.intervals.items()):
            lines.append(f"{indent}  {label}: " + ", ".join(f"{a:.2f}->{b:.2f}s" for a, b in spans))
        if self.embedded:
            sent = ", ".join(f"{n} texts {a:.2f}s->{b:.2f}s" for n, a, b in self.embedded)
            lines.append(f"{indent}  embedding process, sent -> vectors back: {sent}")
        return "\n".join(lines)
