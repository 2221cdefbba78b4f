"""The Chroma record codec: chunk ids, and chunks and documents to and from metadata.

Every chunk is one record: its id names the document version and the ordinal
(``<doc_id>::<hash16>::<ordinal>``), its flat metadata carries the chunk's
offsets and what the index knows about the whole document.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from longdoc.retrieval.models import Chunk, DocumentInfo, LoadedDocument

__all__ = ["chunk_from_record", "chunk_id", "chunk_metadata", "document_info", "sibling_id"]

# Chunk fields stored only when set (code chunks).
_OPTIONAL_KEYS = ("symbol", "symbol_kind", "line_start", "line_end", "language", "members")


def chunk_id(chunk: Chunk, doc_hash: str) -> str:
    """The record id of ``chunk`` in the version of its document with ``doc_hash``."""
    return f"{chunk.doc_id}::{doc_hash[:16]}::{chunk.ordinal}"


def sibling_id(record_id: str, ordinal: int) -> str:
    """The record id of chunk ``ordinal`` in the same document version as ``record_id``."""
    return f"{record_id.rsplit('::', 1)[0]}::{ordinal}"


def chunk_metadata(
    chunk: Chunk, doc: LoadedDocument, *, doc_chunks: int, ingested_at: float
) -> dict[str, Any]:
    """The flat metadata stored with ``chunk``.

    Args:
        chunk: the chunk.
        doc: the document it belongs to.
        doc_chunks: how many chunks the document has.
        ingested_at: the ingest time (seconds since the epoch).

    Returns:
        Chroma metadata (strings, numbers).
    """
    meta: dict[str, Any] = {
        "doc_id": chunk.doc_id,
        "source": chunk.source,
        "ordinal": chunk.ordinal,
        "char_start": chunk.char_start,
        "char_end": chunk.char_end,
        "token_count": chunk.token_count,
        "content_hash": chunk.content_hash,
        "header": chunk.header,
        "doc_hash": doc.content_hash,
        "doc_chunks": doc_chunks,
        "doc_chars": len(doc.text),
        "doc_kind": doc.kind,
        "ingested_at": ingested_at,
    }
    meta.update({k: getattr(chunk, k) for k in _OPTIONAL_KEYS if getattr(chunk, k) is not None})
    return meta


def chunk_from_record(text: str, metadata: Mapping[str, Any]) -> Chunk:
    """The chunk stored as ``text`` with ``metadata`` (see :func:`chunk_metadata`)."""
    m = metadata
    return Chunk(
        doc_id=m["doc_id"],
        source=m["source"],
        ordinal=int(m["ordinal"]),
        char_start=int(m["char_start"]),
        char_end=int(m["char_end"]),
        text=text,
        header=m.get("header", ""),
        token_count=int(m.get("token_count", 0)),
        content_hash=m.get("content_hash", ""),
        **{k: m[k] for k in _OPTIONAL_KEYS if k in m},
    )


def document_info(metadata: Mapping[str, Any]) -> DocumentInfo:
    """What a chunk's ``metadata`` says about its whole document."""
    m = metadata
    return DocumentInfo(
        doc_id=m["doc_id"],
        source=m["source"],
        content_hash=m["doc_hash"],
        chunks=int(m["doc_chunks"]),
        chars=int(m["doc_chars"]),
        kind=m.get("doc_kind", "prose"),
        ingested_at=float(m["ingested_at"]),
    )
