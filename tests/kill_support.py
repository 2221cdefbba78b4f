"""Helpers for the kill tests: CLI processes to SIGKILL at a chosen point, bounded waits.

Run as a script (``python kill_support.py N MARKER -- ARGS...``) it is the longdoc CLI
with one difference: its ``N``-th Chroma write blocks for good, after touching
``MARKER``, so a test kills it at a known point (``N - 1`` batches written) without
timing anything. The hook lives here, in the test process's helper, never in longdoc.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["kill", "spawn_cli", "wait_until"]

HERE = Path(__file__).resolve()


def spawn_cli(
    args: list[str], cwd: Path, *, block_write: int = 0, marker: Path | None = None
) -> Any:
    """Start ``longdoc ARGS`` in a new process (its output kept in ``cwd/cli.log``).

    Args:
        args: the CLI arguments.
        cwd: where it runs (not the repository root: its ``workflows/`` would shadow
            the package llama-index imports).
        block_write: block the process at its ``block_write``-th Chroma upsert (0: never).
        marker: the file touched when it blocks.
    """
    if block_write:
        assert marker is not None
        cmd = [sys.executable, str(HERE), str(block_write), str(marker), "--", *args]
    else:
        cmd = [sys.executable, "-m", "longdoc", *args]
    log = (cwd / "cli.log").open("ab")
    return subprocess.Popen(cmd, cwd=cwd, env=dict(os.environ), stdout=log, stderr=log)


def wait_until(done: Callable[[], bool], proc: Any, what: str, timeout: float = 120.0) -> None:
    """Wait (bounded) until ``done()``; fail at once if ``proc`` exits first."""
    deadline = time.monotonic() + timeout
    while not done():
        if proc.poll() is not None:
            raise AssertionError(f"the CLI exited ({proc.returncode}) before {what} (cli.log)")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)  # polling a file written by another process: no event to wait on


def kill(proc: Any) -> None:
    """SIGKILL ``proc`` (no handler runs, nothing is flushed) and reap it."""
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL


def _blocking_cli(argv: list[str]) -> int:
    block_at, marker, sep, *args = argv
    assert sep == "--"
    from longdoc.retrieval.store import Store

    original = Store.upsert
    calls = [0]

    def upsert(self: Store, *a: Any, **k: Any) -> None:
        calls[0] += 1
        if calls[0] == int(block_at):
            Path(marker).touch()
            threading.Event().wait()  # held here until the test kills this process
        original(self, *a, **k)

    Store.upsert = upsert  # type: ignore[method-assign]
    from longdoc.cli import main

    return main(args)


if __name__ == "__main__":
    sys.exit(_blocking_cli(sys.argv[1:]))
