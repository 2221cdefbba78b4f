"""Chunking beside the ingest's writes: on threads for small runs, in worker processes for large.

Chroma's embedded writes hold the GIL for their whole length (its bindings free it on
reads only, chroma-core/chroma#3873), and so does much of the sentence splitter: a
chunking thread stalls while the ingest writes. Once a run has passed
:data:`PROCESS_AFTER_CHARS` of text, later documents are chunked in worker processes,
which run beside the writes on other cores.

Workers are ``python -m longdoc.retrieval.chunk_pool`` children fed pickled documents
over a pipe. Hand-written rather than :mod:`multiprocessing`: its spawn and forkserver
children re-import the caller's ``__main__``, which re-runs a script without a
``__main__`` guard, and fork copies a process whose Chroma and torch threads hold
locks. A worker that dies or cannot start costs nothing but speed: its documents are
chunked on the threads instead, with one warning. A worker exits when its pipe closes,
so a killed ingest leaves none behind.

A pool given ``keep_warm`` seconds hands its idle workers to :data:`_WARM` when it
closes: the next pool of this process with the same chunker takes them instead of
starting new ones (a start costs 0.3 s of CPU here and about 1 s on a slower core,
as long as a small ingest takes), and they are stopped once idle that long.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import pickle
import subprocess
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any

from longdoc.retrieval.child import FramedChild, reply, run_child
from longdoc.retrieval.chunking import Chunker
from longdoc.retrieval.lexical import Tokenizer, lexical_text
from longdoc.retrieval.models import Chunk, LoadedDocument

__all__ = ["PROCESS_AFTER_CHARS", "ChunkPool", "Chunked", "close_warm_workers"]

# A document's chunks and, when a BM25 tokenizer is given, each chunk's BM25 terms.
Chunked = tuple[list[Chunk], list[str] | None]

_log = logging.getLogger(__name__)

# Characters of text a run chunks on threads before it starts worker processes: a
# worker takes about 0.4 s of CPU to start (imports), paid back past this size.
PROCESS_AFTER_CHARS = 1_000_000
# How much longer a document takes on the threads than in a worker: they share the GIL
# with the writes (measured on 2 cores, four books: 1 put Moby Dick on the threads and
# took 3.3 s once the worker was warm, 2 took 2.8-3.0 s).
_THREAD_COST = 2.0


class _Worker(FramedChild):
    """One chunking process: it gets the pickled chunker first, then ``(task, document)``."""

    def __init__(self, chunker: bytes, on_lost: Any) -> None:
        # Chunking needs no accelerator; hidden, no library in the worker can claim one
        # (measured on an H200: bm25s imports jax, whose XLA took 75% of the GPU per worker).
        super().__init__(
            "longdoc.retrieval.chunk_pool",
            {"CUDA_VISIBLE_DEVICES": "", "HIP_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu"},
            name="longdoc-chunk",
        )
        self.on_lost = on_lost  # the pool using the worker now: it takes lost work back
        self.send(chunker)
        self.start()

    @property
    def idle(self) -> bool:
        """Alive with nothing in hand: fit to be kept for another pool."""
        with self.lock:
            return self.alive and not self.pending and self.proc.poll() is None

    @property
    def waiting(self) -> int:
        """Characters of the documents sent and not yet chunked."""
        with self.lock:
            return sum(len(doc.text) for doc, _f in self.pending.values())

    def submit(self, task: int, doc: LoadedDocument, future: Future[Chunked]) -> None:
        frame = pickle.dumps((task, doc), protocol=pickle.HIGHEST_PROTOCOL)
        if not self.post(task, doc, future, frame):  # it died meanwhile: chunked on threads
            self.on_lost([(doc, future)], self.proc)

    def lost(self, work: list[tuple[Any, Future[Any]]]) -> None:
        if work:
            self.on_lost(work, self.proc)


class ChunkPool:
    """Chunks documents ahead of an ingest's writes; :meth:`submit` returns a future.

    Args:
        chunker: the ingest's chunker; worker processes get a copy when it pickles.
        threads: chunking threads (and the most worker processes).
        tokenizer: the BM25 tokenizer: each chunk's terms are computed with its chunks,
            off the writing thread.
    """

    def __init__(
        self,
        chunker: Chunker,
        threads: int,
        tokenizer: Tokenizer | None = None,
        *,
        keep_warm: float = 0.0,
    ) -> None:
        self._chunker, self._tokenizer = chunker, tokenizer
        self._threads = ThreadPoolExecutor(max(1, threads), thread_name_prefix="longdoc-chunk")
        self._processes = max(0, min(threads, (os.cpu_count() or 1) - 1))
        self._workers: list[_Worker] = []
        self._keep_warm = keep_warm
        self._frame = b""  # the pickled chunker and tokenizer the workers start with
        self._key = ""  # its digest: which warm workers fit this pool
        self._started = False  # whether the workers not taken warm were started
        self._chars = 0
        self._local_waiting = 0  # characters submitted to the threads, not yet chunked
        self._lock = threading.Lock()
        self._task = 0
        self._warned = False

    @property
    def workers(self) -> list[int]:
        """Process ids of the worker processes started (none: all chunking on threads)."""
        return [w.proc.pid for w in self._workers]

    def submit(self, doc: LoadedDocument) -> Future[Chunked]:
        """Start chunking ``doc``; the future gives its chunks (and terms) or the error.

        It goes to whichever of the threads and the live workers would finish it first,
        by the characters waiting there (the threads count as one: they share this
        process's GIL, and with the writes, so their characters count double).
        """
        self._chars += len(doc.text)  # this document too: a large one starts the workers
        large = self._chars >= PROCESS_AFTER_CHARS
        warm = _WARM.holding and not self._frame  # workers kept warm cost nothing to start
        if self._processes and not self._started and (large or warm):
            self._start_workers(start=large)
        live = [w for w in self._workers if w.alive]
        worker = min(live, key=lambda w: w.waiting, default=None)
        here = _THREAD_COST * (self._local_waiting + len(doc.text))
        if worker is None or here < worker.waiting + len(doc.text):
            with self._lock:  # the threads' callbacks take it off as they finish
                self._local_waiting += len(doc.text)
            future = self._threads.submit(_work, self._chunker, self._tokenizer, doc)
            future.add_done_callback(lambda _f: self._settled_here(len(doc.text)))
            return future
        future = Future()
        self._task += 1
        worker.submit(self._task, doc, future)
        return future

    def _settled_here(self, chars: int) -> None:
        with self._lock:
            self._local_waiting -= chars

    def _start_workers(self, *, start: bool = True) -> None:
        """Take this chunker's warm workers and, with ``start``, start the rest."""
        if not self._frame:
            try:
                work = (self._chunker, self._tokenizer)
                self._frame = pickle.dumps(work, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as e:  # a custom embedder's counter: chunk on threads
                _log.debug("chunking on threads: the chunker does not pickle (%s)", e)
                self._processes = 0
                return
            self._key = hashlib.sha256(self._frame).hexdigest()
            self._workers = _WARM.take(self._key, self._processes)
            for w in self._workers:
                w.on_lost = self._lost
        if not start:
            return
        self._started = True
        try:
            for _ in range(self._processes - len(self._workers)):
                self._workers.append(_Worker(self._frame, self._lost))
        except OSError as e:
            self._warn(f"cannot start a chunking process ({e})")

    def _lost(
        self, lost: list[tuple[LoadedDocument, Future[Chunked]]], proc: subprocess.Popen[bytes]
    ) -> None:
        """A worker ended with documents in hand: chunk them on the threads instead."""
        self._warn(f"a chunking process ended (exit code {proc.poll()})")
        for doc, future in lost:
            self._threads.submit(_settle, self._chunker, self._tokenizer, doc, future)

    def _warn(self, what: str) -> None:
        if not self._warned:
            self._warned = True
            _log.warning("%s: chunking on threads instead (slower, same chunks)", what)

    def close(self) -> None:
        """Stop the threads (waiting for what runs) and the workers, or keep them warm."""
        keep = [w for w in self._workers if w.idle] if self._keep_warm > 0 else []
        for w in self._workers:
            if w not in keep:
                w.close()
        if keep:
            _WARM.keep(self._key, keep, self._keep_warm)
        self._threads.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ChunkPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Warm:
    """Idle workers kept between pools, by the digest of the chunker they were started with."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[str, list[tuple[_Worker, float]]] = {}  # key -> [(worker, expiry)]
        self._hooked = False

    @property
    def holding(self) -> bool:
        """Whether any worker is kept (a pool then takes its chunker's from the start)."""
        with self._lock:  # take() may add a key meanwhile
            return any(self._idle.values())

    def take(self, key: str, n: int) -> list[_Worker]:
        """Up to ``n`` live workers kept for ``key``; they are no longer kept."""
        with self._lock:
            kept = self._idle.get(key, [])
            taken, self._idle[key] = [w for w, _t in kept[:n]], kept[n:]
        live = [w for w in taken if w.idle]
        for w in taken:
            if w not in live:  # it died while kept
                w.close()
        return live

    def keep(self, key: str, workers: list[_Worker], seconds: float) -> None:
        """Keep ``workers`` for ``key`` until ``seconds`` from now."""
        expiry = time.monotonic() + seconds
        with self._lock:
            self._idle.setdefault(key, []).extend((w, expiry) for w in workers)
            if not self._hooked:  # at exit the pipes close anyway; this waits for the exits
                self._hooked = True
                atexit.register(self.close)
        timer = threading.Timer(seconds, self._reap)
        timer.daemon = True
        timer.start()

    def _reap(self) -> None:
        now = time.monotonic() + 0.01  # a timer may wake a little early
        with self._lock:
            gone = [w for kept in self._idle.values() for w, t in kept if t <= now]
            self._idle = {k: [(w, t) for w, t in v if t > now] for k, v in self._idle.items()}
        for w in gone:
            w.close()

    def close(self) -> None:
        """Stop every kept worker."""
        with self._lock:
            gone = [w for kept in self._idle.values() for w, _t in kept]
            self._idle = {}
        for w in gone:
            w.close()


_WARM = _Warm()


def close_warm_workers() -> None:
    """Stop the chunking processes kept warm for the next ingest of this process."""
    _WARM.close()


def _work(chunker: Chunker, tokenizer: Tokenizer | None, doc: LoadedDocument) -> Chunked:
    """``doc``'s chunks and, with ``tokenizer``, the BM25 terms of each."""
    chunks = chunker.chunk(doc)
    if tokenizer is None:
        return chunks, None
    return chunks, [tokenizer.terms(lexical_text(c.text, {"header": c.header})) for c in chunks]


def _settle(
    chunker: Chunker, tokenizer: Tokenizer | None, doc: LoadedDocument, future: Future[Chunked]
) -> None:
    try:
        future.set_result(_work(chunker, tokenizer, doc))
    except Exception as e:  # handed to whoever waits on the future
        future.set_exception(e)


def _serve(inp: IO[bytes], out: IO[bytes]) -> None:
    """The worker's loop: a pickled chunker and tokenizer, then ``(task, document)`` frames."""
    chunker, tokenizer = pickle.load(inp)
    while True:
        try:
            task, doc = pickle.load(inp)
        except EOFError:
            return
        try:
            frame: tuple[int, bool, Any] = (task, True, _work(chunker, tokenizer, doc))
        except Exception as e:  # the parent raises it where the chunks were wanted
            frame = (task, False, e)
        reply(out, frame, "chunking")


if __name__ == "__main__":
    run_child(_serve)
