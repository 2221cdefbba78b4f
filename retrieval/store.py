"""A Chroma collection holding text records with their embeddings.

:class:`Store` is generic (ids, texts, flat metadata); the document index,
memory and writing each use one collection through it. The collection metadata
records the embedding model's identity and dimension, so opening it with another
model fails clearly instead of mixing vector spaces.

A record's text is kept in its metadata (:data:`TEXT_KEY`), not as a Chroma document:
Chroma indexes documents for its own full-text search, which longdoc does not use (it
keeps BM25 in :mod:`longdoc.retrieval.lexical`), and that index was half the time of
a write (measured: 4,400 chunks, 4.2 s as documents, 2.0 s in metadata). Records
written as documents by earlier versions read the same.

A store opened with ``filterable`` keys keeps only those as Chroma metadata keys and
packs the others into one JSON string (:data:`PACKED_KEY`): Chroma stores and indexes
each key of each record as a row of its own, so 15 keys cost 1.30 s per 2,048 records
where 4 cost 0.95 s, and reading them back 0.51 s where 0.19 s (measured). Readers get
the same flat metadata either way; a filter on a packed key is refused, not left to
match nothing.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from longdoc.errors import EmbeddingModelMismatchError, IndexBackendError, RetrievalError
from longdoc.retrieval.models import Record

if TYPE_CHECKING:
    from longdoc.config import Settings
    from longdoc.retrieval.embedding import Embedder

__all__ = ["Store", "make_client"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]$")
_PAGE = 2000
# Collection metadata key counting writes, so every client can tell its BM25 mirror is behind.
GENERATION_KEY = "longdoc_generation"
# The record metadata key holding its text (see the module docstring).
TEXT_KEY = "longdoc_text"
# The record metadata key holding, as one JSON object, the keys no filter reads.
PACKED_KEY = "longdoc_meta"


def make_client(settings: Settings) -> tuple[Any, str]:
    """A Chroma client for ``settings`` and a description of where it points.

    Args:
        settings: ``chroma_host`` set means an ``HttpClient``; else a
            ``PersistentClient`` under ``data_dir/chroma``.

    Returns:
        ``(client, location)``; location is ``host:port`` or the folder.

    Raises:
        IndexBackendError: the server cannot be reached or the folder is unusable.
    """
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_host:
        where = f"{settings.chroma_host}:{settings.chroma_port}"
        try:
            client = chromadb.HttpClient(
                host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings
            )
            client.heartbeat()
        except Exception as e:
            raise IndexBackendError(f"cannot connect: {e}", where) from e
        return client, where
    folder = Path(settings.data_dir) / "chroma"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(folder), settings=chroma_settings), str(folder)
    except Exception as e:
        raise IndexBackendError(f"cannot open: {e}", str(folder)) from e


class Store:
    """One Chroma collection of embedded text records.

    Args:
        client: a Chroma client (see :func:`make_client`).
        name: the collection name (3-512 of ``[A-Za-z0-9._-]``).
        embedder: the embedding model; its identity is checked against the collection.
        batch_size: texts per embedding batch.
        filterable: the metadata keys that filters and updates may name; the others are
            stored packed (see the module docstring). Default: every key stays a key.
    """

    def __init__(
        self,
        client: Any,
        name: str,
        embedder: Embedder,
        batch_size: int = 64,
        *,
        filterable: Sequence[str] | None = None,
    ) -> None:
        if not _NAME.match(name):
            raise RetrievalError(
                f"invalid collection name {name!r}: use 3-512 letters, digits, '.', '_' or "
                "'-', starting and ending with a letter or digit"
            )
        self.name = name
        self.embedder = embedder
        self.batch_size = batch_size
        self.client = client
        self._filterable = frozenset(filterable) if filterable is not None else None
        self._collection = self._open(client, name)
        self._check_model()

    def _open(self, client: Any, name: str) -> Any:
        from chromadb.errors import NotFoundError

        try:
            return client.get_collection(name, embedding_function=None)
        except (NotFoundError, ValueError):
            pass
        meta = {"embedding_model": self.embedder.identity, "embedding_dim": self.embedder.dimension}
        return client.get_or_create_collection(
            name,
            metadata=meta,
            configuration={"hnsw": {"space": "cosine"}},
            embedding_function=None,
        )

    def _check_model(self) -> None:
        self._stored_dim = 0
        stored = self._collection.metadata or {}
        model, dim = stored.get("embedding_model"), stored.get("embedding_dim")
        if model is None:  # created by someone else: adopt it only while empty
            if self._collection.count():
                raise EmbeddingModelMismatchError(self.name, "<unknown>", self.embedder.identity)
            self._collection.modify(
                metadata={
                    "embedding_model": self.embedder.identity,
                    "embedding_dim": self.embedder.dimension,
                }
            )
            return
        if model != self.embedder.identity:
            raise EmbeddingModelMismatchError(self.name, str(model), self.embedder.identity)
        self._stored_dim = int(dim or 0)
        if getattr(self.embedder, "loaded", True):
            self._check_dim()

    def _check_dim(self) -> None:
        # Checked once the model is loaded: a model path whose weights changed
        # under the same name still cannot write vectors of another size.
        if self._stored_dim and self._stored_dim != self.embedder.dimension:
            raise EmbeddingModelMismatchError(
                self.name,
                f"{self.embedder.identity} (dim {self._stored_dim})",
                f"{self.embedder.identity} (dim {self.embedder.dimension})",
            )

    def count(self) -> int:
        """Number of records."""
        return int(self._collection.count())

    def _fresh_metadata(self) -> dict[str, Any]:
        # The collection object caches the metadata it was opened with; other clients'
        # bumps are seen only by asking the server (or the embedded database) again.
        fresh = self.client.get_collection(self.name, embedding_function=None)
        return dict(fresh.metadata or {})

    def generation(self) -> int:
        """How many writes the collection has seen (see :meth:`bump_generation`)."""
        return int(self._fresh_metadata().get(GENERATION_KEY, 0))

    def state(self) -> tuple[int, int]:
        """``(generation, count)``: what a BM25 mirror compares itself with."""
        return self.generation(), self.count()

    def bump_generation(self) -> int:
        """Count one write in the collection metadata; return the new generation.

        Chroma has no atomic increment: two clients bumping at the same instant may
        count one write; the record count, compared beside it, still tells a mirror
        it is behind unless both writes left the count unchanged.
        """
        meta = self._fresh_metadata()  # modify() replaces the whole metadata: keep the rest
        meta[GENERATION_KEY] = int(meta.get(GENERATION_KEY, 0)) + 1
        self._collection.modify(metadata=meta)
        return int(meta[GENERATION_KEY])

    def embed(self, texts: Sequence[str]) -> Any:
        """Embeddings of ``texts`` (normalised float32 array)."""
        self._check_dim()
        return self.embedder.encode(list(texts), batch_size=self.batch_size)

    def start_embed(self, texts: Sequence[str]) -> Callable[[], Any]:
        """Start embedding ``texts``; the function returned waits for the vectors.

        On a GPU the work runs while the caller goes on (see
        :func:`~longdoc.retrieval.embedding.start_encode`); elsewhere it is done here.
        """
        from longdoc.retrieval.embedding import start_encode

        self._check_dim()
        return start_encode(self.embedder, list(texts), self.batch_size)

    def _encode(self, meta: dict[str, Any], text: str) -> dict[str, Any]:
        """The Chroma metadata of a record: its filterable keys, the rest packed, the text."""
        if self._filterable is None:
            return {**meta, TEXT_KEY: text}
        kept = {k: v for k, v in meta.items() if k in self._filterable}
        rest = {k: v for k, v in meta.items() if k not in self._filterable}
        if rest:
            kept[PACKED_KEY] = json.dumps(rest, separators=(",", ":"))
        kept[TEXT_KEY] = text
        return kept

    def _check_keys(self, keys: Iterator[str] | Sequence[str], what: str) -> None:
        """Refuse a filter or an update naming a packed key (it would match nothing)."""
        if self._filterable is None:
            return
        packed = sorted({k for k in keys if not k.startswith("$")} - self._filterable)
        if packed:
            raise RetrievalError(
                f"cannot {what} on {', '.join(packed)} in collection {self.name!r}: only "
                f"{', '.join(sorted(self._filterable))} are stored as filterable keys"
            )

    def upsert(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        metadatas: Sequence[dict[str, Any]],
        embeddings: Any = None,
        embed_texts: Sequence[str] | None = None,
    ) -> None:
        """Write records, embedding ``embed_texts`` (default ``texts``) unless given.

        Args:
            ids: record ids.
            texts: stored texts.
            metadatas: flat metadata per record.
            embeddings: precomputed vectors, one row per record.
            embed_texts: the texts to embed when they differ from the stored ones.
        """
        if not ids:
            return
        if embeddings is None:
            embeddings = self.embed(embed_texts or texts)
        step = self.max_batch
        for i in range(0, len(ids), step):
            self._collection.upsert(
                ids=list(ids[i : i + step]),
                metadatas=[
                    self._encode(m, t)
                    for m, t in zip(metadatas[i : i + step], texts[i : i + step], strict=True)
                ],
                embeddings=embeddings[i : i + step],
            )

    @functools.cached_property
    def max_batch(self) -> int:
        """The most records one Chroma write takes (asked once: it is a database query)."""
        return int(self.client.get_max_batch_size())

    def add_records(self, records: Sequence[Record]) -> None:
        """Embed and write generic records (memory episodes, drafts...)."""
        self.upsert(
            [r.id for r in records],
            [r.text for r in records],
            [r.metadata or {"_": 0} for r in records],
        )

    def get(
        self,
        ids: Sequence[str] | None = None,
        where: dict[str, Any] | None = None,
        include_documents: bool = True,
    ) -> Iterator[tuple[str, str | None, dict[str, Any]]]:
        """Yield ``(id, text, metadata)`` of matching records, page by page.

        ``include_documents=False`` skips only the Chroma documents of records written
        by earlier versions: a text kept in metadata (:data:`TEXT_KEY`) comes back anyway.
        """
        self._check_keys(_where_keys(where), "filter")
        include = ["metadatas", "documents"] if include_documents else ["metadatas"]
        if ids is not None:
            if ids:
                yield from _rows(self._collection.get(ids=list(ids), where=where, include=include))
            return
        for res in self._pages(where, include):
            yield from _rows(res)

    def ids(self, where: dict[str, Any] | None = None) -> list[str]:
        """The ids of matching records (nothing else is read)."""
        self._check_keys(_where_keys(where), "filter")
        return [i for res in self._pages(where, []) for i in res["ids"]]

    def _pages(self, where: dict[str, Any] | None, include: list[str]) -> Iterator[Any]:
        """Chroma's ``get`` results for the records matching ``where``, a page at a time."""
        offset = 0
        while True:
            res = self._collection.get(where=where, include=include, limit=_PAGE, offset=offset)
            yield res
            if len(res["ids"]) < _PAGE:
                return
            offset += _PAGE

    def get_records(
        self, ids: Sequence[str] | None = None, where: dict[str, Any] | None = None
    ) -> list[Record]:
        """Matching records as :class:`Record` objects."""
        return [Record(id=i, text=t or "", metadata=m) for i, t, m in self.get(ids, where)]

    def delete(self, ids: Sequence[str] | None = None, where: dict[str, Any] | None = None) -> None:
        """Delete records by id or by metadata filter."""
        self._check_keys(_where_keys(where), "filter")
        if ids is not None:
            for i in range(0, len(ids), _PAGE):
                self._collection.delete(ids=list(ids[i : i + _PAGE]))
        elif where is not None:
            self._collection.delete(where=where)

    def update_metadata(self, ids: Sequence[str], metadatas: Sequence[dict[str, Any]]) -> None:
        """Replace the metadata of existing records, keeping their texts and vectors."""
        self._check_keys([k for m in metadatas for k in m], "update")
        for i in range(0, len(ids), _PAGE):
            self._collection.update(
                ids=list(ids[i : i + _PAGE]), metadatas=list(metadatas[i : i + _PAGE])
            )

    def query(
        self, text: str, k: int = 5, where: dict[str, Any] | None = None
    ) -> list[tuple[Record, float]]:
        """Nearest records to ``text`` by cosine similarity, best first."""
        self._check_keys(_where_keys(where), "filter")
        if k <= 0 or not self.count():
            return []
        vec = self.embed([text])
        res = self._collection.query(
            query_embeddings=vec,
            n_results=min(k, self.count()),
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        out = []
        rows = zip(
            res["ids"][0],
            res["documents"][0],
            res["metadatas"][0],
            res["distances"][0],
            strict=True,
        )
        for i, doc, stored, dist in rows:
            body, meta = _split_text(doc, stored)
            out.append((Record(id=i, text=body or "", metadata=meta), 1.0 - float(dist)))
        return out


def _split_text(doc: str | None, meta: Any) -> tuple[str | None, dict[str, Any]]:
    """A record's text (from its metadata, or the document of an older record) and metadata.

    Packed keys (:data:`PACKED_KEY`) are unpacked: readers see every layout as flat metadata.
    """
    meta = dict(meta or {})
    text = meta.pop(TEXT_KEY, None)
    packed = meta.pop(PACKED_KEY, None)
    if packed is not None:
        meta = {**json.loads(packed), **meta}
    return (doc if text is None else str(text)), meta


def _where_keys(where: dict[str, Any] | None) -> Iterator[str]:
    """The metadata keys a Chroma ``where`` filter reads (operators such as ``$and`` skipped)."""
    if not where:
        return
    for key, value in where.items():
        if key in ("$and", "$or"):
            for clause in value:
                yield from _where_keys(clause)
        else:
            yield key


def _rows(res: dict[str, Any]) -> Iterator[tuple[str, str | None, dict[str, Any]]]:
    docs = res.get("documents") or [None] * len(res["ids"])
    metas = res.get("metadatas") or [{}] * len(res["ids"])
    for i, d, m in zip(res["ids"], docs, metas, strict=False):
        text, meta = _split_text(d, m)
        yield i, text, meta
