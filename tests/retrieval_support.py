"""Helpers for the retrieval tests: small files, a tiny PDF, a real Chroma server (from
:mod:`longdoc.testing.chroma_server`)."""

from __future__ import annotations

from pathlib import Path

from longdoc.testing.chroma_server import chroma_server, free_port

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
