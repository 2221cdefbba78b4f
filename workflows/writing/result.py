"""What a writing run returns, and the Markdown assembled from the plan and the leaf texts."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, TypedDict

from pydantic import BaseModel, Field

from longdoc.agents.gateway.ledger import Usage
from longdoc.workflows.writing.outline import PlanNode
from longdoc.workflows.writing.quality import (
    Repeat,
    count_words,
    length_score,
    repeated_paragraphs,
)

__all__ = [
    "LeafReport",
    "LengthFigures",
    "WritingResult",
    "assemble",
    "leaf_reports",
    "length_figures",
]


class LeafReport(BaseModel):
    """What happened to one leaf section.

    Attributes:
        id: its position in the outline, e.g. ``"2.1"``.
        title: its heading.
        budget: its word budget.
        words: words written.
        words_distinct: ``words`` less those of ``repeats_left``.
        actions: repairs applied: ``continued``, ``condensed``, ``rewritten``.
        repeat: the repeat the guard found, when it fired.
        repeats_left: paragraphs the guard could not remove: repeats, in the final
            text, of an earlier section's paragraph or of one of its own.
        evidence: labels of the source passages the writer was shown (grounded runs).
    """

    id: str
    title: str
    budget: int
    words: int
    words_distinct: int
    actions: list[str] = Field(default_factory=list)
    repeat: Repeat | None = None
    repeats_left: list[Repeat] = Field(default_factory=list)
    evidence: list[str] = Field(default_factory=list)


class WritingResult(BaseModel):
    """What :class:`LongWriter` returns.

    Attributes:
        markdown: the document, with headings (and a sources list when it cites).
        title: the document's title.
        target_words: the length asked for.
        words: words in the document (headings included, sources list excluded).
        words_distinct: ``words`` without the repeated paragraphs (``repeats_left``).
        length_score: LongBench-Write's S_l of ``words_distinct`` against
            ``target_words``: a looping model gets no credit for its loops.
        length_score_raw: S_l of ``words``, the figure counting every word.
        repeats_left: paragraphs the repetition guard could not remove, in all
            sections (each section's are in its report).
        run_id: the run's id (rerun with it to resume).
        outline: the outline tree with final budgets.
        sections: one report per leaf, in order.
        sources: the source passages the document cites, by label.
        resumed: True when this invocation continued an interrupted run.
        usage: calls and tokens of this invocation, per stage.
    """

    markdown: str
    title: str
    target_words: int
    words: int
    words_distinct: int
    length_score: float
    length_score_raw: float
    repeats_left: int
    run_id: str
    outline: list[PlanNode]
    sections: list[LeafReport]
    sources: list[dict[str, Any]] = Field(default_factory=list)
    resumed: bool = False
    usage: Usage = Field(default_factory=Usage)


def leaf_reports(records: Sequence[dict[str, Any]]) -> list[LeafReport]:
    """The reports of the stored leaf records, in order.

    A record stored before repeats were counted (no ``repeats_left``) is counted
    now, from its text and the texts before it, so that an old run's figures are
    as honest as a new one's.
    """
    reports = []
    for i, record in enumerate(records):
        if "repeats_left" not in record:
            earlier = [(r["id"], r["text"]) for r in records[:i]]
            left = repeated_paragraphs(record["text"], earlier)
            record = {
                **record,
                "repeats_left": [r.model_dump() for r in left],
                "words_distinct": record["words"] - sum(count_words(r.text) for r in left),
            }
        reports.append(LeafReport.model_validate(record))
    return reports


class LengthFigures(TypedDict):
    """The length fields of a :class:`WritingResult` (see its attributes)."""

    words: int
    words_distinct: int
    length_score: float
    length_score_raw: float
    repeats_left: int


def length_figures(target_words: int, words: int, sections: Sequence[LeafReport]) -> LengthFigures:
    """The length fields of a :class:`WritingResult`, counting repeated paragraphs once.

    Args:
        target_words: the length asked for.
        words: words in the document, as written.
        sections: the leaf reports, whose ``repeats_left`` are taken out.

    Returns:
        ``length_score`` on the distinct count, the raw count and score beside it,
        and the total of ``repeats_left``.
    """
    distinct = words - sum(s.words - s.words_distinct for s in sections)
    return LengthFigures(
        words=words,
        words_distinct=distinct,
        length_score=length_score(target_words, distinct),
        length_score_raw=length_score(target_words, words),
        repeats_left=sum(len(s.repeats_left) for s in sections),
    )


# --- the document ---------------------------------------------------------------------
_CITE = re.compile(r"\[(S\d+-\d+)\]")


def assemble(
    plan: dict[str, Any], records: list[dict[str, Any]]
) -> tuple[str, int, list[dict[str, Any]]]:
    """The Markdown document, its word count (sources list excluded) and the cited sources."""
    roots = [PlanNode.model_validate(r) for r in plan["roots"]]
    texts = iter(records)
    blocks = [f"# {plan['title']}"]
    for node in (n for r in roots for n in r.walk()):
        blocks.append(f"{'#' * min(6, node.depth + 1)} {node.title}")
        if not node.children:
            blocks.append(next(texts)["text"])
    body = "\n\n".join(blocks) + "\n"
    words = count_words(body)
    known = {e["label"]: e for rec in records for e in rec.get("passages", [])}
    cited = list(dict.fromkeys(label for label in _CITE.findall(body) if label in known))
    sources = [{k: v for k, v in known[label].items() if k != "text"} for label in cited]
    if sources:
        lines = [
            f"- [{s['label']}] {s['doc_id']}, chunks {s['ordinals'][0]}-{s['ordinals'][-1]} "
            f"(characters {s['char_start']}-{s['char_end']})"
            for s in sources
        ]
        body += "\n## Sources\n\n" + "\n".join(lines) + "\n"
    return body, words, sources
