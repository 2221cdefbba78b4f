"""Loading files and folders into :class:`LoadedDocument` records.

A folder walk honours ``.gitignore`` (pathspec), skips VCS folders, virtualenvs,
``node_modules``, binary and oversized files, never follows a symlink out of the
root and cannot loop. One bad file becomes a :class:`LoadIssue`; it never stops
the walk.

Hand-written over pathspec, charset-normalizer and pypdf rather than llama-index's
``SimpleDirectoryReader``, which reads one fixed encoding dropping undecodable bytes
(``errors="ignore"``), knows no ``.gitignore`` and reads PDF only with another package.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from longdoc.errors import SourceNotFoundError
from longdoc.retrieval.languages import EXTENSIONS
from longdoc.retrieval.models import LoadedDocument, LoadIssue

__all__ = [
    "CODE_LANGUAGES",
    "ScanResult",
    "decode_bytes",
    "load_file",
    "scan",
    "strip_gutenberg",
]

# Languages split along definitions come from the grammar table; the others are
# still code (line windows, code metadata).
CODE_LANGUAGES: dict[str, str] = {
    **EXTENSIONS,
    ".kt": "kotlin",
    ".kts": "kotlin",
    ".scala": "scala",
    ".swift": "swift",
    ".sql": "sql",
    ".lua": "lua",
    ".r": "r",
    ".jl": "julia",
    ".toml": "toml",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".json": "json",
    ".cfg": "ini",
    ".ini": "ini",
}
_HTML = {".html", ".htm", ".xhtml"}
# Known binary formats are skipped without reading them; others are sniffed.
_BINARY_EXT = {
    ".png",
    ".jpg",
    ".jpeg",
    ".gif",
    ".bmp",
    ".ico",
    ".webp",
    ".zip",
    ".gz",
    ".tgz",
    ".bz2",
    ".xz",
    ".7z",
    ".tar",
    ".whl",
    ".so",
    ".dll",
    ".dylib",
    ".exe",
    ".bin",
    ".pyc",
    ".pyo",
    ".o",
    ".a",
    ".class",
    ".jar",
    ".sqlite",
    ".sqlite3",
    ".db",
    ".mp3",
    ".mp4",
    ".wav",
    ".ogg",
    ".mov",
    ".avi",
    ".woff",
    ".woff2",
    ".ttf",
    ".otf",
    ".npy",
    ".npz",
    ".pt",
    ".onnx",
    ".safetensors",
    ".parquet",
    ".pkl",
}
_SKIP_DIRS = {
    ".git",
    ".hg",
    ".svn",
    "node_modules",
    "__pycache__",
    ".venv",
    "venv",
    ".tox",
    ".nox",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".eggs",
    ".idea",
}
_SNIFF_BYTES = 8192


@dataclass
class ScanResult:
    """Files found under the given paths, and the ones skipped.

    Attributes:
        files: ``(root, file)`` pairs; ``root`` is the folder given (or the file itself).
        issues: skipped entries with reasons.
    """

    files: list[tuple[Path, Path]] = field(default_factory=list)
    issues: list[LoadIssue] = field(default_factory=list)


def scan(paths: list[Path | str], max_file_bytes: int = 20_000_000) -> ScanResult:
    """List the files to ingest under ``paths``.

    Args:
        paths: files and folders.
        max_file_bytes: larger files are skipped with an issue.

    Returns:
        The files, in a stable order, and the skipped entries.

    Raises:
        SourceNotFoundError: a path does not exist.
    """
    result = ScanResult()
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise SourceNotFoundError(path)
        root = path.resolve()
        if root.is_file():
            if root not in seen:
                seen.add(root)
                result.files.append((root, root))
            continue
        _walk(root, max_file_bytes, result, seen)
    return result


def _is_venv(folder: Path) -> bool:
    return (folder / "pyvenv.cfg").is_file()


def _gitignore(folder: Path) -> object | None:
    path = folder / ".gitignore"
    if not path.is_file():
        return None
    import pathspec

    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    return pathspec.GitIgnoreSpec.from_lines(lines)


def _walk(root: Path, max_bytes: int, result: ScanResult, seen: set[Path]) -> None:
    # An explicit stack with a set of visited real folders: a symlink loop is
    # visited once, and every entry is resolved and checked to stay in root.
    visited: set[Path] = set()
    stack: list[tuple[Path, list[tuple[Path, object]]]] = [(root, [])]
    while stack:
        folder, specs = stack.pop()
        real = folder.resolve()
        if real in visited:
            continue
        visited.add(real)
        spec = _gitignore(folder)
        specs = [*specs, (folder, spec)] if spec is not None else specs
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name, reverse=True)
        except OSError as e:
            result.issues.append(LoadIssue(path=str(folder), reason=f"cannot list: {e}"))
            continue
        for entry in entries:
            _visit(Path(entry.path), entry.is_dir(), root, specs, max_bytes, result, seen, stack)
    result.files.sort(key=lambda rf: str(rf[1]))


def _ignored(path: Path, is_dir: bool, specs: list[tuple[Path, object]]) -> bool:
    for base, spec in specs:
        rel = path.relative_to(base).as_posix() + ("/" if is_dir else "")
        if spec.match_file(rel):  # type: ignore[attr-defined]
            return True
    return False


def _visit(
    path: Path,
    is_dir: bool,
    root: Path,
    specs: list[tuple[Path, object]],
    max_bytes: int,
    result: ScanResult,
    seen: set[Path],
    stack: list[tuple[Path, list[tuple[Path, object]]]],
) -> None:
    if path.name in _SKIP_DIRS and is_dir:
        return
    if _ignored(path, is_dir, specs):
        return
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError) as e:  # a dangling link or a link loop
        result.issues.append(LoadIssue(path=str(path), reason=f"unreadable link: {e}"))
        return
    if real != root and root not in real.parents:
        result.issues.append(LoadIssue(path=str(path), reason="symlink leaves the root"))
        return
    if is_dir:
        if not _is_venv(path):
            stack.append((path, specs))
        return
    if path.suffix.lower() in _BINARY_EXT:
        result.issues.append(LoadIssue(path=str(path), reason="binary file"))
        return
    try:
        size = path.stat().st_size
    except OSError as e:
        result.issues.append(LoadIssue(path=str(path), reason=f"cannot stat: {e}"))
        return
    if size > max_bytes:
        result.issues.append(
            LoadIssue(path=str(path), reason=f"larger than {max_bytes} bytes ({size})")
        )
        return
    if real not in seen:
        seen.add(real)
        result.files.append((root, path))


def doc_id_for(root: Path, file: Path) -> str:
    """The document id of ``file`` found under ``root``: ``root-name/relative/path``."""
    if root == file:
        return file.name
    return f"{root.name}/{file.relative_to(root).as_posix()}"


# Windows-1252 is by far the commonest legacy encoding of English and Western
# European text; charset-normalizer often scores it level with cp1250 or a Mac
# code page, so it wins when its "chaos" score is close to the best one.
_PREFERRED = ("cp1252", "latin_1", "iso8859_15")


def _pick_encoding(matches: list[Any]) -> str:
    if not matches:
        return "utf-8"
    best_chaos = min(m.chaos for m in matches)
    close = {m.encoding for m in matches if m.chaos <= best_chaos + 0.05}
    return next((e for e in _PREFERRED if e in close), matches[0].encoding)


# Byte-order marks, longest first: UTF-32 LE's begins with UTF-16 LE's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Undecodable (U+FFFD) and control characters other than whitespace: text has next to
# none; random bytes decoded as any encoding are a large share of them.
_GARBAGE = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ufffd]")
_GARBAGE_SHARE = 0.2


def _bom_encoding(data: bytes) -> str | None:
    """The UTF-16/32 codec that ``data``'s byte-order mark names, or None."""
    return next((enc for bom, enc in _BOMS if data.startswith(bom)), None)


