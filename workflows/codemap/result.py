"""What a code-map run returns: the Markdown, the repository summary and every entry."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from longdoc.agents.gateway.ledger import Usage

__all__ = ["CodeMapResult", "Definition", "MapEntry", "SkippedFile"]


class Definition(BaseModel):
    """A definition of a code file, from the chunker.

    Attributes:
        symbol: its qualified name (``Store.get``).
        kind: ``function``, ``class``, ``method``...
        line_start: its first line (1-based).
        line_end: its last line (inclusive).
    """

    symbol: str
    kind: str
    line_start: int
    line_end: int


class MapEntry(BaseModel):
    """One file or folder of the map.

    Attributes:
        path: relative to the repository root, ``/``-separated; ``.`` for the root.
        kind: ``file`` or ``folder``.
        key: its content key (a file's text, model and prompts; a folder's children's keys).
        summary: its summary (the repository's for the root).
        reused: True when the summary came from the store, with no model call.
        method: how it was made: ``one call``, ``chain`` (a file larger than the window)
            or ``groups`` (a folder whose children's summaries exceed the window).
        calls: model calls made for it in this invocation (0 when reused).
        tokens: prompt + completion tokens of those calls.
        parts: the chain's parts, or the groups, it was made from (1 for one call).
        language: a code file's language.
        lines: a file's lines.
        definitions: a code file's definitions, in line order.
        children: a folder's entries (paths), files first.
    """

    path: str
    kind: Literal["file", "folder"]
    key: str
    summary: str
    reused: bool
    method: str
    calls: int = 0
    tokens: int = 0
    parts: int = 1
    language: str | None = None
    lines: int = 0
    definitions: list[Definition] = Field(default_factory=list)
    children: list[str] = Field(default_factory=list)


class SkippedFile(BaseModel):
    """A file left out of the map (binary, unreadable, empty, too large)."""

    path: str
    reason: str


class CodeMapResult(BaseModel):
    """What :class:`~longdoc.workflows.codemap.CodeMap` returns.

    Attributes:
        markdown: the map: the repository summary, then each folder's summary and its
            files' summaries, with links to the files and their definitions' lines.
        root: the folder mapped (absolute).
        summary: the repository summary.
        files: every file's entry, in path order.
        folders: every folder's entry, the root (``.``) first, in path order.
        files_summarized: files summarized in this invocation.
        files_reused: files whose stored summary was reused.
        folders_summarized: folders (the root included) summarized in this invocation.
        folders_reused: folders whose stored summary was reused.
        skipped: files left out, with why.
        run_id: the map's id: it names the store its summaries are kept in.
        out: the file the Markdown was written to, if any.
        usage: calls and tokens of this invocation, per stage.
    """

    markdown: str
    root: str
    summary: str
    files: list[MapEntry]
    folders: list[MapEntry]
    files_summarized: int
    files_reused: int
    folders_summarized: int
    folders_reused: int
    skipped: list[SkippedFile] = Field(default_factory=list)
    run_id: str
    out: str | None = None
    usage: Usage = Field(default_factory=Usage)

    @property
    def summarized(self) -> int:
        """Files and folders summarized in this invocation."""
        return self.files_summarized + self.folders_summarized

    @property
    def reused(self) -> int:
        """Files and folders whose stored summary was reused."""
        return self.files_reused + self.folders_reused
