"""The Chroma record codec: chunk ids, and chunks and documents to and from metadata.

Every chunk is one record: its id names the document version and the ordinal
(``<doc_id>::<version16>::<ordinal>``), its flat metadata carries the chunk's
offsets and what the index knows about the whole document. A version is the
document's text *and* how it was chunked: a new chunker (an upgrade, another
``chunk_size``) re-chunks an unchanged file instead of keeping stale chunks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from longdoc.retrieval.models import Chunk, DocumentInfo, LoadedDocument

__all__ = [
    "FILTERABLE",
    "PENDING",
    "VersionStats",
    "chunk_from_record",
    "chunk_id",
    "chunk_metadata",
    "current_versions",
    "document_info",
    "document_version",
    "in_version",
    "is_pending",
    "sibling_id",
    "version_of",
    "version_prefix",
    "version_stats",
]

# Set on every chunk of a version while it is being written, removed once all are stored:
# records without it (written before it existed, or published) count as complete.
PENDING = "pending"

# The chunk metadata keys that filters read (documents, ordinal ranges, languages, the
# pending flag): kept as Chroma keys, the others packed (see longdoc.retrieval.store).
FILTERABLE = ("doc_id", "ordinal", "language", PENDING)

# Chunk fields stored only when set (code chunks).
_OPTIONAL_KEYS = ("symbol", "symbol_kind", "line_start", "line_end", "language", "members")


def document_version(doc_hash: str, chunker: str) -> str:
    """The version key of a document: its text's hash and the chunker's signature."""
    return hashlib.sha256(f"{doc_hash}|{chunker}".encode()).hexdigest()[:16]


def version_of(metadata: Mapping[str, Any]) -> str:
    """The version of the document a stored chunk belongs to.

    Records written before versions named the chunker carry only ``doc_hash``; they
    match no current chunker, so the next ingest of their file re-chunks it.
    """
    return str(metadata.get("doc_version") or metadata["doc_hash"])


def is_pending(metadata: Mapping[str, Any]) -> bool:
    """Whether a stored chunk belongs to a version still being written (or whose ingest died)."""
    return metadata.get(PENDING) is True


@dataclass
class VersionStats:
    """What is stored of one version of one document.

    Attributes:
        meta: the metadata of its chunk 0 when stored, else of one of its chunks.
        ids: the record ids stored.
        pending: how many of them are still marked pending (being written).
    """

    meta: Mapping[str, Any]
    ids: set[str] = field(default_factory=set)
    pending: int = 0

    @property
    def count(self) -> int:
        """Chunks stored."""
        return len(self.ids)

    @property
    def complete(self) -> bool:
        """Every chunk stored and none pending."""
        return self.count == int(self.meta["doc_chunks"]) and not self.pending

    @property
    def rank(self) -> tuple[bool, float]:
        """The current version of a document is the one ranked highest: complete, newest."""
        return self.complete, float(self.meta.get("ingested_at", 0.0))


def version_stats(
    rows: Iterable[tuple[str, Mapping[str, Any]]],
) -> dict[str, dict[str, VersionStats]]:
    """What is stored of each version of each document.

    Args:
        rows: ``(record id, chunk metadata)`` of any documents and versions.

    Returns:
        doc id -> version (see :func:`version_of`) -> its stats.
    """
    out: dict[str, dict[str, VersionStats]] = {}
    for id_, m in rows:
        v = out.setdefault(m["doc_id"], {}).setdefault(version_of(m), VersionStats(meta=m))
        v.ids.add(id_)
        v.pending += is_pending(m)
        if int(m["ordinal"]) == 0:
            v.meta = m
    return out


def current_versions(rows: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, str]:
    """Each document's current version: the newest complete one, else the newest.

    Args:
        rows: ``(record id, chunk metadata)`` of any documents and versions.

    Returns:
        doc id -> version (see :func:`version_of`).
    """
    return {
        doc_id: max(versions, key=lambda v: versions[v].rank)
        for doc_id, versions in version_stats(rows).items()
    }


def chunk_id(chunk: Chunk, version: str) -> str:
    """The record id of ``chunk`` in ``version`` of its document."""
    return f"{version_prefix(chunk.doc_id, version)}::{chunk.ordinal}"


def version_prefix(doc_id: str, version: str) -> str:
    """What the record ids of ``version`` of ``doc_id`` share before ``::<ordinal>``."""
    return f"{doc_id}::{version[:16]}"


def in_version(record_id: str, doc_id: str, version: str) -> bool:
    """Whether ``record_id`` is a chunk of ``version`` of ``doc_id`` (read off the id alone)."""
    return record_id.rsplit("::", 1)[0] == version_prefix(doc_id, version)


def sibling_id(record_id: str, ordinal: int) -> str:
    """The record id of chunk ``ordinal`` in the same document version as ``record_id``."""
    return f"{record_id.rsplit('::', 1)[0]}::{ordinal}"


def chunk_metadata(
    chunk: Chunk, doc: LoadedDocument, *, doc_chunks: int, ingested_at: float, version: str
) -> dict[str, Any]:
    """The flat metadata stored with ``chunk``.

    Args:
        chunk: the chunk.
        doc: the document it belongs to.
        doc_chunks: how many chunks the document has.
        ingested_at: the ingest time (seconds since the epoch).
        version: the document version (see :func:`document_version`).

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
        "doc_version": version,
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
