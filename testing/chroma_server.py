"""A real ``chroma run`` server on loopback, for tests and benchmarks."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["chroma_server", "free_port"]

# ``chroma run`` through chromadb's own entry point: the console script need not lie
# beside this Python (an install with ``pip --target`` puts it elsewhere).
_CHROMA = "import sys; from chromadb.cli.cli import app; sys.argv[0] = 'chroma'; app()"


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def chroma_server(path: Path, timeout: float = 60.0) -> Iterator[int]:
    """Run ``chroma run`` on loopback, storing under ``path``; yield its port once up.

    Raises:
        RuntimeError: the server exited (its log, ``path / "server.log"``, is in the text).
        TimeoutError: its heartbeat did not answer within ``timeout`` seconds.
    """
    import httpx

    port = free_port()
    where = ["--path", str(path / "db"), "--host", "127.0.0.1", "--port", str(port)]
    log = path / "server.log"
    path.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", _CHROMA, "run", *where],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"chroma server exited: {log.read_text(errors='replace')}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).is_success:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"chroma server not up after {timeout}s")
            time.sleep(0.2)  # polling interval, not a timing assumption
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
