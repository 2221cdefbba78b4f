"""Fit then cut: split text along sentences, count every part exactly, cut again what is over.

The chunker (spans within the embedder's limit) and the workflows' document
budget (parts within one model call) both split this way. Sentence-aware
splitting comes from llama-index-core's ``SentenceSplitter``; it sums the token
counts of its splits, which can differ from the count of the joined text, so it
cannot promise a limit by itself: :func:`fit_then_cut` recounts every part with
the exact counter and cuts again whatever is over, so no part can overflow.

:func:`longest_prefix` is the one binary search for "the longest prefix of a
text within a token count".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from longdoc.errors import BudgetError

__all__ = [
    "calibrate",
    "fit_then_cut",
    "longest_prefix",
    "rough_tokens",
    "sentence_split",
    "split_to_budget",
]

P = TypeVar("P")

_APPROX = re.compile(r"\w+|[^\w\s]")
_SAMPLE_CHARS = 20_000
_LLAMA_PARAGRAPH_SEP = "\n\n\n"  # SentenceSplitter's own default


def fit_then_cut(
    parts: Sequence[P],
    *,
    limit: int,
    count: Callable[[list[P]], list[int]],
    cut: Callable[[P, int], list[P]],
) -> list[P]:
    """``parts`` in order, each one over ``limit`` replaced by its cut pieces, fitted again.

    Args:
        parts: the parts (strings, spans...) in reading order.
        limit: the most tokens a part may have.
        count: exact token counts of a batch of parts.
        cut: smaller pieces of a part that has the given count (over ``limit``); they
            must come closer to fitting on every round, or the recursion never ends.

    Returns:
        Parts of at most ``limit`` tokens each, in order.
    """
    parts = list(parts)
    out: list[P] = []
    for part, n in zip(parts, count(parts), strict=True):
        if n <= limit:
            out.append(part)
        else:
            out.extend(fit_then_cut(cut(part, n), limit=limit, count=count, cut=cut))
    return out


def sentence_split(
    text: str,
    chunk_size: int,
    tokenizer: Callable[[str], Sequence[object]],
    *,
    chunk_overlap: int = 0,
    paragraph_separator: str = _LLAMA_PARAGRAPH_SEP,
    counts: Callable[[list[str]], list[int]] | None = None,
    spans: Callable[[list[tuple[int, int]]], list[int]] | None = None,
) -> list[str]:
    """``text`` split along paragraphs and sentences by llama-index's ``SentenceSplitter``.

    Args:
        text: the text.
        chunk_size: target size of a part, in ``tokenizer``'s tokens.
        tokenizer: the tokens of a text (only their number is used).
        chunk_overlap: tokens shared by adjacent parts.
        paragraph_separator: what separates paragraphs.
        counts: token counts of a batch of texts, the same numbers as ``tokenizer``
            gives: then the splits of each text are counted in one call.
        spans: token counts of a batch of ``(start, end)`` spans of ``text`` (from one
            tokenization of it): then splits are counted by where they lie, and only
            a split not found verbatim is counted by ``counts``. Needs ``counts``.

    Returns:
        Parts, stripped, in order (verbatim slices of ``text`` in practice).
    """
    from llama_index.core.node_parser import SentenceSplitter

    kwargs = {
        "chunk_size": chunk_size,
        "chunk_overlap": chunk_overlap,
        "tokenizer": tokenizer,
        "paragraph_separator": paragraph_separator,
    }
    if counts is None:
        return list(SentenceSplitter(**kwargs).split_text(text))  # type: ignore[arg-type]
    splitter = _batched_splitter()(**kwargs)
    splitter._longdoc_counts = counts
    splitter._longdoc_spans = spans
    splitter._longdoc_text = text
    return list(splitter.split_text(text))


def _batched_splitter() -> type[Any]:
    """``SentenceSplitter`` counting all the splits of a text in one batch, not one by one.

    Its ``_split`` recursion, rewritten only to batch the counts (one call per text it
    splits instead of one per split, and no recount of a split it recurses into): the
    splits, their counts and so the merged parts are the same
    (``tests/test_retrieval_splitting.py`` compares with the stock splitter).
    """
    global _BATCHED
    if _BATCHED is None:
        from llama_index.core.node_parser import SentenceSplitter
        from llama_index.core.node_parser.text.sentence import _Split

        class _Batched(SentenceSplitter):
            _longdoc_counts: Callable[[list[str]], list[int]]
            _longdoc_spans: Callable[[list[tuple[int, int]]], list[int]] | None
            _longdoc_text: str

            def _split(self, text: str, chunk_size: int) -> list[_Split]:
                if self._longdoc_spans is not None and text is self._longdoc_text:
                    n = self._longdoc_spans([(0, len(text))])[0]
                else:
                    self._longdoc_spans = None  # not the text the spans count
                    n = self._longdoc_counts([text])[0]
                return self._split_counted(text, n, chunk_size, 0)

            def _split_counted(self, text: str, n: int, chunk_size: int, at: int) -> list[_Split]:
                if n <= chunk_size:
                    return [_Split(text, is_sentence=True, token_size=n)]
                splits, is_sentence = self._get_splits_by_fns(text)
                starts, sizes = _split_counts(
                    text, splits, at, self._longdoc_spans, self._longdoc_counts
                )
                out: list[_Split] = []
                for part, start, size in zip(splits, starts, sizes, strict=True):
                    if size <= chunk_size or len(splits) == 1:  # 1: indivisible, kept
                        out.append(_Split(part, is_sentence=is_sentence, token_size=size))
                    else:
                        out.extend(self._split_counted(part, size, chunk_size, start))
                return out

        _BATCHED = _Batched
    return _BATCHED


_BATCHED: type[Any] | None = None


def _split_counts(
    text: str,
    splits: list[str],
    at: int,
    spans: Callable[[list[tuple[int, int]]], list[int]] | None,
    counts: Callable[[list[str]], list[int]],
) -> tuple[list[int], list[int]]:
    """Each split's offset in the whole text (-1: not found) and its token count.

    ``text`` lies at ``at`` in the whole text (-1: unknown); with ``spans`` a split found
    there is counted by its place, any other by ``counts``.
    """
    if spans is None:
        return [-1] * len(splits), counts(splits)
    starts, cursor = [], 0
    for part in splits:  # the splits are consecutive slices (a few drop a mark)
        i = text.find(part, cursor)
        starts.append(at + i if i >= 0 and at >= 0 else -1)
        cursor = i + len(part) if i >= 0 else cursor
    found = [i for i, s in enumerate(starts) if s >= 0]
    lost = [i for i, s in enumerate(starts) if s < 0]
    sizes = [0] * len(splits)
    for i, size in zip(
        found, spans([(starts[i], starts[i] + len(splits[i])) for i in found]), strict=True
    ):
        sizes[i] = size
    for i, size in zip(lost, counts([splits[i] for i in lost]), strict=True):
        sizes[i] = size
    return starts, sizes


def rough_tokens(text: str) -> list[str]:
    """Words and punctuation marks: a fast stand-in for a model's tokens."""
    return _APPROX.findall(text)