def garbage_share(text: str) -> float:
    """The share of ``text``'s characters that are undecodable or control characters."""
    return (len(text) - len(_GARBAGE.sub("", text))) / max(1, len(text))


def decode_bytes(data: bytes, name: str = "<bytes>") -> tuple[str, list[str]]:
    r"""Decode ``data``: by its UTF-16/32 byte-order mark, else UTF-8, else a detected encoding.

    Bad bytes are replaced (and counted in a warning).

    Args:
        data: the raw bytes.
        name: used in warnings.

    Returns:
        The text (``\\r\\n`` turned into ``\\n``, BOM removed) and warnings.
    """
    warnings: list[str] = []
    bom = _bom_encoding(data)
    try:
        text = data.decode(bom or "utf-8-sig")  # each codec drops the mark it names
    except UnicodeDecodeError:
        from charset_normalizer import from_bytes

        encoding = bom or _pick_encoding(list(from_bytes(data)))
        text = data.decode(encoding, errors="replace")
        bad = text.count("\ufffd")
        warnings.append(
            f"{name}: {'not UTF-8; ' if bom is None else ''}decoded as {encoding}"
            + (f" with {bad} undecodable byte(s) replaced" if bad else "")
        )
    return text.replace("\r\n", "\n").replace("\r", "\n"), warnings


