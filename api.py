"""The top-level API: ask questions about, and summarise, documents of any length.

Example:
    >>> import longdoc
    >>> r = longdoc.ask("Who does Anne marry?", path="persuasion.txt")   # doctest: +SKIP
    >>> print(r.answer, r.usage.total.calls)                                # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

from longdoc.agents.gateway import Gateway
from longdoc.errors import LongdocError
from longdoc.workflows.baselines import rag, vanilla
from longdoc.workflows.chain import ChainOfAgents
from longdoc.workflows.results import StrategyResult
from longdoc.workflows.runs import ProgressEvent
from longdoc.workflows.sources import DocumentText, from_index, from_path, from_text

__all__ = ["aask", "ask", "astream_ask", "resolve_source", "summarize"]

Strategy = Literal["chain", "vanilla", "rag"]


def resolve_source(
    *,
    doc: str | None = None,
    path: str | Path | None = None,
    text: str | None = None,
    index: Any = None,
) -> DocumentText:
    """The document named by exactly one of ``doc`` (an index id), ``path`` or ``text``.

    Raises:
        LongdocError: none or several were given.
    """
    given = [name for name, v in (("doc", doc), ("path", path), ("text", text)) if v is not None]
    if len(given) != 1:
        raise LongdocError(f"give exactly one of doc, path or text (got {given or 'none'})")
    if text is not None:
        return from_text(text)
    if path is not None:
        return from_path(path)
    return from_index(index if index is not None else _default_index(), str(doc))


def _default_index() -> Any:
    from longdoc.retrieval import Index

    return Index()


async def astream_ask(
    question: str | None,
    *,
    doc: str | None = None,
    path: str | Path | None = None,
    text: str | None = None,
    strategy: Strategy = "chain",
    gateway: Gateway | None = None,
    index: Any = None,
    run_id: str | None = None,
    **chain_options: Any,
) -> AsyncIterator[ProgressEvent | StrategyResult]:
    """Like :func:`aask`, yielding progress events before the result."""
    gateway = gateway or Gateway()
    if strategy == "rag":
        if doc is None and path is None and text is None:
            index = index if index is not None else _default_index()
            yield await rag(gateway, index, question or "")
            return
        if doc is None:
            raise LongdocError("the rag strategy reads from the index: pass doc=<id>, or none")
        index = index if index is not None else _default_index()
        yield await rag(gateway, index, question or "", doc_ids=[doc], source=doc)
        return
    source = resolve_source(doc=doc, path=path, text=text, index=index)
    if strategy == "vanilla":
        yield await vanilla(gateway, source, question)
        return
    if strategy != "chain":
        raise LongdocError(f"unknown strategy {strategy!r}: use chain, vanilla or rag")
    chain = ChainOfAgents(gateway, **chain_options)
    async for item in chain.astream(source, question, run_id=run_id):
        yield item


async def aask(question: str | None, **kwargs: Any) -> StrategyResult:
    """Answer ``question`` about a document (see :func:`ask`)."""
    result: StrategyResult | None = None
    async for item in astream_ask(question, **kwargs):
        if isinstance(item, StrategyResult):
            result = item
    assert result is not None
    return result


def ask(question: str | None, *, gateway: Gateway | None = None, **kwargs: Any) -> StrategyResult:
    """Answer a question about a document of any length.

    Args:
        question: the question; None summarises.
        gateway: the model gateway; default from the environment.
        **kwargs: ``doc`` (index id) or ``path`` or ``text``; ``strategy`` (chain,
            vanilla, rag); ``run_id``; chain options (``direction``, ``vote``,
            ``notes_tokens``, ``answer_tokens``, ``keep_notes``).

    Returns:
        The answer with usage; chain results also carry the final notes.
    """
    gateway = gateway or Gateway()
    return gateway.run_sync(aask(question, gateway=gateway, **kwargs))


def summarize(path: str | Path, *, gateway: Gateway | None = None, **kwargs: Any) -> StrategyResult:
    """Summarise a file or folder (code gets a symbols-and-behaviour summary)."""
    return ask(None, path=path, gateway=gateway, **kwargs)
