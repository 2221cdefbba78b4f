"""The code map as Markdown: the repository summary, then each folder and its files.

Links point at the files (and their definitions' lines, GitHub's ``#L10-L20`` form)
relative to the folder the Markdown is written to, or to the repository root when
it is printed, so the map works in place, in a clone and on a forge.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from longdoc.workflows.codemap.result import MapEntry

__all__ = ["href", "render_markdown"]

_ROOT = "."


def href(root: Path, path: str, base: Path, *, folder: bool = False) -> str:
    """The link target of ``path`` (relative to ``root``) from the folder ``base``."""
    target = root if path == _ROOT else root / path
    relative = Path(os.path.relpath(target, base)).as_posix()
    return quote(relative) + ("/" if folder and relative != "." else "")


def _code(text: str) -> str:
    """``text`` as inline code, whatever backticks it holds."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _file_section(entry: MapEntry, root: Path, base: Path) -> list[str]:
    link = href(root, entry.path, base)
    lines = [f"### [{_code(entry.path)}]({link})", "", entry.summary or "(no summary)", ""]
    for d in entry.definitions:
        span = f"L{d.line_start}-L{d.line_end}"
        lines.append(f"- {_code(d.symbol)} ({d.kind}) [{span}]({link}#{span})")
    if entry.definitions:
        lines.append("")
    return lines


def render_markdown(
    *,
    root: Path,
    files: Mapping[str, MapEntry],
    folders: Mapping[str, MapEntry],
    base: Path,
) -> str:
    """The map of ``root``.

    Args:
        root: the repository folder.
        files: every file's entry, by path.
        folders: every folder's entry, by path, the root (``.``) first.
        base: the folder links are relative to (the output file's, or ``root``).
    """
    top = folders[_ROOT]
    lines = [f"# Code map of {_code(root.name)}", "", top.summary or "(no summary)", ""]
    counts = f"{len(files)} files in {len(folders)} folders"
    lines += [f"[{_code(root.name + '/')}]({href(root, _ROOT, base, folder=True)}): {counts}.", ""]
    for folder in folders.values():
        own = [files[c] for c in folder.children if c in files]
        if folder.path == _ROOT:
            if own:
                lines += ["## Files at the root", ""]
        else:
            link = href(root, folder.path, base, folder=True)
            lines += [f"## [{_code(folder.path + '/')}]({link})", "", folder.summary, ""]
        for entry in own:
            lines += _file_section(entry, root, base)
    return "\n".join(lines).rstrip() + "\n"
