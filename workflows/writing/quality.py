"""Length and repetition checks of written text (pure code, no model).

* :func:`count_words`: words as LongBench-Write counts English output (runs of
  letters or digits, with inner apostrophes and hyphens); Markdown marks are not words.
* :func:`length_score`: LongBench-Write's length score S_l.
* :func:`find_repeat`: a paragraph, or a run of ``n`` or more words, that a new
  section shares with an earlier one, or a paragraph it repeats within itself.
* :func:`repeated_paragraphs`: every such repeated paragraph, for the figures of
  what the guard could not remove.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import BaseModel

__all__ = [
    "Repeat",
    "count_words",
    "find_repeat",
    "length_score",
    "repeated_paragraphs",
    "tail_words",
]

_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")
_MIN_PARAGRAPH_WORDS = 8
_NEAR_DUPLICATE = 92.0  # rapidfuzz ratio above which two paragraphs count as one repeated


class Repeat(BaseModel):
    """Text a new section repeats from an earlier one.

    Attributes:
        kind: ``paragraph`` (a whole paragraph, exact or near-exact) or ``ngram``.
        text: the repeated text as it stands in the new section.
        earlier: the id of the earlier section holding it; empty when the new
            section repeats the paragraph within itself.
    """

    kind: str
    text: str
    earlier: str


def count_words(text: str) -> int:
    """Words in ``text``."""
    return len(_WORD.findall(text))


def tail_words(text: str, n: int) -> str:
    """The last ``n`` words of ``text`` (whitespace-separated, punctuation kept)."""
    if n <= 0:
        return ""
    return " ".join(text.split()[-n:])


def length_score(required: int, produced: int) -> float:
    """LongBench-Write's S_l for a required length ``required`` and an output of ``produced`` words.

    S_l = 100 * max(0, 1 - (y/x - 1)/3) when y > x, else 100 * max(0, 1 - (x/y - 1)/2).
    """
    x, y = required, produced
    if x <= 0:
        raise ValueError(f"required length must be positive, not {x}")
    if y <= 0:
        return 0.0
    if y > x:
        return 100.0 * max(0.0, 1 - (y / x - 1) / 3)
    return 100.0 * max(0.0, 1 - (x / y - 1) / 2)


def _norm_words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


def _paragraph_pool(earlier: Sequence[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """The normalised paragraphs of the earlier sections, and the id of each one's section."""
    pool: list[str] = []
    owner: list[str] = []
    for sid, other in earlier:
        for p in _paragraphs(other):
            if len(_norm_words(p)) >= _MIN_PARAGRAPH_WORDS:
                pool.append(" ".join(_norm_words(p)))
                owner.append(sid)
    return pool, owner


def _repeated_paragraph(text: str, earlier: Sequence[tuple[str, str]]) -> Repeat | None:
    from rapidfuzz import fuzz, process

    pool, owner = _paragraph_pool(earlier)
    if not pool:
        return None
    for p in _paragraphs(text):
        norm = _norm_words(p)
        if len(norm) < _MIN_PARAGRAPH_WORDS:
            continue
        hit = process.extractOne(
            " ".join(norm), pool, scorer=fuzz.ratio, score_cutoff=_NEAR_DUPLICATE
        )
        if hit is not None:
            return Repeat(kind="paragraph", text=p, earlier=owner[hit[2]])
    return None


def _paragraph_repeated_within(text: str) -> Repeat | None:
    """A paragraph that stands twice (or near-exactly twice) in ``text`` itself.

    Small models fall into loops that write one paragraph over and over; the
    cross-section checks cannot see that.
    """
    return next(iter(repeated_paragraphs(text, [])), None)


def _repeated_ngram(text: str, earlier: Sequence[tuple[str, str]], n: int) -> Repeat | None:
    seen: dict[tuple[str, ...], str] = {}
    for sid, other in earlier:
        words = _norm_words(other)
        for i in range(len(words) - n + 1):
            seen.setdefault(tuple(words[i : i + n]), sid)
    raw = _WORD.findall(text)
    words = [w.lower() for w in raw]
    for i in range(len(words) - n + 1):
        owner = seen.get(tuple(words[i : i + n]))
        if owner is None:
            continue
        end = i + n  # extend the run while the next n-gram is repeated too
        while end < len(words) and tuple(words[end - n + 1 : end + 1]) in seen:
            end += 1
        return Repeat(kind="ngram", text=" ".join(raw[i:end]), earlier=owner)
    return None


def find_repeat(text: str, earlier: Sequence[tuple[str, str]], *, ngram: int = 12) -> Repeat | None:
    """The first text of ``text`` repeated from an earlier section or within itself, or None.

    Args:
        text: the new section.
        earlier: ``(section id, text)`` of the sections written before it.
        ngram: a run of this many words shared with an earlier section is a repeat.

    Returns:
        A paragraph repeated from an earlier section when there is one (the clearer
        thing to name), else the first run of ``ngram`` or more words shared with
        one, else a paragraph the section repeats within itself, else None.
    """
    if not text.strip():
        return None
    if earlier:
        found = _repeated_paragraph(text, earlier) or _repeated_ngram(text, earlier, ngram)
        if found is not None:
            return found
    return _paragraph_repeated_within(text)


def repeated_paragraphs(text: str, earlier: Sequence[tuple[str, str]]) -> list[Repeat]:
    """Every paragraph of ``text`` that repeats one of an earlier section or of itself.

    The same tests as :func:`find_repeat`'s paragraph checks (paragraphs of 8 words
    or more, near-exact counts), applied to every paragraph rather than the first: a
    text :func:`find_repeat` finds no paragraph repeat in gives an empty list. The
    first copy of a paragraph is kept; each later copy is listed.

    Args:
        text: the section as it stands.
        earlier: ``(section id, text)`` of the sections written before it.

    Returns:
        The repeated paragraphs in order, each naming the earlier section it repeats
        (empty when it repeats a paragraph of ``text`` itself).
    """
    from rapidfuzz import fuzz, process

    pool, owner = _paragraph_pool(earlier)
    seen: list[str] = []
    found: list[Repeat] = []
    for p in _paragraphs(text):
        norm = _norm_words(p)
        if len(norm) < _MIN_PARAGRAPH_WORDS:
            continue
        joined = " ".join(norm)
        hit = process.extractOne(joined, pool, scorer=fuzz.ratio, score_cutoff=_NEAR_DUPLICATE)
        if hit is not None:
            found.append(Repeat(kind="paragraph", text=p, earlier=owner[hit[2]]))
        elif any(fuzz.ratio(joined, q, score_cutoff=_NEAR_DUPLICATE) for q in seen):
            found.append(Repeat(kind="paragraph", text=p, earlier=""))
        seen.append(joined)
    return found
