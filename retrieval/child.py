"""Starting a longdoc child process that speaks pickled frames over its stdin and stdout.

The chunking workers (:mod:`longdoc.retrieval.chunk_pool`) and the embedding process
(:mod:`longdoc.retrieval.embedding_process`) are started the same way: ``python -m``
the module, this process's import path, a session of its own (a Ctrl-C stops the
parent, which then closes the pipe: the child exits on that end of its input), and
pipes widened to 1 MiB. A frame (a document's chunks, a batch's vectors) is often more
than a pipe's default 64 KiB, and the parent's reader thread takes the GIL back after
every read: with Chroma's writes holding it for a whole write, each read can wait that
long. For the same reason a reply goes with its length first and is read whole, as
much as the pipe holds at a time (:func:`read_reply`), then unpickled: ``pickle.load``
on the pipe reads in pickle's 64 KiB frames, 60 reads for a book's chunks.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import IO, Any

from longdoc.errors import RetrievalError

__all__ = ["PIPE_BYTES", "FramedChild", "read_reply", "reply", "run_child", "start_child"]

PIPE_BYTES = 1 << 20  # Linux's default most for an unprivileged process
_LENGTH = struct.Struct("<Q")  # a reply's length in bytes, before the reply


def start_child(module: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start ``python -m module`` with piped stdin and stdout.

    Args:
        module: the module to run, e.g. ``longdoc.retrieval.chunk_pool``.
        env: variables set in the child on top of this process's.

    Returns:
        The child process.

    Raises:
        OSError: the process could not be started.
    """
    child_env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    child_env.update(env or {})
    proc = subprocess.Popen(
        [sys.executable, "-m", module],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=child_env,
        start_new_session=True,
    )
    _widen(proc)
    return proc


def _widen(proc: subprocess.Popen[bytes]) -> None:
    """Give the child's pipes :data:`PIPE_BYTES` where the system allows (Linux)."""
    if sys.platform != "linux":
        return
    import fcntl

    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):  # over the system's limit: the default stays
                fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)


class FramedChild:
    """A child fed pickled frames by a sender thread, whose replies a reader thread settles.

    Requests carry a task number; the child answers each with ``(task, ok, result)``,
    which settles the future posted with it (an exception when ``ok`` is false). When the
    child's output ends (it died, or was closed), :meth:`lost` gets the work still in hand.

    Args:
        module: the child's module (see :func:`start_child`).
        env: variables set in the child.
        name: the threads' name prefix.
    """

    def __init__(self, module: str, env: Mapping[str, str] | None = None, *, name: str) -> None:
        self.proc = start_child(module, env)
        self.lock = threading.Lock()
        self.pending: dict[int, tuple[Any, Future[Any]]] = {}  # task -> (its item, future)
        self.alive = True
        self._name = name
        self._out: queue.Queue[bytes | None] = queue.Queue()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the sender and reader threads (after any handshake made directly)."""
        self._threads = [
            threading.Thread(target=self._send, daemon=True, name=f"{self._name}-send"),
            threading.Thread(target=self._read, daemon=True, name=f"{self._name}-recv"),
        ]
        for t in self._threads:
            t.start()

    def send(self, frame: bytes) -> None:
        """Queue a frame that needs no reply."""
        self._out.put(frame)

    def post(self, task: int, item: Any, future: Future[Any], frame: bytes) -> bool:
        """Queue a request whose reply settles ``future``; False if the child is gone."""
        with self.lock:
            if not self.alive:
                return False
            self.pending[task] = (item, future)
        self._out.put(frame)
        return True

    def lost(self, work: list[tuple[Any, Future[Any]]]) -> None:
        """The child ended with ``work`` in hand (``(item, future)`` pairs)."""
        raise NotImplementedError

    def _send(self) -> None:
        pipe = self.proc.stdin
        assert pipe is not None
        try:
            while (frame := self._out.get()) is not None:
                pipe.write(frame)
                pipe.flush()
        except OSError:  # the child died: the reader sees its end and hands the work on
            pass
        finally:
            with contextlib.suppress(OSError):
                pipe.close()

    def _read(self) -> None:
        pipe = self.proc.stdout
        assert pipe is not None
        try:
            while True:
                task, ok, payload = read_reply(pipe)
                with self.lock:
                    _item, future = self.pending.pop(task)
                if future.cancelled():  # its caller gave up on it
                    continue
                if ok:
                    future.set_result(payload)
                else:
                    future.set_exception(payload)
        except Exception:  # EOF or a torn frame: the child is gone
            with self.lock:
                self.alive = False
                work, self.pending = list(self.pending.values()), {}
            self.lost(work)

    def close(self) -> None:
        """Close its input (it then exits) and wait for it."""
        if self._threads:
            self._out.put(None)
            for t in self._threads:
                t.join(timeout=10)
        else:  # never started: close the pipe here
            assert self.proc.stdin is not None
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def run_child(serve: Callable[[IO[bytes], IO[bytes]], None]) -> None:
    """The child's side: ``serve(frames in, frames out)`` until its input ends.

    Whatever a library prints goes to stderr, not into the frames on stdout.
    """
    results = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    with contextlib.suppress(BrokenPipeError, KeyboardInterrupt):
        serve(sys.stdin.buffer, results)


def reply(out: IO[bytes], frame: tuple[Any, ...], what: str) -> None:
    """The child's side: write one reply frame, ``(..., ok, result)``, and flush it.

    A result that does not pickle (an exception holding a lock, say) travels as a
    :class:`~longdoc.errors.RetrievalError` saying ``what`` failed, with its text.
    """
    try:
        data = pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as e:
        data = pickle.dumps((*frame[:-2], False, RetrievalError(f"{what} failed: {e!r}")))
    out.write(_LENGTH.pack(len(data)))
    out.write(data)
    out.flush()


def read_reply(pipe: IO[bytes]) -> Any:
    """The parent's side: read one frame written by :func:`reply`.

    Raises:
        EOFError: the pipe ended before the whole frame (the child is gone).
    """
    (size,) = _LENGTH.unpack(_read_exactly(pipe, _LENGTH.size))
    return pickle.loads(_read_exactly(pipe, size))


def _read_exactly(pipe: IO[bytes], size: int) -> bytearray:
    data = bytearray(size)
    view, got = memoryview(data), 0
    while got < size:
        n = pipe.readinto(view[got:])  # type: ignore[attr-defined]
        if not n:
            raise EOFError(f"a child's pipe ended {size - got} bytes short of a frame")
        got += n
    return data
