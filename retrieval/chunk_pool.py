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
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import queue
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any

from longdoc.errors import RetrievalError
from longdoc.retrieval.chunking import Chunker
from longdoc.retrieval.lexical import Tokenizer, lexical_text
from longdoc.retrieval.models import Chunk, LoadedDocument

__all__ = ["PROCESS_AFTER_CHARS", "ChunkPool", "Chunked"]

# A document's chunks and, when a BM25 tokenizer is given, each chunk's BM25 terms.
Chunked = tuple[list[Chunk], list[str] | None]

_log = logging.getLogger(__name__)

# Characters of text a run chunks on threads before it starts worker processes: a
# worker takes about 0.4 s of CPU to start (imports), paid back past this size.
PROCESS_AFTER_CHARS = 1_000_000
_STOP = None  # the writer queue's end marker


class _Worker:
    """One chunking process: a writer thread feeds it, a reader thread settles futures."""

    def __init__(self, chunker: bytes, on_lost: Any) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        # Chunking needs no accelerator; hidden, no library in the worker can claim one
        # (measured on an H200: bm25s imports jax, whose XLA took 75% of the GPU per worker).
        env.update(CUDA_VISIBLE_DEVICES="", HIP_VISIBLE_DEVICES="", JAX_PLATFORMS="cpu")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "longdoc.retrieval.chunk_pool"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            start_new_session=True,  # a Ctrl-C stops the ingest, which then closes the pipe
        )
        self.pending: dict[int, tuple[LoadedDocument, Future[Chunked]]] = {}
        self.lock = threading.Lock()
        self.alive = True
        self._on_lost = on_lost
        self._out: queue.Queue[bytes | None] = queue.Queue()
        self._out.put(chunker)
        self._threads = [
            threading.Thread(target=self._write, daemon=True, name="longdoc-chunk-send"),
            threading.Thread(target=self._read, daemon=True, name="longdoc-chunk-recv"),
        ]
        for t in self._threads:
            t.start()

    @property
    def waiting(self) -> int:
        """Characters of the documents sent and not yet chunked."""
        with self.lock:
            return sum(len(doc.text) for doc, _f in self.pending.values())

    def submit(self, task: int, doc: LoadedDocument, future: Future[Chunked]) -> None:
        with self.lock:
            self.pending[task] = (doc, future)
        self._out.put(pickle.dumps((task, doc), protocol=pickle.HIGHEST_PROTOCOL))

    def _write(self) -> None:
        pipe = self.proc.stdin
        assert pipe is not None
        try:
            while (frame := self._out.get()) is not _STOP:
                pipe.write(frame)
                pipe.flush()
        except OSError:  # the worker died: the reader sees its end and hands work back
            pass
        finally:
            with contextlib.suppress(OSError):
                pipe.close()

    def _read(self) -> None:
        pipe = self.proc.stdout
        assert pipe is not None
        try:
            while True:
                task, ok, payload = pickle.load(pipe)
                with self.lock:
                    _doc, future = self.pending.pop(task)
                if ok:
                    future.set_result(payload)
                else:
                    future.set_exception(payload)
        except Exception:  # EOF or a torn frame: the worker is gone
            with self.lock:
                self.alive = False
                lost, self.pending = list(self.pending.values()), {}
            if lost:
                self._on_lost(lost, self.proc)

    def close(self) -> None:
        self._out.put(_STOP)
        for t in self._threads:
            t.join(timeout=10)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class ChunkPool:
    """Chunks documents ahead of an ingest's writes; :meth:`submit` returns a future.

    Args:
        chunker: the ingest's chunker; worker processes get a copy when it pickles.
        threads: chunking threads (and the most worker processes).
        tokenizer: the BM25 tokenizer: each chunk's terms are computed with its chunks,
            off the writing thread.
    """

    def __init__(self, chunker: Chunker, threads: int, tokenizer: Tokenizer | None = None) -> None:
        self._chunker, self._tokenizer = chunker, tokenizer
        self._threads = ThreadPoolExecutor(max(1, threads), thread_name_prefix="longdoc-chunk")
        self._processes = max(0, min(threads, (os.cpu_count() or 1) - 1))
        self._workers: list[_Worker] = []
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

        It goes to whichever of the threads and the live workers has the fewest
        characters waiting (the threads count as one: they share this process's GIL;
        a tie goes to a worker, which leaves that GIL to the writes).
        """
        self._chars += len(doc.text)  # this document too: a large one starts the workers
        if self._chars >= PROCESS_AFTER_CHARS and not self._workers and self._processes:
            self._start_workers()
        live = [w for w in self._workers if w.alive]
        worker = min(live, key=lambda w: w.waiting, default=None)
        if worker is None or self._local_waiting < worker.waiting:
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

    def _start_workers(self) -> None:
        try:
            work = (self._chunker, self._tokenizer)
            frame = pickle.dumps(work, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as e:  # a custom embedder's counter: chunk on threads
            _log.debug("chunking on threads: the chunker does not pickle (%s)", e)
            self._processes = 0
            return
        try:
            self._workers = [_Worker(frame, self._lost) for _ in range(self._processes)]
        except OSError as e:
            self._warn(f"cannot start a chunking process ({e})")
            self._processes = 0

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
        """Stop the workers and the threads (waiting for what runs)."""
        for w in self._workers:
            w.close()
        self._threads.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ChunkPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
            reply: tuple[int, bool, Any] = (task, True, _work(chunker, tokenizer, doc))
        except Exception as e:  # the parent raises it where the chunks were wanted
            reply = (task, False, e)
        try:
            frame = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as e:  # an error that does not pickle travels as text
            frame = pickle.dumps((task, False, RetrievalError(f"chunking failed: {e!r}")))
        out.write(frame)
        out.flush()


if __name__ == "__main__":
    results = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever a library prints goes to stderr, not into the result frames
    with contextlib.suppress(BrokenPipeError, KeyboardInterrupt):
        _serve(sys.stdin.buffer, results)
