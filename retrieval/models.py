"""Pydantic records passed between loading, chunking, the index and search."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Chunk",
    "DocumentInfo",
    "IngestEvent",
    "IngestReport",
    "LoadIssue",
    "LoadedDocument",
    "Passage",
    "Record",
    "SearchHit",
]


class LoadedDocument(BaseModel):
    """One file's text after decoding and clean-up; chunk offsets index into ``text``.

    Attributes:
        doc_id: stable id (the path relative to the ingested root, or the file name).
        source: absolute path of the file.
        text: the decoded text (Gutenberg licence removed, HTML reduced to text).
        kind: ``"prose"`` or ``"code"``.
        language: the source language for code (``"python"``...), else ``None``.
        content_hash: sha256 of ``text``; unchanged hash means nothing to re-embed.
        warnings: problems that did not stop loading (replaced bytes...).
    """

    model_config = ConfigDict(frozen=True)

    doc_id: str
    source: str
    text: str
    kind: Literal["prose", "code"] = "prose"
    language: str | None = None
    content_hash: str
    warnings: list[str] = Field(default_factory=list)


class LoadIssue(BaseModel):
    """A file that was skipped or loaded with a problem.

    Attributes:
        path: the file concerned.
        reason: what went wrong, for people.
        skipped: ``True`` when the file was not ingested at all.
    """

    model_config = ConfigDict(frozen=True)

    path: str
    reason: str
    skipped: bool = True


class Chunk(BaseModel):
    """A slice of a document: ``document.text[char_start:char_end] == text``.

    Attributes:
        doc_id: the document's id.
        source: the document's path.
        ordinal: position of the chunk in its document, from 0.
        char_start: offset of the first character in the document text.
        char_end: offset one past the last character.
        text: the chunk text, verbatim from the document.
        header: context put before ``text`` when embedding (module, class), or ``""``.
        token_count: embedding-model tokens in ``embed_text``.
        content_hash: sha256 of ``text``.
        symbol: for code, the qualified name of the function or class.
        symbol_kind: for code, ``"function"``, ``"class"``, ``"method"``, ``"module"``...
        line_start: for code, first line (1-based).
        line_end: for code, last line (inclusive).
        language: for code, the document's language (``"python"``, ``"go"``...).
        members: for code, qualified names defined inside the chunk's definitions that
            have no chunk of their own (the methods of a class kept whole), space-separated.
    """

    model_config = ConfigDict(frozen=True)

    doc_id: str
    source: str
    ordinal: int
    char_start: int
    char_end: int
    text: str
    header: str = ""
    token_count: int = 0
    content_hash: str = ""
    symbol: str | None = None
    symbol_kind: str | None = None
    line_start: int | None = None
    line_end: int | None = None
    language: str | None = None
    members: str | None = None

    @property
    def text_line(self) -> int | None:
        """For code, the line ``text`` starts on (``line_start`` skips leading blank lines)."""
        if self.line_start is None:
            return None
        lead = self.text[: len(self.text) - len(self.text.lstrip())]
        return self.line_start - lead.count("\n")

    @property
    def embed_text(self) -> str:
        """The text given to the embedder: the header, then the chunk text."""
        return f"{self.header}\n{self.text}" if self.header else self.text


class Record(BaseModel):
    """A generic stored text with metadata (memory episodes, drafts, chunks).

    Attributes:
        id: unique id in its collection.
        text: the stored text (embedded unless ``embedding`` is given).
        metadata: flat ``str | int | float | bool`` values (Chroma's rule).
    """

    id: str
    text: str
    metadata: dict[str, str | int | float | bool] = Field(default_factory=dict)


class SearchHit(BaseModel):
    """One retrieved chunk with its score.

    Attributes:
        id: the record id in the collection.
        chunk: the chunk.
        score: higher is better; its scale depends on ``mode``.
        mode: ``"dense"``, ``"bm25"``, ``"hybrid"`` or ``"neighbour"``.
        rank: position in the result list, from 0.
    """

    id: str = ""
    chunk: Chunk
    score: float
    mode: str
    rank: int = 0


class Passage(BaseModel):
    """Adjacent or overlapping chunks of one document, merged for a prompt.

    Attributes:
        doc_id: the document.
        source: its path.
        char_start: start offset of the merged text in the document.
        char_end: end offset.
        text: the merged text.
        ordinals: the chunk ordinals it covers.
        score: best score among its chunks.
        token_count: tokens of ``text`` by the packing counter.
        line_start: for code, the line (1-based) that ``text`` starts on.
    """

    doc_id: str
    source: str
    char_start: int
    char_end: int
    text: str
    ordinals: list[int]
    score: float
    token_count: int
    line_start: int | None = None


class DocumentInfo(BaseModel):
    """What the index knows about one stored document.

    Attributes:
        doc_id: its id.
        source: the path it came from.
        content_hash: sha256 of its text at ingest.
        chunks: number of chunks.
        chars: length of its text.
        kind: ``"prose"`` or ``"code"``.
        ingested_at: Unix time of the ingest.
    """

    doc_id: str
    source: str
    content_hash: str
    chunks: int
    chars: int
    kind: str
    ingested_at: float


class IngestEvent(BaseModel):
    """Progress of an ingest, sent to ``on_progress`` callbacks.

    Attributes:
        stage: ``"scan"``, ``"wait"`` (for another writer), ``"file"``, ``"embed"``,
            ``"skip"``, ``"prune"`` or ``"done"``.
        files_done: files finished so far.
        files_total: files found.
        chunks_embedded: chunks embedded so far.
        path: the file concerned, when there is one.
        message: free text for people.
    """

    stage: str
    files_done: int = 0
    files_total: int = 0
    chunks_embedded: int = 0
    path: str | None = None
    message: str = ""


class IngestReport(BaseModel):
    """What one ingest did.

    Attributes:
        added: doc ids ingested for the first time.
        updated: doc ids whose content changed and were replaced.
        unchanged: doc ids skipped because their hash did not change.
        removed: doc ids pruned because their file is gone.
        issues: skipped files and non-fatal problems.
        chunks_embedded: chunks embedded in this run.
        tokens_embedded: embedding tokens in this run.
        seconds: wall time.
    """

    added: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    issues: list[LoadIssue] = Field(default_factory=list)
    chunks_embedded: int = 0
    tokens_embedded: int = 0
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """Counts per outcome, for a one-line display."""
        return {
            "added": len(self.added),
            "updated": len(self.updated),
            "unchanged": len(self.unchanged),
            "removed": len(self.removed),
            "issues": len(self.issues),
            "chunks": self.chunks_embedded,
        }
