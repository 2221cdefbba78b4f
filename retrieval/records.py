"""The Chroma record codec: chunk ids, and chunks and documents to and from metadata."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from longdoc.retrieval.models import (
    Chunk,
    DocumentInfo,
    LoadedDocument,
)

if TYPE_CHECKING:
    pass

__all__ = ["chunk_id"]



_CHUNK_KEYS = ("symbol", "symbol_kind", "line_start", "line_end")


def chunk_id(chunk: Chunk, doc_hash: str) -> str:
    """The record id of ``chunk`` in the version of its document with ``doc_hash``."""
    return f"{chunk.doc_id}::{doc_hash[:16]}::{chunk.ordinal}"


def _chunk_meta(c: Chunk, doc: LoadedDocument, n: int, now: float) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "doc_id": c.doc_id,
        "source": c.source,
        "ordinal": c.ordinal,
        "char_start": c.char_start,
        "char_end": c.char_end,
        "token_count": c.token_count,
        "content_hash": c.content_hash,
        "header": c.header,
        "doc_hash": doc.content_hash,
        "doc_chunks": n,
        "doc_chars": len(doc.text),
        "doc_kind": doc.kind,
        "ingested_at": now,
    }
    meta.update({k: getattr(c, k) for k in _CHUNK_KEYS if getattr(c, k) is not None})
    return meta


def _to_chunk(text: str, m: dict[str, Any]) -> Chunk:
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
        **{k: m[k] for k in _CHUNK_KEYS if k in m},
    )


def _doc_info(m: dict[str, Any]) -> DocumentInfo:
    return DocumentInfo(
        doc_id=m["doc_id"],
        source=m["source"],
        content_hash=m["doc_hash"],
        chunks=int(m["doc_chunks"]),
        chars=int(m["doc_chars"]),
        kind=m.get("doc_kind", "prose"),
        ingested_at=float(m["ingested_at"]),
    )
