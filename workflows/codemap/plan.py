"""What a code map is made of: the files found, their folders, definitions and content keys.

A file's key is the sha256 of its path, its text's hash, the model and the prompts'
version (and the summary caps); a folder's key is the hash of its children's keys, so
an unchanged subtree keeps its key and its summaries are reused, while a changed file
changes the keys of exactly the folders above it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from longdoc.errors import CodeMapError
from longdoc.retrieval.chunking import Chunker
from longdoc.retrieval.loading import load_file, scan
from longdoc.retrieval.models import LoadedDocument
from longdoc.workflows.codemap.result import Definition, SkippedFile

__all__ = [
    "ROOT",
    "MapPlan",
    "PlannedFile",
    "PlannedFolder",
    "content_key",
    "definitions",
    "plan_map",
]

ROOT = "."

# The chunker only gives the definitions' lines here, so a cheap counter does. A chunk
# size of 1 keeps it from merging small neighbours (one piece, one definition), and a
# low limit splits all but the smallest classes into their methods, which are listed too.
_DEFINITION_TOKENS = 64
_CLASSLIKE = {"class", "struct", "interface", "trait", "impl", "enum"}


def _rough_tokens(texts: list[str]) -> list[int]:
    return [len(t) // 4 for t in texts]


@dataclass
class PlannedFile:
    """One file to summarize."""

    path: str
    text: str
    kind: Literal["prose", "code"]
    language: str | None
    key: str
    lines: int
    definitions: list[Definition]


@dataclass
class PlannedFolder:
    """One folder to summarize from its children (files first, then subfolders)."""

    path: str
    files: list[str] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)
    key: str = ""

    @property
    def children(self) -> list[str]:
        """Its entries' paths."""
        return [*self.files, *self.folders]


@dataclass
class MapPlan:
    """The files and folders of one map.

    Attributes:
        root: the folder mapped (resolved).
        files: by path, in path order.
        folders: by path, the root first, then in path order.
        skipped: files left out.
    """

    root: Path
    files: dict[str, PlannedFile]
    folders: dict[str, PlannedFolder]
    skipped: list[SkippedFile]

    def bottom_up(self) -> list[PlannedFolder]:
        """The folders, deepest first (every folder after all its subfolders)."""
        return sorted(self.folders.values(), key=lambda f: (-_depth(f.path), f.path))


def _depth(path: str) -> int:
    return 0 if path == ROOT else len(PurePosixPath(path).parts)


def _parent(path: str) -> str:
    return PurePosixPath(path).parent.as_posix()  # "." for an entry of the root


def content_key(*parts: Any) -> str:
    """The sha256 of ``parts`` (JSON values), a stored summary's key."""
    payload = json.dumps(parts, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def definitions(doc: LoadedDocument) -> list[Definition]:
    """A code file's top-level definitions and methods with their lines, each once.

    From the chunker: a definition cut into several chunks is listed once over all its
    lines, and a class spans its members; functions nested in functions are left out.
    """
    if doc.kind != "code":
        return []
    chunker = Chunker(_rough_tokens, max_tokens=_DEFINITION_TOKENS, chunk_size=1)
    found: dict[str, Definition] = {}
    for chunk in chunker.chunk(doc):
        if chunk.line_start is None or chunk.line_end is None:
            continue
        for symbol in (chunk.symbol or "").split():  # merged neighbours: "a b"
            seen = found.get(symbol)
            found[symbol] = Definition(
                symbol=symbol,
                kind=seen.kind if seen is not None else chunk.symbol_kind or "definition",
                line_start=min(chunk.line_start, seen.line_start if seen else chunk.line_start),
                line_end=max(chunk.line_end, seen.line_end if seen else chunk.line_end),
            )
    for name, d in list(found.items()):  # a class spans its members' lines
        ends = [m.line_end for m in found.values() if m.symbol.startswith(f"{name}.")]
        found[name] = d.model_copy(update={"line_end": max([d.line_end, *ends])})
    listed = [d for d in found.values() if _listed(d, found)]
    return sorted(listed, key=lambda d: (d.line_start, d.symbol))


def _listed(d: Definition, found: Mapping[str, Definition]) -> bool:
    """Top-level definitions, and the members of classes, structs, impls..."""
    if "." not in d.symbol or d.kind == "method":
        return True
    parent = found.get(d.symbol.rsplit(".", 1)[0])
    return parent is not None and parent.kind in _CLASSLIKE


def _load(root: Path) -> tuple[list[LoadedDocument], list[SkippedFile]]:
    """Every readable file under ``root`` (as ``scan`` lists them), and those left out."""
    found = scan([root])
    skipped = [SkippedFile(path=_relative(root, i.path), reason=i.reason) for i in found.issues]
    docs: list[LoadedDocument] = []
    for _, file in found.files:
        rel = file.relative_to(root).as_posix()
        loaded = load_file(file, rel)
        if isinstance(loaded, LoadedDocument):
            docs.append(loaded)
        else:
            skipped.append(SkippedFile(path=rel, reason=loaded.reason))
    return docs, skipped


def _relative(root: Path, path: str) -> str:
    p = Path(path)
    return p.relative_to(root).as_posix() if p.is_relative_to(root) else path


def plan_map(
    path: Path | str, identity: Mapping[str, Any], root_identity: Mapping[str, Any] | None = None
) -> MapPlan:
    """Scan ``path`` and key every file and folder.

    Args:
        path: the repository folder.
        identity: what else decides a summary (model, prompts, cap); part of every key.
        root_identity: what decides the repository summary only (its cap).

    Raises:
        SourceNotFoundError: ``path`` does not exist.
        CodeMapError: ``path`` is not a folder, or holds no readable file.
    """
    given = Path(path).expanduser()
    if given.exists() and not given.is_dir():
        raise CodeMapError(given, "not a folder (summarize a single file with the chain)")
    root = given.resolve()
    docs, skipped = _load(root)  # scan raises SourceNotFoundError for a missing path
    if not docs:
        raise CodeMapError(root, "no readable file in it")
    files: dict[str, PlannedFile] = {}
    folders: dict[str, PlannedFolder] = {ROOT: PlannedFolder(ROOT)}
    for doc in docs:
        rel = doc.doc_id
        files[rel] = PlannedFile(
            path=rel, text=doc.text, kind=doc.kind, language=doc.language,
            key=content_key(dict(identity), "file", rel, doc.content_hash),
            lines=doc.text.count("\n") + (not doc.text.endswith("\n")),
            definitions=definitions(doc),
        )  # fmt: skip
        _attach(folders, rel, is_file=True)
    ordered = {ROOT: folders.pop(ROOT), **dict(sorted(folders.items()))}
    plan = MapPlan(root, files, ordered, skipped)
    for folder in plan.bottom_up():
        role = "repository" if folder.path == ROOT else "folder"
        own = dict(root_identity or {}) if folder.path == ROOT else {}
        children = [[c, _child_key(plan, c)] for c in folder.children]
        folder.key = content_key(dict(identity), own, role, folder.path, children)
    return plan


def _attach(folders: dict[str, PlannedFolder], path: str, *, is_file: bool) -> None:
    """Enter ``path`` in its parent folder, creating the folders above it as needed."""
    parent = _parent(path)
    new = parent not in folders
    folder = folders.setdefault(parent, PlannedFolder(parent))
    (folder.files if is_file else folder.folders).append(path)
    if new and parent != ROOT:
        _attach(folders, parent, is_file=False)


def _child_key(plan: MapPlan, path: str) -> str:
    return plan.files[path].key if path in plan.files else plan.folders[path].key
