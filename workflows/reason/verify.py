"""Verify extracted evidence against the document text (pure and deterministic).

An extractor claims that some sentences are verbatim in the excerpts it read.
Each claim is located in its excerpt: first exactly, after normalising
whitespace, quotes, dashes and ellipses on both sides (models retype these
freely); else approximately, with rapidfuzz's ``partial_ratio_alignment`` and a
threshold. A located sentence becomes a :class:`Citation` whose offsets index
the document text (``text[char_start:char_end] == quote``); one that cannot be
located is dropped and counted as hallucinated.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from longdoc._delimiters import MARKED_AFTER
from longdoc.errors import ReasonerOutputError

__all__ = [
    "Candidate",
    "Citation",
    "Located",
    "Normalised",
    "ReasonerOutputError",
    "Verification",
    "distinct_facts",
    "locate",
    "normalise",
    "verify",
]

# Characters models retype: every quote becomes ' or ", every dash -, "…" three dots.
_FOLD = {
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u0060\u00b4", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb", '"'),
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2043", "-"),
    "\u2026": "...",
}
_INVISIBLE = frozenset("\u00ad\u200b\u200c\u200d\u2060\ufeff")
# Below this many normalised characters a fuzzy match is not evidence: a short
# string scores high against many places of any long text.
_FUZZY_MIN_CHARS = 16


class Candidate(BaseModel):
    """A slice of one document offered to the extractor.

    Attributes:
        doc_id: the document's id (index id, or its name for a text not in the index).
        source: the document's path (or name).
        char_start: offset of ``text`` in the document text.
        char_end: offset one past its end (``document[char_start:char_end] == text``).
        text: the slice, verbatim.
        score: retrieval score (0 for windows over a whole text).
        line_start: for code, the line (1-based) that ``text`` starts on in its document.
    """

    model_config = ConfigDict(frozen=True)

    doc_id: str
    source: str
    char_start: int
    char_end: int
    text: str
    score: float = 0.0
    line_start: int | None = None


class Citation(BaseModel):
    """A verified piece of evidence: ``document_text[char_start:char_end] == quote``.

    Attributes:
        doc_id: the document's id.
        source: the document's path (or name).
        char_start: offset of the quote in the document text.
        char_end: offset one past its end.
        quote: the document's own text at those offsets.
        fact_id: the id the reasoner saw (``F1``...), once assigned.
        match: ``exact`` (after normalisation) or ``fuzzy``.
        score: 100 for exact, else the rapidfuzz score.
        line_start: for code, the first line of the quote (1-based) in its document.
        line_end: for code, its last line.
    """

    model_config = ConfigDict(frozen=True)

    doc_id: str
    source: str
    char_start: int
    char_end: int
    quote: str
    fact_id: str | None = None
    match: Literal["exact", "fuzzy"] = "exact"
    score: float = 100.0
    line_start: int | None = None
    line_end: int | None = None

    @property
    def where(self) -> str:
        """``path:12-18`` for code, ``doc chars 120-180`` otherwise: how people cite it."""
        if self.line_start is None:
            return f"{self.doc_id} chars {self.char_start}-{self.char_end}"
        last = self.line_end if self.line_end is not None else self.line_start
        lines = str(self.line_start) if last == self.line_start else f"{self.line_start}-{last}"
        return f"{self.doc_id}:{lines}"


class Normalised(NamedTuple):
    """A normalised text and, for each of its characters, the offset it came from."""

    text: str
    origin: list[int]


class Located(NamedTuple):
    """Where a sentence was found in a text: ``text[start:end]``."""

    start: int
    end: int
    match: Literal["exact", "fuzzy"]
    score: float


class Verification(BaseModel):
    """The outcome of verifying one extractor reply.

    Attributes:
        citations: the sentences located, in reply order.
        dropped: the sentences not located (counted as hallucinated).
    """

    citations: list[Citation] = Field(default_factory=list)
    dropped: list[str] = Field(default_factory=list)


def _fold(ch: str) -> str:
    if ch in _FOLD:
        return _FOLD[ch]
    if ch in _INVISIBLE:
        return ""
    if ch.isspace():
        return " "
    # NFKC per character: full-width letters, ligatures, non-breaking spaces.
    return unicodedata.normalize("NFKC", ch) if ord(ch) > 127 else ch


def normalise(text: str) -> Normalised:
    """Fold quotes, dashes, ellipses and compatibility forms; collapse whitespace and dash runs.

    A backslash right after ``<`` or ``[`` (the mark of :func:`~longdoc._delimiters.neutralise`)
    is dropped, so a quote copied from a neutralised excerpt matches the document's own text.

    Returns:
        The normalised text and the original offset of each of its characters.
    """
    out: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        # The mark neutralise puts in a tag the model saw ("<\\/notes>"): skipped on both sides.
        if ch == "\\" and i and text[i - 1] in MARKED_AFTER:
            continue
        for c in _fold(ch):
            if c.isspace():
                c = " "
            # Runs collapse: "  " -> " " and "--" (Gutenberg's em dash) -> "-".
            if c in " -" and out and out[-1] == c:
                continue
            out.append(c)
            origin.append(i)
    return Normalised("".join(out), origin)


def _span(norm: Normalised, start: int, end: int) -> tuple[int, int]:
    """Original offsets of the normalised slice ``[start, end)``."""
    return norm.origin[start], norm.origin[end - 1] + 1


def _snap_to_words(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen ``[start, end)`` so it neither starts nor ends inside a word."""
    while start > 0 and text[start - 1].isalnum() and text[start].isalnum():
        start -= 1
    while end < len(text) and text[end - 1].isalnum() and text[end].isalnum():
        end += 1
    return start, end


def locate(sentence: str, text: str, threshold: float) -> Located | None:
    """Find ``sentence`` in ``text``: exactly after normalisation, else fuzzily.

    Args:
        sentence: the claimed verbatim sentence.
        text: where it should be.
        threshold: least rapidfuzz ``partial_ratio`` (0-100) for a fuzzy match.

    Returns:
        Offsets into ``text`` with how it matched, or None.
    """
    quote = normalise(sentence).text.strip(" ")
    if not quote:
        return None
    norm = normalise(text)
    at = norm.text.find(quote)
    if at >= 0:
        return Located(*_span(norm, at, at + len(quote)), "exact", 100.0)
    if len(quote) < _FUZZY_MIN_CHARS or len(quote) > len(norm.text):
        return None
    from rapidfuzz import fuzz

    found = fuzz.partial_ratio_alignment(quote, norm.text, score_cutoff=threshold)
    if found is None or found.dest_end <= found.dest_start:
        return None
    start, end = _snap_to_words(norm.text, found.dest_start, found.dest_end)
    start, end = _span(norm, start, end)
    # The aligned window may begin or end on a space; cite the words only.
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Located(start, end, "fuzzy", float(found.score))


def verify(
    claims: Sequence[tuple[str, str]], candidates: dict[str, Candidate], threshold: float
) -> Verification:
    """Locate every claimed sentence in the candidate it is tagged with.

    A sentence not in its tagged candidate is looked for in the other candidates
    of the same call: the extractor saw them all, and a verbatim sentence under a
    wrong tag is still evidence.

    Args:
        claims: ``(candidate tag, sentence)`` pairs from one extractor reply.
        candidates: the candidates of that call by tag.
        threshold: least rapidfuzz score for a fuzzy match.

    Returns:
        Citations with document offsets, and the sentences dropped.
    """
    result = Verification()
    for tag, sentence in claims:
        order = [candidates[tag]] if tag in candidates else []
        order += [c for t, c in candidates.items() if t != tag]
        for cand in order:
            found = locate(sentence, cand.text, threshold)
            if found is None:
                continue
            start, end = cand.char_start + found.start, cand.char_start + found.end
            quote = cand.text[found.start : found.end]
            first = None
            if cand.line_start is not None:
                first = cand.line_start + cand.text.count("\n", 0, found.start)
            result.citations.append(
                Citation(
                    doc_id=cand.doc_id,
                    source=cand.source,
                    char_start=start,
                    char_end=end,
                    quote=quote,
                    match=found.match,
                    score=found.score,
                    line_start=first,
                    line_end=None if first is None else first + quote.count("\n"),
                )
            )
            break
        else:
            result.dropped.append(sentence)
    return result


def distinct_facts(facts: Sequence[Citation]) -> list[Citation]:
    """Facts without repeats: a span equal to or inside another span of the same document goes."""
    ordered = sorted(facts, key=lambda f: (f.doc_id, f.char_start, -f.char_end))
    out: list[Citation] = []
    for f in ordered:
        last = out[-1] if out else None
        if last and last.doc_id == f.doc_id and f.char_end <= last.char_end:
            continue
        out.append(f)
    return out
