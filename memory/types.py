"""Data types, errors and the duck-typed protocols memory takes from its callers.

memory/ sits beside the agents and below the workflows, so the model-backed parts
(the summarizer and the SCM controller) come in as objects that merely have the
right methods. The protocols are structural: :mod:`longdoc.agents.memory` provides
gateway-backed ones that never import memory, and return their own plain data
(anything with a decision's ``action`` and ``line``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, Protocol

from pydantic import BaseModel, Field

from longdoc.errors import MemorySessionError

__all__ = [
    "Action",
    "ContextPiece",
    "Controller",
    "Decision",
    "DecisionLike",
    "Episode",
    "MemoryContext",
    "MemorySessionError",
    "MemorySummary",
    "RecalledEpisode",
    "Summarizer",
    "TokenCounter",
]

TokenCounter = Callable[[str], int]
Action = Literal["raw", "summary", "drop"]


class Episode(BaseModel):
    """One item stored verbatim: a dialogue turn or a document chunk.

    Attributes:
        session_id: the session it belongs to.
        ordinal: its position in the session, from 0.
        role: who said it (``user``, ``assistant``, ``turn``) or ``document``.
        text: the verbatim text.
        timestamp: Unix time when it was added.
        source: where it came from (a document name and chunk), or ``""``.
        last_retrieved: ordinal count at its last retrieval, or None if never retrieved.
    """

    session_id: str
    ordinal: int
    role: str
    text: str
    timestamp: float
    source: str = ""
    last_retrieved: int | None = None


class RecalledEpisode(BaseModel):
    """An episode found for a query.

    Attributes:
        episode: the episode.
        similarity: cosine similarity to the query (higher is closer).
        salience: its salience weight when it was recalled.
    """

    episode: Episode
    similarity: float
    salience: float


class MemorySummary(BaseModel):
    """The compact memory of a session.

    Attributes:
        session_id: the session.
        items: items added so far.
        level1: the running summary of the items since the last fold.
        level2: the summary-of-summaries of every block folded so far.
        folds: how many level-2 summaries have been written.
        level2_history: every level-2 summary written, oldest first, as
            ``(items covered, text)``.
    """

    session_id: str
    items: int
    level1: str = ""
    level2: str = ""
    folds: int = 0
    level2_history: list[tuple[int, str]] = Field(default_factory=list)


class ContextPiece(BaseModel):
    """One section of an assembled context.

    Attributes:
        kind: ``level2``, ``level1``, ``episode`` (recalled) or ``tail`` (recent).
        text: the text as placed in the context.
        ordinal: the episode's ordinal (episodes and tail only).
        role: the episode's role (episodes and tail only).
        similarity: similarity to the query (recalled episodes only).
        shortened: True when truncated or replaced by a one-line summary.
    """

    kind: Literal["level2", "level1", "episode", "tail"]
    text: str
    ordinal: int | None = None
    role: str = ""
    similarity: float | None = None
    shortened: bool = False


class MemoryContext(BaseModel):
    """What :meth:`HierarchicalMemory.build_context` returns.

    Attributes:
        text: the rendered context, at most ``budget_tokens`` tokens.
        tokens: tokens of ``text`` by the memory's counter.
        budget_tokens: the budget asked for.
        pieces: the sections in ``text``, in order.
        dropped: ordinals of recalled or tail episodes left out to fit the budget.
    """

    text: str
    tokens: int
    budget_tokens: int
    pieces: list[ContextPiece]
    dropped: list[int] = Field(default_factory=list)


class Summarizer(Protocol):
    """Writes the compact memory (see :class:`longdoc.agents.memory.GatewaySummarizer`)."""

    async def update(self, summary: str, new_items: Sequence[Episode], max_tokens: int) -> str:
        """Rewrite the running summary to include ``new_items``, in at most ``max_tokens``."""
        ...

    async def fold(self, summaries: Sequence[str], max_tokens: int) -> str:
        """Merge summaries (the previous level-2, then the block's level-1) into one."""
        ...


class DecisionLike(Protocol):
    """What memory reads of a controller's choice for one recalled episode."""

    @property
    def action(self) -> Action:
        """``raw`` (keep verbatim), ``summary`` (use ``line``) or ``drop``."""
        ...

    @property
    def line(self) -> str:
        """The one-line summary used with ``summary``."""
        ...


class Decision(BaseModel):
    """The controller's choice for one recalled episode (a :class:`DecisionLike`).

    Attributes:
        action: ``raw`` (keep verbatim), ``summary`` (use ``line``) or ``drop``.
        line: the one-line summary used with ``summary``.
    """

    action: Action
    line: str = ""


class Controller(Protocol):
    """The SCM memory controller: consulted only when a context is over budget."""

    async def decide(
        self, query: str, episodes: Sequence[RecalledEpisode], spare_tokens: int
    ) -> Sequence[DecisionLike]:
        """One decision per episode, in order, aiming to fit ``spare_tokens``."""
        ...
