"""Turn what the user points at (raw text, a file, a folder, an indexed doc id) into one text.

"Source" means one thing across the API: a :class:`DocumentText`, the whole document a
workflow reads (``ChainOfAgents.run(query, source=...)``, ``RetrieveThenReason.run(query,
source=...)``, ``MemoryChat.read(source)``); a plain string given as a source is raw text.
The index documents a writer draws passages from are its ``evidence``, not sources.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from longdoc.errors import EmptyDocumentError

__all__ = [
    "DocumentText",
    "EmptyDocumentError",
    "as_document",
    "default_task",
    "from_index",
    "from_path",
    "from_text",
]


class DocumentText(BaseModel):
    """A whole document as one text, with where it came from.

    Attributes:
        text: the text, in reading order.
        name: a label for people (path, doc id or "text").
        kind: ``prose`` or ``code`` (code gets a symbols-and-behaviour reading).
        doc_id: the index id when the text came from the index.
        content_hash: sha256 of ``text``.
    """

    model_config = ConfigDict(frozen=True)

    text: str
    name: str
    kind: Literal["prose", "code"] = "prose"
    doc_id: str | None = None
    content_hash: str


def from_text(
    text: str, name: str = "text", kind: Literal["prose", "code"] = "prose"
) -> DocumentText:
    """Wrap raw text."""
    if not text.strip():
        raise EmptyDocumentError(name)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return DocumentText(text=text, name=name, kind=kind, content_hash=digest)


def as_document(source: DocumentText | str) -> DocumentText:
    """A workflow's source as a :class:`DocumentText` (a string is raw text).

    Raises:
        EmptyDocumentError: the text is blank.
    """
    return source if isinstance(source, DocumentText) else from_text(source)


def from_path(path: str | Path) -> DocumentText:
    """Load a file, or every readable file of a folder in path order (each under a header).

    Raises:
        SourceNotFoundError: the path does not exist.
        EmptyDocumentError: nothing readable was found.
    """
    from longdoc.retrieval.loading import iter_documents, load_file, scan
    from longdoc.retrieval.models import LoadedDocument

    path = Path(path)
    if path.is_file() or not path.exists():
        loaded = load_file(path)  # raises SourceNotFoundError for a missing path
        if not isinstance(loaded, LoadedDocument):
            raise EmptyDocumentError(f"{path} ({loaded.reason})")
        return from_text(loaded.text, str(path), loaded.kind)
    docs = [d for d in iter_documents(scan([path])) if isinstance(d, LoadedDocument)]
    if not docs:
        raise EmptyDocumentError(str(path))
    kind: Literal["prose", "code"] = (
        "code" if sum(d.kind == "code" for d in docs) * 2 >= len(docs) else "prose"
    )
    text = "\n\n".join(f"=== file: {d.doc_id} ===\n{d.text}" for d in docs)
    return from_text(text, str(path), kind)


def from_index(index: Any, doc_id: str) -> DocumentText:
    """Read an ingested document back from the shared index, chunks in order.

    Raises:
        DocumentNotFoundError: no document has that id.
    """
    kind: Literal["prose", "code"] = (
        "code" if index.get_document(doc_id).kind == "code" else "prose"
    )
    doc = from_text(index.document_text(doc_id), doc_id, kind)
    return doc.model_copy(update={"doc_id": doc_id})


def default_task(doc: DocumentText, query: str | None) -> Literal["qa", "summary", "code"]:
    """What reading a document is for: answering the query, or summarising prose or code."""
    return "qa" if query else "code" if doc.kind == "code" else "summary"
