"""Parts of the writing workflow that need no graph: memory, results, the final document.

* :class:`WritingMemory`: what the writer remembers of earlier sections (a
  protocol): the default :class:`RunningSummary`, or :class:`SectionMemory`
  over a session of the hierarchical memory.
* :class:`WritingResult` and :class:`LeafReport`: what a run returns.
* :func:`assemble`: the Markdown document from the plan and the leaf texts.
* :func:`resolve_sources`: doc ids for what the user named as sources.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, Field

from longdoc.agents.gateway import Gateway
from longdoc.agents.ledger import Usage
from longdoc.agents.writing import update_summary
from longdoc.errors import LongdocError
from longdoc.workflows.outline import PlanNode
from longdoc.workflows.quality import Repeat, count_words

if TYPE_CHECKING:
    from longdoc.memory.hierarchical import HierarchicalMemory

__all__ = [
    "LeafReport",
    "RunningSummary",
    "SectionMemory",
    "WritingMemory",
    "WritingResult",
    "assemble",
    "gather_evidence",
    "resolve_sources",
]


class WritingMemory(Protocol):
    """What the writer remembers of the text written so far.

    The default is :class:`RunningSummary`; the hierarchical memory (issue 7) can
    take its place. An optional ``restore(summary: str)`` method is called on resume
    with the summary saved after the last finished leaf.
    """

    def summary(self) -> str:
        """A compact account of everything written so far (bounded in size)."""
        ...

    async def update(self, section_title: str, text: str) -> None:
        """Take in a newly written section."""
        ...


class RunningSummary:
    """The writer's own memory: one summary rewritten after each section, capped in tokens.

    Args:
        gateway: the model gateway.
        tokens: the cap on the summary.
    """

    def __init__(self, gateway: Gateway, tokens: int) -> None:
        self.gateway = gateway
        self.tokens = tokens
        self.text = ""

    def summary(self) -> str:
        """The current summary."""
        return self.text

    async def update(self, section_title: str, text: str) -> None:
        """Rewrite the summary to cover a new section (one model call)."""
        self.text = await update_summary(
            self.gateway, self.text, section_title, text, tokens=self.tokens
        )

    def restore(self, summary: str) -> None:
        """Start from a saved summary (on resume)."""
        self.text = summary


class SectionMemory:
    """The hierarchical memory as the writer's memory: every section becomes an episode.

    The writer sees the session's level-2 and level-1 summaries (at most
    ``memory_fold_tokens + memory_summary_tokens``); the sections stay recallable
    verbatim, so an app can later chat about the document it wrote. Sections carry
    an idempotency key (a hash of title and text): a resumed run that rewrites a
    section from the response cache does not remember it twice.

    Args:
        memory: an open session, e.g. ``open_memory("report-1", gateway)``.
    """

    def __init__(self, memory: HierarchicalMemory) -> None:
        self.memory = memory

    def summary(self) -> str:
        """Level 2 (everything folded so far), then level 1 (the latest sections)."""
        row = self.memory.state.session(self.memory.session_id)
        return "\n\n".join(p for p in (row["level2"], row["level1"]) if p)

    async def update(self, section_title: str, text: str) -> None:
        """Remember a finished section verbatim; the memory updates its summaries."""
        digest = hashlib.sha256(f"{section_title}\0{text}".encode()).hexdigest()[:24]
        await self.memory.aadd(
            f"{section_title}\n\n{text}", role="section", source=section_title, key=digest
        )


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


def gather_evidence(
    index: Any, doc_ids: list[str], query: str, budget: int, count: Callable[[str], int]
) -> list[dict[str, Any]]:
    """Source passages for ``query`` from ``doc_ids``, packed into ``budget`` tokens, labelled.

    A label ``S<k>-<n>`` names the k-th source and the passage's first chunk ordinal,
    so it is stable across calls and resumes without a registry.
    """
    if index is None or not doc_ids or budget <= 0:
        return []
    passages = index.retrieve(query, budget=budget, count_tokens=count, doc_ids=doc_ids)
    return [
        {"label": f"S{doc_ids.index(p.doc_id) + 1}-{p.ordinals[0]}", "doc_id": p.doc_id,
         "text": p.text, "ordinals": p.ordinals, "char_start": p.char_start,
         "char_end": p.char_end}
        for p in passages
    ]  # fmt: skip


def resolve_sources(index: Any, sources: list[str]) -> list[str]:
    """Doc ids for ``sources``: ids already in the index, or paths ingested into it first.

    Raises:
        LongdocError: a source is neither an existing path nor an indexed document id,
            or a path holds nothing readable; the error names it (``source``).
    """
    from longdoc.retrieval.errors import DocumentNotFoundError

    ids: list[str] = []
    for source in sources:
        if Path(source).exists():
            report = index.ingest([Path(source)])
            found = [*report.added, *report.updated, *report.unchanged]
            if not found:
                raise LongdocError(f"source {source}: nothing readable to ingest", source=source)
            ids += found
            continue
        try:
            index.get_document(source)
        except DocumentNotFoundError as e:
            raise LongdocError(
                f"source {source!r} is neither a file nor a document id in the index "
                "(see `longdoc index list`)",
                source=source,
            ) from e
        ids.append(source)
    return list(dict.fromkeys(ids))
