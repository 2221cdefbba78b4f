"""Rank fusion and packing of search hits into a token budget."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from longdoc.retrieval.models import Passage, SearchHit

__all__ = ["approx_tokens", "pack", "reciprocal_rank_fusion"]


def approx_tokens(text: str) -> int:
    """A cheap token estimate (four characters a token), for when no counter is given."""
    return (len(text) + 3) // 4


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[str]], k: int = 60, weights: Sequence[float] | None = None
) -> list[tuple[str, float]]:
    """Fuse ranked id lists by reciprocal rank (Cormack et al., 2009).

    Args:
        rankings: id lists, best first.
        k: the RRF constant; larger flattens the head of each list.
        weights: one weight per ranking; default all 1.

    Returns:
        ``(id, fused score)`` pairs, best first.
    """
    weights = weights or [1.0] * len(rankings)
    scores: dict[str, float] = {}
    for ranking, w in zip(rankings, weights, strict=False):
        for rank, key in enumerate(ranking):
            scores[key] = scores.get(key, 0.0) + w / (k + rank + 1)
    return sorted(scores.items(), key=lambda kv: -kv[1])


def _merge(group: list[SearchHit], count: Callable[[str], int]) -> Passage:
    group = sorted(group, key=lambda h: h.chunk.char_start)
    first = group[0].chunk
    text, end = first.text, first.char_end
    for hit in group[1:]:
        c = hit.chunk
        if c.char_end <= end:
            continue
        # Overlapping chunks share text: append only what is new. A gap (not
        # adjacent) is marked so the reader sees the jump.
        text += c.text[end - c.char_start :] if c.char_start <= end else "\n[...]\n" + c.text
        end = c.char_end
    return Passage(
        doc_id=first.doc_id,
        source=first.source,
        char_start=first.char_start,
        char_end=end,
        text=text,
        ordinals=[h.chunk.ordinal for h in group],
        score=max(h.score for h in group),
        token_count=count(text),
        line_start=first.text_line,
    )


def _passages(hits: list[SearchHit], count: Callable[[str], int]) -> list[Passage]:
    by_doc: dict[str, list[SearchHit]] = {}
    for h in hits:
        by_doc.setdefault(h.chunk.doc_id, []).append(h)
    out: list[Passage] = []
    for doc_hits in by_doc.values():
        doc_hits.sort(key=lambda h: h.chunk.char_start)
        group: list[SearchHit] = []
        end = -1
        for h in doc_hits:
            if group and h.chunk.char_start > end:
                out.append(_merge(group, count))
                group = []
            group.append(h)
            end = max(end, h.chunk.char_end)
        if group:
            out.append(_merge(group, count))
    # Document order: the order of first appearance of each document is kept
    # stable by id, then by position in the document.
    return sorted(out, key=lambda p: (p.doc_id, p.char_start))


def pack(
    hits: Sequence[SearchHit],
    budget: int,
    count_tokens: Callable[[str], int] | None = None,
) -> list[Passage]:
    """Take hits best first until ``budget`` tokens are used; return them in document order.

    Overlapping or adjacent chunks of one document are merged into one passage
    so shared text is paid for once.

    Args:
        hits: search hits, best first.
        budget: the most tokens the passages may hold together.
        count_tokens: token counter (e.g. the LLM gateway's); default :func:`approx_tokens`.

    Returns:
        Passages ordered by document then offset, whose token counts sum to at most
        ``budget``.

    Raises:
        ValueError: ``budget`` is negative.
    """
    if budget < 0:
        raise ValueError(f"budget must be >= 0, got {budget}")
    count = count_tokens or approx_tokens
    chosen: list[SearchHit] = []
    covered: dict[str, list[tuple[int, int]]] = {}
    used = 0
    for hit in hits:
        c = hit.chunk
        spans = covered.setdefault(c.doc_id, [])
        # Pay only for text not already taken from an overlapping chunk.
        fresh = _uncovered(c.char_start, c.char_end, spans)
        if not fresh:
            continue
        cost = sum(count(c.text[s - c.char_start : e - c.char_start]) for s, e in fresh)
        if used + cost > budget:
            continue
        chosen.append(hit)
        spans.append((c.char_start, c.char_end))
        used += cost
        if used >= budget:
            break
    passages = _passages(chosen, count)
    # Counting pieces apart can differ from counting the merged text by a token
    # at a seam; drop the weakest hits until the real total fits.
    while chosen and sum(p.token_count for p in passages) > budget:
        chosen.pop()
        passages = _passages(chosen, count)
    return passages


def _uncovered(start: int, end: int, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    pieces = [(start, end)]
    for s, e in spans:
        nxt = []
        for a, b in pieces:
            if e <= a or s >= b:
                nxt.append((a, b))
                continue
            if a < s:
                nxt.append((a, s))
            if e < b:
                nxt.append((e, b))
        pieces = nxt
    return pieces
