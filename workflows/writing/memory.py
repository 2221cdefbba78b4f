"""What the writer remembers of earlier sections.

A protocol, with a running summary by default, or a session of the hierarchical memory.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Protocol

from longdoc.agents.gateway import Gateway
from longdoc.agents.writing import update_summary

if TYPE_CHECKING:
    from longdoc.memory.hierarchical import HierarchicalMemory

__all__ = ["RunningSummary", "SectionMemory", "WritingMemory"]


class WritingMemory(Protocol):
    """What the writer remembers of the text written so far.

    The default is :class:`RunningSummary`; the hierarchical memory (issue 7) can
    take its place. An optional ``restore(summary: str)`` method is called on resume
    with the summary saved after the last finished leaf.
    """

    def summary(self) -> str:
        """A compact account of everything written so far (bounded in size)."""
        ...

    async def update(self, section_title: str, text: str) -> None:
        """Take in a newly written section."""
        ...


class RunningSummary:
    """The writer's own memory: one summary rewritten after each section, capped in tokens.

    Args:
        gateway: the model gateway.
        tokens: the cap on the summary.
    """

    def __init__(self, gateway: Gateway, tokens: int) -> None:
        self.gateway = gateway
        self.tokens = tokens
        self.text = ""

    def summary(self) -> str:
        """The current summary."""
        return self.text

    async def update(self, section_title: str, text: str) -> None:
        """Rewrite the summary to cover a new section (one model call)."""
        self.text = await update_summary(
            self.gateway, self.text, section_title, text, tokens=self.tokens
        )

    def restore(self, summary: str) -> None:
        """Start from a saved summary (on resume)."""
        self.text = summary


class SectionMemory:
    """The hierarchical memory as the writer's memory: every section becomes an episode.

    The writer sees the session's level-2 and level-1 summaries (at most
    ``memory_fold_tokens + memory_summary_tokens``); the sections stay recallable
    verbatim, so an app can later chat about the document it wrote. Sections carry
    an idempotency key (a hash of title and text): a resumed run that rewrites a
    section from the response cache does not remember it twice.

    Args:
        memory: an open session, e.g. ``open_memory("report-1", gateway)``.
    """

    def __init__(self, memory: HierarchicalMemory) -> None:
        self.memory = memory

    def summary(self) -> str:
        """Level 2 (everything folded so far), then level 1 (the latest sections)."""
        row = self.memory.state.session(self.memory.session_id)
        return "\n\n".join(p for p in (row["level2"], row["level1"]) if p)

    async def update(self, section_title: str, text: str) -> None:
        """Remember a finished section verbatim; the memory updates its summaries."""
        digest = hashlib.sha256(f"{section_title}\0{text}".encode()).hexdigest()[:24]
        await self.memory.aadd(
            f"{section_title}\n\n{text}", role="section", source=section_title, key=digest
        )
