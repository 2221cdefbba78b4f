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
from longdoc.workflows.base import ProgressEvent
from longdoc.workflows.baselines import rag, vanilla
from longdoc.workflows.chain.graph import ChainOfAgents
from longdoc.workflows.results import StrategyResult
from longdoc.workflows.sources import DocumentText, from_index, from_path, from_text

__all__ = [
    "aask",
    "ask",
    "astream_ask",
    "astream_write",
    "awrite",
    "resolve_source",
    "summarize",
    "write",
]

Strategy = Literal["chain", "vanilla", "rag", "reason"]


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
    if strategy == "reason":
        async for item in _astream_reason(
            question, doc, path, text, gateway, index, run_id, **chain_options
        ):
            yield item
        return
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
        raise LongdocError(f"unknown strategy {strategy!r}: use chain, vanilla, rag or reason")
    chain = ChainOfAgents(gateway, **chain_options)
    async for item in chain.astream(source, question, run_id=run_id):
        yield item


async def _astream_reason(
    question: str | None,
    doc: str | None,
    path: str | Path | None,
    text: str | None,
    gateway: Gateway,
    index: Any,
    run_id: str | None,
    **options: Any,
) -> AsyncIterator[ProgressEvent | StrategyResult]:
    """Retrieve-then-reason over the index (one ``doc`` or all), or a path or text read whole."""
    from longdoc.workflows.reason.graph import RetrieveThenReason

    reasoner = RetrieveThenReason(gateway, index=index, **options)
    if path is None and text is None:
        doc_ids = [doc] if doc is not None else None
        stream = reasoner.astream(question or "", doc_ids=doc_ids, run_id=run_id)
    else:
        source = resolve_source(doc=doc, path=path, text=text, index=index)
        stream = reasoner.astream(question or "", source=source, run_id=run_id)
    async for item in stream:
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
            vanilla, rag, reason); ``run_id``; chain options (``direction``, ``vote``,
            ``notes_tokens``, ``answer_tokens``, ``keep_notes``); reason options (``k``,
            ``neighbours``, ``threshold``, ``not_found``, ``extract_tokens``,
            ``answer_tokens``).

    Returns:
        The answer with usage; chain results also carry the final notes, reason results
        the verified citations.
    """
    gateway = gateway or Gateway()
    return gateway.run_sync(aask(question, gateway=gateway, **kwargs))


def summarize(path: str | Path, *, gateway: Gateway | None = None, **kwargs: Any) -> StrategyResult:
    """Summarise a file or folder (code gets a symbols-and-behaviour summary)."""
    return ask(None, path=path, gateway=gateway, **kwargs)


async def astream_write(
    prompt: str,
    *,
    words: int,
    sources: list[str] | None = None,
    gateway: Gateway | None = None,
    index: Any = None,
    memory: Any = None,
    run_id: str | None = None,
) -> AsyncIterator[Any]:
    """Like :func:`awrite`, yielding progress events (words so far / target) before the result."""
    from longdoc.workflows.writing.graph import LongWriter

    writer = LongWriter(gateway or Gateway(), index=index, memory=memory)
    async for item in writer.astream(prompt, words, sources=sources, run_id=run_id):
        yield item


async def awrite(prompt: str, *, words: int, **kwargs: Any) -> Any:
    """Write a document of about ``words`` words (see :func:`write`)."""
    result = None
    async for item in astream_write(prompt, words=words, **kwargs):
        if not isinstance(item, ProgressEvent):
            result = item
    assert result is not None
    return result


def write(prompt: str, *, words: int, gateway: Gateway | None = None, **kwargs: Any) -> Any:
    """Write a long document (10,000 words and more) on target length, with a bounded context.

    Rerunning with the same arguments resumes an interrupted run, or returns a
    finished one without calling the model.

    Args:
        prompt: what to write.
        words: the length wanted, in words.
        gateway: the model gateway; default from the environment.
        **kwargs: ``sources`` (doc ids in the shared index, or paths ingested into
            it first), ``index``, ``memory`` (a :class:`~longdoc.workflows.writing.WritingMemory`),
            ``run_id``.

    Returns:
        A :class:`~longdoc.workflows.writing.WritingResult`: the Markdown, its word
        count and length score S_l, the outline, per-section reports and usage.
    """
    gateway = gateway or Gateway()
    return gateway.run_sync(awrite(prompt, words=words, gateway=gateway, **kwargs))
