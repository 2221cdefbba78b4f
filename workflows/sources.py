"""Turn what the user points at (raw text, a file, a folder, an indexed doc id) into one text.

"Source" means one thing across the API: a :class:`DocumentText`, the whole document a
workflow reads (``ChainOfAgents.run(query, source=...)``, ``RetrieveThenReason.run(query,
source=...)``, ``MemoryChat.read(source)``); a plain string given as a source is raw text.
The index documents a writer draws passages from are its ``evidence``, not sources.

Several index documents make one source (:func:`from_index_documents`): each is
preceded by a marker line ``=== document: <id> ===`` inside the text the model
reads, and :attr:`DocumentText.segments` maps offsets of the whole back to each
document.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from longdoc.errors import DocumentsNotFoundError, EmptyDocumentError, LongdocError

__all__ = [
    "DocRef",
    "DocumentSegment",
    "DocumentText",
    "EmptyDocumentError",
    "as_document",
    "default_task",
    "document_marker",
    "from_index",
    "from_index_documents",
    "from_path",
    "from_text",
    "is_glob",
    "read_documents",
    "select_documents",
]

# What names index documents: an id, a glob over ids and source paths, or a sequence of both.
DocRef = str | Sequence[str]

_GLOB_CHARS = frozenset("*?[")


class DocumentSegment(BaseModel):
    """Where one document lies inside a text made of several.

    Attributes:
        doc_id: the document's index id.
        source: the path it was ingested from.
        marker_start: offset of its marker line in the whole text.
        start: offset of its first character (after the marker line) in the whole text.
        end: offset just past its last character.
    """

    model_config = ConfigDict(frozen=True)

    doc_id: str
    source: str
    marker_start: int
    start: int
    end: int


class DocumentText(BaseModel):
    """A whole document as one text, with where it came from.

    Attributes:
        text: the text, in reading order.
        name: a label for people (path, doc id or "text").
        kind: ``prose`` or ``code`` (code gets a symbols-and-behaviour reading).
        doc_id: the index id when the text came from one index document.
        content_hash: sha256 of ``text``.
        segments: for a text made of several index documents, each one's place in it,
            in reading order; empty otherwise.
    """

    model_config = ConfigDict(frozen=True)

    text: str
    name: str
    kind: Literal["prose", "code"] = "prose"
    doc_id: str | None = None
    content_hash: str
    segments: tuple[DocumentSegment, ...] = ()

    def segment_at(self, offset: int) -> DocumentSegment | None:
        """The document that the character at ``offset`` belongs to (its marker included)."""
        for seg in self.segments:
            if seg.marker_start <= offset < seg.end:
                return seg
        return None


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


def is_glob(ref: str) -> bool:
    """Whether ``ref`` is a glob (it has ``*``, ``?`` or ``[``) rather than one id."""
    return not _GLOB_CHARS.isdisjoint(ref)


def select_documents(index: Any, doc: DocRef) -> list[str]:
    """The index ids ``doc`` names, in the order given, each once.

    ``doc`` is an id, a glob, or a sequence of ids and globs. A glob matches ids
    and source paths (as ``Index.search(path_glob=...)``) and expands to its
    matches sorted by id; an exact id wins over reading it as a glob.

    Raises:
        DocumentsNotFoundError: ids not in the index, or globs matching nothing (all named).
        LongdocError: ``doc`` is an empty sequence.
    """
    refs = [doc] if isinstance(doc, str) else list(doc)
    if not refs:
        raise LongdocError("doc names no document (an empty list)", doc=refs)
    known = {d.doc_id: d for d in index.list_documents()}
    chosen: dict[str, None] = {}  # an ordered set: a document named twice is read once
    missing: list[str] = []
    for ref in refs:
        if ref in known:
            matches = [ref]
        elif is_glob(ref):
            matches = sorted(
                i for i, d in known.items()
                if fnmatch.fnmatch(i, ref) or fnmatch.fnmatch(d.source, ref)
            )  # fmt: skip
        else:
            matches = []
        if not matches:
            missing.append(ref)
        chosen.update(dict.fromkeys(matches))
    if missing:
        raise DocumentsNotFoundError(missing, index.collection)
    return list(chosen)


def document_marker(doc_id: str) -> str:
    """The line that starts a document inside a text made of several."""
    return f"=== document: {doc_id} ==="


def from_index_documents(index: Any, doc_ids: Sequence[str]) -> DocumentText:
    """Several ingested documents as one text, in the order given, each after its marker line.

    The marker and the document's first line are one paragraph, so a split along
    paragraphs and sentences keeps a marker with the text it names. One id gives
    exactly :func:`from_index`'s text (no marker).

    Raises:
        DocumentNotFoundError: an id is not in the index.
        EmptyDocumentError: no ids, or only blank documents.
    """
    if len(doc_ids) == 1:
        return from_index(index, doc_ids[0])
    if not doc_ids:
        raise EmptyDocumentError("no documents")
    pieces: list[str] = []
    segments: list[DocumentSegment] = []
    at, code = 0, 0
    for doc_id in doc_ids:
        info = index.get_document(doc_id)
        code += info.kind == "code"
        body = index.document_text(doc_id)
        head = f"{document_marker(doc_id)}\n"
        start = at + len(head)
        segments.append(
            DocumentSegment(
                doc_id=doc_id, source=info.source, marker_start=at, start=start,
                end=start + len(body),
            )
        )  # fmt: skip
        pieces.append(head + body)
        at = start + len(body) + 2  # the "\n\n" that joins documents
    kind: Literal["prose", "code"] = "code" if code * 2 >= len(doc_ids) else "prose"
    doc = from_text("\n\n".join(pieces), ",".join(doc_ids), kind)
    return doc.model_copy(update={"segments": tuple(segments)})


def read_documents(index: Any, doc: DocRef) -> DocumentText:
    """The documents ``doc`` names (see :func:`select_documents`) as one text.

    Raises:
        DocumentsNotFoundError: ids not in the index, or globs matching nothing.
    """
    return from_index_documents(index, select_documents(index, doc))
