"""Split a document into reading-order parts that fit an exact token budget.

Sentence-aware splitting comes from llama-index-core's ``SentenceSplitter``,
driven by a fast approximate tokenizer calibrated against the model's own
counter on a sample of the text; every part is then counted exactly and any
part over budget is split again, so no part can overflow whatever the
approximation's error.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from longdoc.errors import BudgetError

__all__ = ["BudgetError", "seam_margin", "split_to_budget"]

_APPROX = re.compile(r"\w+|[^\w\s]")
_SAMPLE_CHARS = 20_000


def seam_margin(window: int) -> int:
    """Tokens kept free in every budgeted prompt.

    They absorb tokenization at the seams of joined texts and prompt details
    (part indices) that vary between calls.
    """
    return 16 + window // 100


def _approx_tokens(text: str) -> list[str]:
    return _APPROX.findall(text)


def _calibrate(text: str, count: Callable[[str], int]) -> float:
    """Model tokens per approximate token, measured on a sample of the text."""
    sample = text[:_SAMPLE_CHARS]
    approx = len(_approx_tokens(sample))
    if approx == 0:
        return 1.0
    return max(0.2, count(sample) / approx)


def _split(text: str, approx_size: int) -> list[str]:
    from llama_index.core.node_parser import SentenceSplitter

    splitter = SentenceSplitter(
        chunk_size=max(8, approx_size),
        chunk_overlap=0,  # chain-of-agents reads each part once; overlap only costs tokens
        tokenizer=_approx_tokens,
        paragraph_separator="\n\n",
    )
    return [part for part in splitter.split_text(text) if part.strip()]


def split_to_budget(
    text: str, budget: int, count: Callable[[str], int], *, min_budget: int = 32
) -> list[str]:
    """Parts of ``text`` in reading order, each at most ``budget`` tokens by ``count``.

    Args:
        text: the whole document.
        budget: most tokens per part, counted by ``count``.
        count: the model's token counter.
        min_budget: smallest budget accepted.

    Returns:
        Non-empty parts in order.

    Raises:
        BudgetError: when ``budget`` is below ``min_budget``.
    """
    if budget < min_budget:
        raise BudgetError(budget, min_budget, "the document budget per call is too small")
    if not text.strip():
        return []
    ratio = _calibrate(text, count)
    # Aim a little below the budget so few parts need a second split.
    target = int(budget / ratio * 0.95)
    parts: list[str] = []
    for part in _split(text, target):
        parts.extend(_fit(part, budget, count, ratio))
    return parts


def _fit(part: str, budget: int, count: Callable[[str], int], ratio: float) -> list[str]:
    """``part`` itself when it fits, else its pieces split again with a smaller target."""
    tokens = count(part)
    if tokens <= budget:
        return [part]
    shrink = budget / tokens * 0.9
    pieces = _split(part, max(1, int(len(_approx_tokens(part)) * shrink)))
    if len(pieces) <= 1:  # no sentence boundary to cut at: cut by characters
        half = len(part) // 2
        pieces = [part[:half], part[half:]]
    out: list[str] = []
    for piece in pieces:
        out.extend(_fit(piece, budget, count, ratio))
    return out
