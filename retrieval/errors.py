"""Errors raised by the retrieval package; each carries its data as attributes."""

from __future__ import annotations

from pathlib import Path

from longdoc.errors import LongdocError

__all__ = [
    "DocumentNotFoundError",
    "EmbeddingModelMismatchError",
    "IndexBackendError",
    "RetrievalError",
    "SourceNotFoundError",
]


class RetrievalError(LongdocError):
    """Base class for errors raised by :mod:`longdoc.retrieval`."""


class SourceNotFoundError(RetrievalError):
    """A path given to ingest or load does not exist.

    Attributes:
        path: the path that was asked for.
    """

    def __init__(self, path: Path | str) -> None:
        super().__init__(f"no such file or folder: {path}", path=Path(path))


class DocumentNotFoundError(RetrievalError):
    """No document with this id is in the collection.

    Attributes:
        doc_id: the id that was asked for.
        collection: the collection that was searched.
    """

    def __init__(self, doc_id: str, collection: str) -> None:
        super().__init__(
            f"no document {doc_id!r} in collection {collection!r}",
            doc_id=doc_id,
            collection=collection,
        )


class EmbeddingModelMismatchError(RetrievalError):
    """A collection was built with another embedding model than the one requested.

    Mixing vectors of two models gives meaningless distances, so this is refused.

    Attributes:
        collection: the collection's name.
        stored_model: the model identity recorded in the collection.
        requested_model: the model identity of the embedder now in use.
    """

    def __init__(self, collection: str, stored_model: str, requested_model: str) -> None:
        super().__init__(
            f"collection {collection!r} was built with embedding model {stored_model!r}, "
            f"not {requested_model!r}; use the same model (LONGDOC_EMBEDDING_MODEL) "
            "or another collection",
            collection=collection,
            stored_model=stored_model,
            requested_model=requested_model,
        )


class IndexBackendError(RetrievalError):
    """Chroma could not be reached or refused an operation.

    Attributes:
        where: the client's location (a folder or ``host:port``).
    """

    def __init__(self, message: str, where: str) -> None:
        super().__init__(f"Chroma at {where}: {message}", where=where)
