"""Assembling a context that fits a token budget, by a fixed and documented rule.

Order in the context: the level-2 summary, the level-1 summary, the recalled
episodes (by salience, ties to the more recent), then the recent tail in
chronological order. When the whole is over budget, pieces go in this order:

1. recalled episodes, least similar to the query first;
2. tail episodes, oldest first (the newest item goes last of all the episodes);
3. the level-2 summary is cut at a word boundary (its beginning kept, ``[…]``
   marking the cut), then the level-1 summary the same way; a summary cut to
   nothing is left out.

The budget is checked on the rendered text with the caller's counter, so it
holds whatever the tokenizer does at the seams.
"""

from __future__ import annotations

from collections.abc import Sequence

from longdoc._delimiters import neutralise
from longdoc.errors import MemorySessionError
from longdoc.memory.types import ContextPiece, MemoryContext, TokenCounter
from longdoc.retrieval.splitting import longest_prefix

__all__ = ["CUT_MARK", "cap_tokens", "fit_context", "render"]

CUT_MARK = " […]"
_TAGS = ("memory", "memory_summary", "episode")


def _block(piece: ContextPiece) -> str:
    # Memory content is data: it must not close its own delimiter and speak as the user.
    body = neutralise(piece.text, _TAGS)
    if piece.kind in ("level2", "level1"):
        return f'<memory_summary level="{piece.kind[-1]}">\n{body}\n</memory_summary>'
    kind = "recalled" if piece.kind == "episode" else "recent"
    return f'<episode n="{piece.ordinal}" role="{piece.role}" kind="{kind}">\n{body}\n</episode>'


def render(pieces: Sequence[ContextPiece]) -> str:
    """The context text of ``pieces``, each inside its delimiter, blank lines between."""
    return "\n\n".join(_block(p) for p in pieces)


def _removal_order(pieces: Sequence[ContextPiece]) -> list[int]:
    recalled = [p for p in pieces if p.kind == "episode"]
    recalled.sort(key=lambda p: (p.similarity or 0.0, p.ordinal or 0))
    tail = sorted((p for p in pieces if p.kind == "tail"), key=lambda p: p.ordinal or 0)
    return [id(p) for p in [*recalled, *tail]]


def _truncate(
    pieces: list[ContextPiece], index: int, budget: int, count: TokenCounter
) -> list[ContextPiece]:
    """Cut ``pieces[index]`` to the longest word prefix that fits; drop it if none does."""
    piece = pieces[index]

    def with_prefix(head: str) -> list[ContextPiece]:
        cut = piece.model_copy(update={"text": head + CUT_MARK, "shortened": True})
        return [*pieces[:index], cut, *pieces[index + 1 :]]

    head = longest_prefix(piece.text, budget, lambda h: count(render(with_prefix(h))), sep=" ")
    return with_prefix(head) if head else [*pieces[:index], *pieces[index + 1 :]]


def fit_context(
    pieces: Sequence[ContextPiece], budget_tokens: int, count: TokenCounter
) -> MemoryContext:
    """Leave out and cut pieces by the module's rule until the rendered text fits.

    Args:
        pieces: the full context, in order.
        budget_tokens: the most tokens the text may have.
        count: the token counter.

    Returns:
        The fitted context.

    Raises:
        MemorySessionError: ``budget_tokens`` is negative, or even an empty context
            does not fit (a counter that counts tokens in ``""``).
    """
    if budget_tokens < 0:
        raise MemorySessionError(
            f"budget_tokens must be >= 0, not {budget_tokens}", parameter="budget_tokens"
        )
    kept = list(pieces)
    sizes = {id(p): count(_block(p)) for p in kept}
    dropped: list[int] = []
    for victim in _removal_order(kept):
        # Exact counts only once the cheap per-piece estimate says it may fit.
        if (
            sum(sizes[id(p)] for p in kept) <= budget_tokens
            and count(render(kept)) <= budget_tokens
        ):
            break
        gone = next(p for p in kept if id(p) == victim)
        kept.remove(gone)
        dropped.append(gone.ordinal or 0)
    for kind in ("level2", "level1"):
        if count(render(kept)) <= budget_tokens:
            break
        at = next((i for i, p in enumerate(kept) if p.kind == kind), None)
        if at is not None:
            kept = _truncate(kept, at, budget_tokens, count)
    text = render(kept)
    tokens = count(text)
    if tokens > budget_tokens:
        raise MemorySessionError(
            f"cannot fit any context in {budget_tokens} tokens (the empty context counts {tokens})",
            parameter="budget_tokens",
        )
    return MemoryContext(
        text=text, tokens=tokens, budget_tokens=budget_tokens, pieces=kept, dropped=dropped
    )


def cap_tokens(text: str, limit: int, count: TokenCounter) -> str:
    """``text`` cut at a word boundary to at most ``limit`` tokens (unchanged if it fits).

    Used on summarizer output, so a summarizer that overshoots its cap cannot
    grow the compact memory.
    """
    if count(text) <= limit:
        return text
    head = longest_prefix(text, limit, lambda h: count(h + CUT_MARK), sep=" ")
    return head + CUT_MARK if head else ""
