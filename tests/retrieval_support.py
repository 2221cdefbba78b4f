"""Helpers for the retrieval tests: small files, a tiny PDF, a real Chroma server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["chroma_server", "free_port", "make_pdf", "write"]


# Two topics far apart, for the index tests' searches.
SHIPS = (
    "The whaling ship Pequod sailed from Nantucket under Captain Ahab. "
    "Its crew hunted sperm whales across the Pacific for their oil. "
)
COOKING = (
    "To bake sourdough bread, feed the starter, mix flour and water, and let the dough rise. "
    "A hot Dutch oven gives the loaf a crisp crust. "
)


def write(path: Path, content: str | bytes) -> Path:
    """Write ``content`` to ``path``, creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def make_pdf(text: str) -> bytes:
    """A one-page PDF showing ``text`` (ASCII), built by hand with a valid xref table."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (i, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def chroma_server(path: Path, timeout: float = 60.0) -> Iterator[int]:
    """Run ``chroma run`` on loopback; yield its port once the heartbeat answers."""
    import httpx

    exe = shutil.which("chroma", path=str(Path(sys.executable).parent)) or "chroma"
    port = free_port()
    log = path / "server.log"
    path.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [exe, "run", "--path", str(path / "db"), "--host", "127.0.0.1", "--port", str(port)],
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
