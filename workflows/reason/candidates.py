"""Plan the calls of retrieve-then-reason: candidates, extraction calls and facts that fit.

Candidates are the question's top chunks from the shared index (with
neighbours, touching chunks merged), or windows over a whole text that is not
in the index. They are packed, best first, into calls whose excerpts fit the
extractor's budget exactly (counted by the model's tokenizer); a candidate too
large for one call is cut at sentence boundaries. Every candidate keeps its
document offsets, so verified quotes can be cited.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from longdoc.agents.gateway import Gateway
from longdoc.agents.gateway.structured import repair_messages, with_schema
from longdoc.agents.reason import (
    Extraction,
    ReasonedAnswer,
    excerpt_block,
    extractor_messages,
    reasoner_messages,
)
from longdoc.errors import CandidateOffsetError
from longdoc.workflows.budget import split_to_budget, tokens_left
from longdoc.workflows.reason.verify import Candidate, Citation
from longdoc.workflows.sources import DocumentText

__all__ = [
    "CandidateOffsetError",
    "extraction_budget",
    "fit_facts",
    "group_candidates",
    "index_candidates",
    "repair_reserve",
    "window_candidates",
]


# Room for the validation message of a repair call (the gateway shows up to five errors).
_REPAIR_ERROR_TOKENS = 96


def repair_reserve(gateway: Gateway, reply_tokens: int) -> int:
    """Tokens a structured call must keep free so that its one repair call also fits.

    The repair repeats the prompt plus the invalid reply and a short request to fix it.
    """
    request = repair_messages([], "", "")
    return reply_tokens + gateway.count_messages(request) + _REPAIR_ERROR_TOKENS


def extraction_budget(gateway: Gateway, query: str, extract_tokens: int) -> int:
    """Tokens left for excerpts (delimiters included) in one extraction call and its repair.

    Raises:
        BudgetError: the window cannot hold the instructions, question, reply and repair.
    """
    frame = gateway.count_messages(with_schema(extractor_messages(query, []), Extraction))
    return tokens_left(
        window=gateway.context_window,
        frame=frame,
        frame_label="extractor prompt",
        reserved={"reply": extract_tokens, "repair": repair_reserve(gateway, extract_tokens)},
        floor=64,
        what="excerpts per extraction call",
    )


def index_candidates(
    index: Any, query: str, doc_ids: Sequence[str] | None, k: int, neighbours: int
) -> list[Candidate]:
    """The question's hybrid top-``k`` chunks with neighbours, touching ones merged, best first."""
    from longdoc.retrieval.packing import pack

    hits = index.search(query, k, mode="hybrid", doc_ids=doc_ids, neighbours=neighbours)
    # pack() with an unbounded budget only merges overlapping and adjacent chunks;
    # a merged passage is the document's text between its offsets.
    passages = pack(hits, budget=1 << 62)
    passages.sort(key=lambda p: -p.score)
    return [
        Candidate(
            doc_id=p.doc_id,
            source=p.source,
            char_start=p.char_start,
            char_end=p.char_end,
            text=p.text,
            score=p.score,
            line_start=p.line_start,
        )
        for p in passages
    ]


def _pieces(cand: Candidate, budget: int, count: Callable[[str], int]) -> list[Candidate]:
    """``cand`` split at sentence boundaries into pieces of at most ``budget`` tokens."""
    if count(cand.text) <= budget:
        return [cand]
    out: list[Candidate] = []
    pos = 0
    for part in split_to_budget(cand.text, budget, count):
        at = cand.text.find(part, pos)
        if at < 0:
            raise CandidateOffsetError(
                f"a split piece of {cand.doc_id} at {cand.char_start} is not in its text",
                doc_id=cand.doc_id,
                char_start=cand.char_start,
            )
        pos = at + len(part)
        start = cand.char_start + at
        update: dict[str, Any] = {"char_start": start, "char_end": start + len(part), "text": part}
        if cand.line_start is not None:
            update["line_start"] = cand.line_start + cand.text.count("\n", 0, at)
        out.append(cand.model_copy(update=update))
    return out


def window_candidates(
    doc: DocumentText, budget: int, count: Callable[[str], int]
) -> list[Candidate]:
    """Windows of at most ``budget`` tokens over the whole text, in reading order.

    A text made of several documents is windowed per document (markers left out),
    so each window, and each quote verified in it, cites its own document's offsets.
    """
    first_line = 1 if doc.kind == "code" else None
    if doc.segments:
        out: list[Candidate] = []
        for seg in doc.segments:
            text = doc.text[seg.start : seg.end]
            one = Candidate(
                doc_id=seg.doc_id,
                source=seg.source,
                char_start=0,
                char_end=len(text),
                text=text,
                line_start=first_line,
            )
            out.extend(_pieces(one, budget, count))
        return out
    whole = Candidate(
        doc_id=doc.doc_id or doc.name,
        source=doc.name,
        char_start=0,
        char_end=len(doc.text),
        text=doc.text,
        line_start=first_line,
    )
    return _pieces(whole, budget, count)


def group_candidates(
    candidates: Sequence[Candidate], budget: int, count: Callable[[str], int]
) -> list[list[Candidate]]:
    """Pack candidates, in the order given, into calls of at most ``budget`` tokens each.

    The cost of a candidate is its excerpt with delimiters; a candidate larger than
    a call on its own is split into pieces first.
    """
    frame = count(excerpt_block("P99", ""))
    groups: list[list[Candidate]] = []
    used = budget + 1
    for cand in candidates:
        for piece in _pieces(cand, budget - frame, count):
            cost = count(piece.text) + frame
            if used + cost > budget:
                groups.append([])
                used = 0
            groups[-1].append(piece)
            used += cost
    return groups


def fit_facts(
    gateway: Gateway, query: str, facts: Sequence[Citation], answer_tokens: int
) -> list[Citation]:
    """The leading facts (best candidates come first) that fit the reasoner's window.

    Room is kept for the reply and for one repair call, as for extraction.
    """
    frame = gateway.count_messages(with_schema(reasoner_messages(query, []), ReasonedAnswer))
    room = tokens_left(
        window=gateway.context_window,
        frame=frame,
        frame_label="reasoner prompt",
        reserved={"reply": answer_tokens, "repair": repair_reserve(gateway, answer_tokens)},
        what="facts in the reasoner's call",
    )  # no floor: with no room the reasoner gets no facts
    kept: list[Citation] = []
    for fact in facts:
        cost = gateway.count_tokens(excerpt_block("F999", fact.quote))
        if cost > room:
            break
        kept.append(fact)
        room -= cost
    return kept
