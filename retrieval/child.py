"""Starting a longdoc child process that speaks pickled frames over its stdin and stdout.

The chunking workers (:mod:`longdoc.retrieval.chunk_pool`) and the embedding process
(:mod:`longdoc.retrieval.embedding_process`) are started the same way: ``python -m``
the module, this process's import path, a session of its own (a Ctrl-C stops the
parent, which then closes the pipe: the child exits on that end of its input), and
pipes widened to 1 MiB. A frame (a document's chunks, a batch's vectors) is often more
than a pipe's default 64 KiB, and the parent's reader thread takes the GIL back after
every read: with Chroma's writes holding it for a whole write, each read can wait that
long.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from typing import IO

__all__ = ["PIPE_BYTES", "run_child", "start_child"]

PIPE_BYTES = 1 << 20  # Linux's default most for an unprivileged process


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


def run_child(serve: Callable[[IO[bytes], IO[bytes]], None]) -> None:
    """The child's side: ``serve(frames in, frames out)`` until its input ends.

    Whatever a library prints goes to stderr, not into the frames on stdout.
    """
    results = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    with contextlib.suppress(BrokenPipeError, KeyboardInterrupt):
        serve(sys.stdin.buffer, results)
