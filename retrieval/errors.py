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
        self.path = Path(path)
        super().__init__(f"no such file or folder: {self.path}")


class DocumentNotFoundError(RetrievalError):
    """No document with this id is in the collection.

    Attributes:
        doc_id: the id that was asked for.
        collection: the collection that was searched.
    """

    def __init__(self, doc_id: str, collection: str) -> None:
        self.doc_id = doc_id
        self.collection = collection
        super().__init__(f"no document {doc_id!r} in collection {collection!r}")


class EmbeddingModelMismatchError(RetrievalError):
    """A collection was built with another embedding model than the one requested.

    Mixing vectors of two models gives meaningless distances, so this is refused.

    Attributes:
        collection: the collection's name.
        stored_model: the model identity recorded in the collection.
        requested_model: the model identity of the embedder now in use.
    """

    def __init__(self, collection: str, stored_model: str, requested_model: str) -> None:
        self.collection = collection
        self.stored_model = stored_model
        self.requested_model = requested_model
        super().__init__(
            f"collection {collection!r} was built with embedding model {stored_model!r}, "
            f"not {requested_model!r}; use the same model (LONGDOC_EMBEDDING_MODEL) "
            "or another collection"
        )


class IndexBackendError(RetrievalError):
    """Chroma could not be reached or refused an operation.

    Attributes:
        where: the client's location (a folder or ``host:port``).
    """

    def __init__(self, message: str, where: str) -> None:
        self.where = where
        super().__init__(f"Chroma at {where}: {message}")
