"""Helpers for the kill tests: CLI processes to SIGKILL at a chosen point, bounded waits.

Run as a script (``python kill_support.py N MARKER -- ARGS...``) it is the longdoc CLI
with one difference: its ``N``-th Chroma write blocks for good, after touching
``MARKER``, so a test kills it at a known point (``N - 1`` batches written) without
timing anything. The hook lives here, in the test process's helper, never in longdoc.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # run as a script, this module stays light
    import pytest

    from longdoc.testing.fake_openai import FakeOpenAI

__all__ = [
    "HoldAt",
    "kill",
    "kill_and_rerun",
    "prompt_of",
    "readable",
    "spawn_cli",
    "wait_until",
]

HERE = Path(__file__).resolve()


def readable(source: Any, timeout: float) -> bool:
    """Whether ``source`` (a file object or descriptor) is readable within ``timeout`` s.

    Through poll, not select: after a few hundred tests this process's descriptors run
    past select's limit of 1,024.
    """
    import select

    poller = select.poll()
    poller.register(source, select.POLLIN)
    return bool(poller.poll(timeout * 1000))


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


# --- the kill-and-rerun check of every command ----------------------------------------
class HoldAt:
    """A responder that holds the ``n``-th request until released (the client is killed then)."""

    def __init__(self, reply: Any) -> None:
        self.reply = reply
        self.n = 0
        self.seen = 0
        self.arrived, self.release = threading.Event(), threading.Event()
        self._lock = threading.Lock()

    def __call__(self, request: dict[str, Any]) -> str:
        with self._lock:
            self.seen += 1
            hold = self.seen == self.n
        if hold:
            self.arrived.set()
            self.release.wait(60)
        return str(self.reply(request))


def prompt_of(request: dict[str, Any]) -> str:
    return json.dumps(request["messages"], sort_keys=True)


Args = Callable[[Path], list[str]]
Output = Callable[[Path, str], Any]


def kill_and_rerun(
    args: Args,
    output: Output,
    hold: HoldAt,
    points: list[int],
    server: FakeOpenAI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Run ``args(dir)`` uninterrupted, then killed at each of ``points``, then to the end.

    ``args`` and ``output`` take the run's folder (its data dir is ``dir/data``), so
    the reference and the killed run write different files; ``output(dir, stdout)``
    is what must be equal. ``points[i]`` is the request held in the ``i``-th killed run.
    """
    from longdoc.cli import main

    monkeypatch.setenv("LONGDOC_MAX_CONCURRENCY", "1")  # one request in flight: the held one
    server.responder = hold
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    for d in (ref, killed):
        d.mkdir()
    monkeypatch.setenv("LONGDOC_DATA_DIR", str(ref / "data"))
    capsys.readouterr()
    assert main(args(ref)) == 0
    reference = output(ref, capsys.readouterr().out)
    ref_calls = Counter(prompt_of(r) for r in server.requests)
    assert len(server.requests) > sum(p - 1 for p in points)  # every kill lands before the end

    monkeypatch.setenv("LONGDOC_DATA_DIR", str(killed / "data"))
    finished: list[str] = []
    for at in points:
        start = len(server.requests)
        hold.n, hold.seen = at, 0
        hold.arrived.clear()
        hold.release.clear()
        proc = spawn_cli(args(killed), tmp_path)
        try:
            wait_until(hold.arrived.is_set, proc, f"model request {at}")
            kill(proc)
        finally:
            hold.release.set()
        done = [prompt_of(r) for r in server.requests[start:]][:-1]  # the last one was held
        assert len(done) == at - 1 and not set(done) & set(finished)  # nothing finished twice
        finished += done

    hold.n = 0
    start = len(server.requests)
    assert main(args(killed)) == 0  # the same command again, to the end
    result = output(killed, capsys.readouterr().out)
    rerun = Counter(prompt_of(r) for r in server.requests[start:])
    assert not set(finished) & set(rerun)  # no finished call asked again
    assert Counter(finished) + rerun == ref_calls  # and every other call asked once
    assert result == reference
