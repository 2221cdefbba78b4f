"""Code-map roles: the summary of one file, of one folder, and of the whole repository.

A file's text goes inside ``<file>``; a folder's children (files, subfolders, or the
partial summaries of a folder too big for one call) go inside ``<summary>`` blocks.
Both are data: the system prompts say so and :func:`delimit` breaks their closing
tags in every text (paths included) placed inside them.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from longdoc.agents.delimiters import data_rule, delimit
from longdoc.agents.gateway import Gateway
from longdoc.agents.gateway.types import Messages

__all__ = [
    "PROMPT_VERSION",
    "ChildSummary",
    "child_block",
    "file_messages",
    "folder_messages",
    "repository_messages",
    "summarize_file",
    "summarize_folder",
]

# Part of every stored summary's key: changing a prompt below must bump it, so that a
# code map made with the old prompts is summarized again rather than reused.
PROMPT_VERSION = "codemap-1"

# Every tag the code map's user messages use; each is broken in every text put inside.
_TAGS = ("file", "summary")

_FILE_SYSTEM = (
    "You write one entry of a code map: a short summary of one file of a repository, for a "
    "developer who has never seen it. " + data_rule("file")
)
_FILE_GOAL = (
    "Summarize this file in two to five sentences: what it is for, its main definitions "
    "(name the classes, functions or sections) and how the rest of the repository uses it. "
    "Reply with the summary only."
)
_FOLDER_SYSTEM = (
    "You write one entry of a code map: the summary of one folder (a package or module "
    "group) of a repository, from the summaries of what it holds. " + data_rule("summary")
)
_FOLDER_GOAL = (
    "Summarize this folder in two to five sentences: what it is responsible for, its most "
    "important files or subfolders (name them) and how they fit together. Reply with the "
    "summary only."
)
_REPOSITORY_SYSTEM = (
    "You write the opening of a code map: the summary of a whole repository, from the "
    "summaries of its top-level files and folders. " + data_rule("summary")
)
_REPOSITORY_GOAL = (
    "Describe the repository for a developer who has never seen it: what it does, its main "
    "parts (name the folders and files) and how they fit together, and where to start "
    "reading. Reply with the description only."
)

ChildKind = Literal["file", "folder", "part"]


@dataclass(frozen=True)
class ChildSummary:
    """One entry a folder summary is made from.

    Attributes:
        kind: ``file``, ``folder``, or ``part`` (the summary of some of a folder's entries).
        path: its path relative to the repository root (a label for a part).
        summary: its summary.
    """

    kind: ChildKind
    path: str
    summary: str


def _attribute(value: str) -> str:
    """A value for a tag attribute: with ``<``, ``>`` and quotes escaped it can end no tag."""
    return html.escape(value, quote=True)


def file_messages(path: str, text: str, language: str | None) -> Messages:
    """The prompt summarizing one file whole."""
    lang = f' language="{_attribute(language)}"' if language else ""
    user = (
        f'<file path="{_attribute(path)}"{lang}>\n{delimit(text, *_TAGS)}\n</file>\n\n{_FILE_GOAL}'
    )
    return [{"role": "system", "content": _FILE_SYSTEM}, {"role": "user", "content": user}]


def child_block(child: ChildSummary) -> str:
    """One child's summary inside its ``<summary>`` tags."""
    return (
        f'<summary kind="{child.kind}" path="{_attribute(child.path)}">\n'
        f"{delimit(child.summary, *_TAGS)}\n</summary>"
    )


def _part_note(part: tuple[int, int] | None) -> str:
    if part is None:
        return ""
    return (
        f"These are only some of its entries (group {part[0]} of {part[1]}); another call "
        "combines the groups. "
    )


def folder_messages(
    path: str, children: Sequence[ChildSummary], *, part: tuple[int, int] | None = None
) -> Messages:
    """The prompt summarizing one folder from its children's summaries.

    Args:
        path: the folder, relative to the repository root.
        children: the summaries of its files and subfolders (or of groups of them).
        part: ``(i, n)`` when the children are group ``i`` of ``n`` of a folder too big
            for one call.
    """
    blocks = "\n\n".join(child_block(c) for c in children)
    user = f'The folder "{_attribute(path)}" holds:\n\n{blocks}\n\n{_part_note(part)}{_FOLDER_GOAL}'
    return [{"role": "system", "content": _FOLDER_SYSTEM}, {"role": "user", "content": user}]


def repository_messages(name: str, children: Sequence[ChildSummary]) -> Messages:
    """The prompt summarizing the repository from its top-level entries' summaries."""
    blocks = "\n\n".join(child_block(c) for c in children)
    user = f'The repository "{_attribute(name)}" holds:\n\n{blocks}\n\n{_REPOSITORY_GOAL}'
    return [{"role": "system", "content": _REPOSITORY_SYSTEM}, {"role": "user", "content": user}]


async def summarize_file(
    gateway: Gateway,
    messages: Messages,
    *,
    summary_tokens: int,
    prompt_tokens_at_most: int | None = None,
) -> str:
    """One call summarizing a file whole (``messages`` from :func:`file_messages`).

    Args:
        gateway: the model gateway.
        messages: the prompt, already counted by the caller.
        summary_tokens: cap on the summary.
        prompt_tokens_at_most: the prompt's counted tokens (the gateway need not count again).
    """
    reply = await gateway.acomplete(
        messages, stage="file", max_tokens=summary_tokens,
        prompt_tokens_at_most=prompt_tokens_at_most,
    )  # fmt: skip
    return reply.text.strip()


async def summarize_folder(
    gateway: Gateway, messages: Messages, *, summary_tokens: int, stage: str = "folder"
) -> str:
    """One call summarizing a folder, a group of its entries or the repository.

    Args:
        gateway: the model gateway.
        messages: from :func:`folder_messages` or :func:`repository_messages`.
        summary_tokens: cap on the summary.
        stage: the ledger label (``folder`` or ``repository``).
    """
    reply = await gateway.acomplete(messages, stage=stage, max_tokens=summary_tokens)
    return reply.text.strip()