_GB_START = re.compile(r"^\*\*\* ?START OF (?:THE|THIS) PROJECT GUTENBERG EBOOK.*$", re.M | re.I)
_GB_END = re.compile(r"^\*\*\* ?END OF (?:THE|THIS) PROJECT GUTENBERG EBOOK.*$", re.M | re.I)
_GB_TITLE = re.compile(r"^Title:[ \t]*(.+)$", re.M)


def strip_gutenberg(text: str) -> str:
    r"""Cut a Project Gutenberg header and licence, keeping the title.

    Args:
        text: the whole file.

    Returns:
        ``"<title>\\n\\n<body>"`` between the ``*** START`` and ``*** END`` markers, or
        ``text`` unchanged when it has no START marker.
    """
    start = _GB_START.search(text)
    if start is None:
        return text
    end = _GB_END.search(text, start.end())
    body = text[start.end() : end.start() if end else len(text)].strip("\n")
    title = _GB_TITLE.search(text, 0, start.start())
    return f"{title.group(1).strip()}\n\n{body}\n" if title else body + "\n"


def _html_to_text(html: str) -> str:
    # The stdlib parser is enough for "text only" and saves a bs4/lxml dependency.
    from html.parser import HTMLParser

    class _Text(HTMLParser):
        skip: ClassVar[set[str]] = {"script", "style", "head", "noscript", "template"}
        block: ClassVar[set[str]] = {
            "p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section",
            "article", "pre", "blockquote", "table", "ul", "ol",
        }  # fmt: skip

        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.parts: list[str] = []
            self.depth = 0

        def handle_starttag(self, tag: str, attrs: object) -> None:
            self.depth += tag in self.skip
            if tag in self.block:
                self.parts.append("\n")

        def handle_endtag(self, tag: str) -> None:
            self.depth -= tag in self.skip and self.depth > 0
            if tag in self.block:
                self.parts.append("\n")

        def handle_data(self, data: str) -> None:
            if not self.depth:
                self.parts.append(data)

    parser = _Text()
    parser.feed(html)
    text = "".join(parser.parts)
    text = re.sub(r"[ \t]+", " ", text)
    return re.sub(r"\n\s*\n+", "\n\n", text).strip() + "\n"


def _pdf_to_text(path: Path) -> str:
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    if reader.is_encrypted:
        raise ValueError("encrypted PDF")
    pages = [(page.extract_text() or "").strip() for page in reader.pages]
    return "\n\n".join(p for p in pages if p) + "\n"


def load_file(path: Path | str, doc_id: str | None = None) -> LoadedDocument | LoadIssue:
    """Load one file as text.

    Args:
        path: the file.
        doc_id: its id; default the file name.

    Returns:
        The document, or an issue when the file cannot be read or is binary.

    Raises:
        SourceNotFoundError: ``path`` does not exist.
    """
    path = Path(path)
    if not path.exists():
        raise SourceNotFoundError(path)
    suffix = path.suffix.lower()
    warnings: list[str] = []
    try:
        if suffix == ".pdf":
            text = _pdf_to_text(path)
        else:
            data = path.read_bytes()
            if b"\x00" in data[:_SNIFF_BYTES] and _bom_encoding(data) is None:
                return LoadIssue(path=str(path), reason="binary file")
            text, warnings = decode_bytes(data, str(path))
            if (share := garbage_share(text)) > _GARBAGE_SHARE:
                reason = f"binary file ({share:.0%} undecodable or control characters)"
                return LoadIssue(path=str(path), reason=reason)
            text = _html_to_text(text) if suffix in _HTML else strip_gutenberg(text)
    except Exception as e:  # one bad file is reported, never fatal for a folder
        return LoadIssue(path=str(path), reason=f"cannot read: {type(e).__name__}: {e}")
    if not text.strip():
        return LoadIssue(path=str(path), reason="no text")
    language = CODE_LANGUAGES.get(suffix)
    return LoadedDocument(
        doc_id=doc_id or path.name,
        source=str(path.resolve()),
        text=text,
        kind="code" if language else "prose",
        language=language,
        content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        warnings=warnings,
    )


def iter_documents(result: ScanResult) -> Iterator[LoadedDocument | LoadIssue]:
    """Load each scanned file in turn (see :func:`load_file`)."""
    for root, file in result.files:
        yield load_file(file, doc_id_for(root, file))
