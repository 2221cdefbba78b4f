"""Fit then cut: split text along sentences, count every part exactly, cut again what is over.

The chunker (spans within the embedder's limit) and the workflows' document
budget (parts within one model call) both split this way. Sentence-aware
splitting is llama-index-core's ``SentenceSplitter`` algorithm (:func:`sentence_split`
gives its parts); it sums the token counts of its splits, which can differ from the
count of the joined text, so it cannot promise a limit by itself: :func:`fit_then_cut`
recounts every part with the exact counter and cuts again whatever is over, so no
part can overflow.

:func:`longest_prefix` is the one binary search for "the longest prefix of a
text within a token count".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

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
    """``text`` split along paragraphs and sentences as llama-index's ``SentenceSplitter``.

    The same parts as ``SentenceSplitter(chunk_size=..., chunk_overlap=...,
    tokenizer=..., paragraph_separator=...).split_text(text)``
    (``tests/test_retrieval_splitting.py`` compares them). Hand-written: importing
    llama-index costs a chunking process over a second, and its splitter counts each
    split on its own where one batch per text does.

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

    Raises:
        ValueError: one indivisible piece (a character) is over ``chunk_size``, as
            llama-index raises it.
    """
    if text == "":
        return [text]
    if counts is None:
        spans = None
        counts = lambda texts: [len(tokenizer(t)) for t in texts]  # noqa: E731
    n = spans([(0, len(text))])[0] if spans is not None else counts([text])[0]
    splitter = _Splitter(paragraph_separator, counts, spans)
    return _merge(
        splitter.split(text, n, chunk_size, 0 if spans is not None else -1),
        chunk_size,
        chunk_overlap,
    )


# llama-index's backup split of an over-long sentence: clauses, then words, then characters.
_CLAUSES = re.compile("[^,.;。？！]+[,.;。？！]?|[,.;。？！]")


@dataclass
class _Split:
    text: str
    token_size: int


class _Splitter:
    """``SentenceSplitter._split``: cut a text until every split fits, counting in batches."""

    def __init__(
        self,
        paragraph_separator: str,
        counts: Callable[[list[str]], list[int]],
        spans: Callable[[list[tuple[int, int]]], list[int]] | None,
    ) -> None:
        self.paragraph_separator, self.counts, self.spans = paragraph_separator, counts, spans

    def split(self, text: str, n: int, chunk_size: int, at: int) -> list[_Split]:
        """``text`` (``n`` tokens, at offset ``at`` of the whole text; -1: unknown) in splits."""
        if n <= chunk_size:
            return [_Split(text, token_size=n)]
        splits = self._splits(text)
        starts, sizes = _split_counts(text, splits, at, self.spans, self.counts)
        out: list[_Split] = []
        for part, start, size in zip(splits, starts, sizes, strict=True):
            if size <= chunk_size or len(splits) == 1:  # 1: indivisible, kept
                out.append(_Split(part, token_size=size))
            else:
                out.extend(self.split(part, size, chunk_size, start))
        return out

    def _splits(self, text: str) -> list[str]:
        """``text`` cut by the first way that gives two or more pieces.

        Paragraphs, sentences, clauses, words, then characters: the last is kept even
        when it does not cut.
        """
        from longdoc.retrieval.sentences import split_sentences

        ways = (
            lambda t: _keep_separator(t, self.paragraph_separator),
            split_sentences,
            _CLAUSES.findall,
            lambda t: _keep_separator(t, " "),
            list,
        )
        for split in ways:
            splits = split(text)
            if len(splits) > 1:
                break
        return splits


def _keep_separator(text: str, separator: str) -> list[str]:
    """``text`` split at ``separator``, each split after the first starting with it."""
    parts = text.split(separator)
    return [p for p in (separator + s if i else s for i, s in enumerate(parts)) if p]


def _merge(splits: list[_Split], chunk_size: int, chunk_overlap: int) -> list[str]:
    """``SentenceSplitter._merge``: splits joined greedily into parts, with overlap."""
    chunks: list[str] = []
    cur: list[tuple[str, int]] = []
    cur_len = 0
    new_chunk = True

    def close() -> None:
        nonlocal cur, cur_len, new_chunk
        chunks.append("".join(t for t, _n in cur))
        last, cur, cur_len, new_chunk = cur, [], 0, True
        i = len(last) - 1  # the next part starts with the last splits that fit the overlap
        while i >= 0 and cur_len + last[i][1] <= chunk_overlap:
            cur_len += last[i][1]
            cur.insert(0, last[i])
            i -= 1

    i = 0
    while i < len(splits):
        split = splits[i]
        if split.token_size > chunk_size:
            raise ValueError("Single token exceeded chunk size")
        if cur_len + split.token_size > chunk_size and not new_chunk:
            close()
            continue
        # Here the split fits or starts a part. (llama-index's sentence-or-fits test that
        # follows in its merge is always true at this point: every split is added.)
        while new_chunk and cur and cur_len + split.token_size > chunk_size:  # drop overlap
            cur_len -= cur.pop(0)[1]
        cur_len += split.token_size
        cur.append((split.text, split.token_size))
        i += 1
        new_chunk = False
    if not new_chunk:
        chunks.append("".join(t for t, _n in cur))
    return [c.strip() for c in chunks if c.strip()]


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
