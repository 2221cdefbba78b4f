"""What a writing run returns, and the Markdown assembled from the plan and the leaf texts."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from longdoc.agents.gateway.ledger import Usage
from longdoc.workflows.writing.outline import PlanNode
from longdoc.workflows.writing.quality import Repeat, count_words

if TYPE_CHECKING:
    pass

__all__ = ["LeafReport", "WritingResult", "assemble"]



class LeafReport(BaseModel):
    """What happened to one leaf section.

    Attributes:
        id: its position in the outline, e.g. ``"2.1"``.
        title: its heading.
        budget: its word budget.
        words: words written.
        actions: repairs applied: ``continued``, ``condensed``, ``rewritten``.
        repeat: the repeat the guard found, when it fired.
        evidence: labels of the source passages the writer was shown (grounded runs).
    """

    id: str
    title: str
    budget: int
    words: int
    actions: list[str] = Field(default_factory=list)
    repeat: Repeat | None = None
    evidence: list[str] = Field(default_factory=list)


class WritingResult(BaseModel):
    """What :class:`LongWriter` returns.

    Attributes:
        markdown: the document, with headings (and a sources list when it cites).
        title: the document's title.
        target_words: the length asked for.
        words: words in the document (headings included, sources list excluded).
        length_score: LongBench-Write's S_l of ``words`` against ``target_words``.
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
    length_score: float
    run_id: str
    outline: list[PlanNode]
    sections: list[LeafReport]
    sources: list[dict[str, Any]] = Field(default_factory=list)
    resumed: bool = False
    usage: Usage = Field(default_factory=Usage)


# --- the document ---------------------------------------------------------------------
_CITE = re.compile(r"\[(S\d+-\d+)\]")


def assemble(plan: dict[str, Any], records: list[dict[str, Any]]) -> tuple[str, int, list[dict]]:
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