def calibrate(text: str, count: Callable[[str], int]) -> float:
    """Model tokens per approximate token (see :func:`rough_tokens`), on a sample of ``text``."""
    sample = text[:_SAMPLE_CHARS]
    approx = len(rough_tokens(sample))
    if approx == 0:
        return 1.0
    return max(0.2, count(sample) / approx)


def _sentences(text: str, approx_size: int) -> list[str]:
    parts = sentence_split(
        text,
        max(8, approx_size),
        rough_tokens,
        chunk_overlap=0,  # chain-of-agents reads each part once; overlap only costs tokens
        paragraph_separator="\n\n",
    )
    return [part for part in parts if part.strip()]


def split_to_budget(
    text: str, budget: int, count: Callable[[str], int], *, min_budget: int = 32
) -> list[str]:
    """Parts of ``text`` in reading order, each at most ``budget`` tokens by ``count``.

    Sentences are split with the fast approximate tokenizer, calibrated against
    ``count`` on a sample of the text; every part is then counted exactly.

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
    # Aim a little below the budget so few parts need a second split.
    target = int(budget / calibrate(text, count) * 0.95)
    return fit_then_cut(
        _sentences(text, target),
        limit=budget,
        count=lambda parts: [count(p) for p in parts],
        cut=lambda part, tokens: _cut_text(part, budget / tokens * 0.9),
    )


def _cut_text(part: str, shrink: float) -> list[str]:
    """``part`` split again with a target ``shrink`` times its size; halved without a boundary."""
    pieces = _sentences(part, max(1, int(len(rough_tokens(part)) * shrink)))
    if len(pieces) <= 1:  # no sentence boundary to cut at: cut by characters
        half = len(part) // 2
        pieces = [part[:half], part[half:]]
    return pieces


def longest_prefix(
    text: str, limit: int, count: Callable[[str], int], *, sep: str | None = None
) -> str:
    """The longest prefix of ``text`` that ``count`` puts at ``limit`` tokens or fewer.

    A binary search: ``count`` is assumed not to shrink as the prefix grows.

    Args:
        text: the text to cut.
        limit: the most tokens the prefix may have.
        count: the token counter (it may count the prefix inside a larger text).
        sep: cut only between units separated by ``sep`` (``" "``: whole words; the
            separator at the cut is dropped); default: at any character.

    Returns:
        The prefix; ``""`` when not even the first unit fits.
    """
    words = text.split(sep) if sep is not None else []
    glue = sep or ""

    def prefix(m: int) -> str:
        return text[:m] if sep is None else glue.join(words[:m])

    # Invariant: prefix(lo) fits (0 units = nothing kept); no prefix longer than hi does.
    lo, hi = 0, len(text) if sep is None else len(words)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count(prefix(mid)) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return prefix(lo)
