"""Sources of a report: doc ids for what the user named, and evidence passages for a section."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from longdoc.errors import LongdocError

if TYPE_CHECKING:
    pass

__all__ = ["gather_evidence", "resolve_sources"]


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
    from longdoc.errors import DocumentNotFoundError

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
