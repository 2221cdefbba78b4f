"""The top-level API: ask questions about, summarise and write documents of any length.

Every function takes explicit keyword options. Each strategy takes its own (see
:mod:`longdoc.workflows.options`); an option the chosen strategy does not use is a
:class:`~longdoc.errors.StrategyOptionError` naming it, raised before any model call.
A gateway these functions create is closed when they return; one the caller passes
stays open.

Example:
    >>> import longdoc
    >>> r = longdoc.ask("Who does Anne marry?", path="persuasion.txt")   # doctest: +SKIP
    >>> print(r.answer, r.usage.total.calls)                                # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from contextlib import aclosing, asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from longdoc.agents.gateway import Gateway
from longdoc.errors import LongdocError
from longdoc.workflows.base import ProgressEvent, last_result
from longdoc.workflows.baselines import rag, vanilla
from longdoc.workflows.batch import BatchItem, BatchItemResult, astream_batch
from longdoc.workflows.chain.graph import ChainOfAgents
from longdoc.workflows.options import (
    AutoOptions,
    ChainOptions,
    RagOptions,
    ReasonOptions,
    Strategy,
    StrategyOptions,
    VanillaOptions,
    check_source,
    strategy_options,
)
from longdoc.workflows.results import AskResult, Route
from longdoc.workflows.sources import (
    DocRef,
    DocumentText,
    from_path,
    from_text,
    read_documents,
    select_documents,
)

if TYPE_CHECKING:
    from longdoc.retrieval import Index
    from longdoc.workflows.codemap.result import CodeMapResult
    from longdoc.workflows.writing.memory import WritingMemory
    from longdoc.workflows.writing.result import WritingResult

__all__ = [
    "aask",
    "aask_many",
    "acode_map",
    "aroute",
    "ask",
    "ask_many",
    "astream_ask",
    "astream_code_map",
    "astream_many",
    "astream_write",
    "asummarize",
    "awrite",
    "code_map",
    "resolve_source",
    "summarize",
    "write",
]

Direction = Literal["ltr", "rtl", "both"]


def resolve_source(
    *,
    doc: DocRef | None = None,
    path: str | Path | None = None,
    text: str | None = None,
    index: Index | None = None,
) -> DocumentText:
    """The document named by exactly one of ``doc``, ``path`` or ``text``.

    ``doc`` is an index id, a glob over ids and source paths, or a sequence of both:
    several documents become one text, each after a ``=== document: <id> ===`` line
    (see :func:`~longdoc.workflows.sources.select_documents`).

    Raises:
        LongdocError: none or several were given.
        DocumentsNotFoundError: ids not in the index, or globs matching nothing.
    """
    given = [name for name, v in (("doc", doc), ("path", path), ("text", text)) if v is not None]
    if len(given) != 1:
        raise LongdocError(f"give exactly one of doc, path or text (got {given or 'none'})")
    if text is not None:
        return from_text(text)
    if path is not None:
        return from_path(path)
    assert doc is not None  # exactly one was given
    return read_documents(index if index is not None else _default_index(None), doc)


def _default_index(gateway: Gateway | None) -> Index:
    from longdoc.retrieval import Index

    return Index(settings=gateway.settings) if gateway is not None else Index()


@asynccontextmanager
async def _gateway_scope(gateway: Gateway | None) -> AsyncIterator[Gateway]:
    """The caller's gateway as it is (the caller closes it), or a new one closed on exit."""
    if gateway is not None:
        yield gateway
        return
    async with Gateway() as owned:
        yield owned


@contextmanager
def _sync_gateway(gateway: Gateway | None) -> Iterator[Gateway]:
    """:func:`_gateway_scope` for the sync functions (their event loop is the gateway's)."""
    if gateway is not None:
        yield gateway
        return
    with Gateway() as owned:
        yield owned


async def astream_ask(
    question: str | None,
    *,
    doc: DocRef | None = None,
    path: str | Path | None = None,
    text: str | None = None,
    strategy: Strategy = "auto",
    gateway: Gateway | None = None,
    index: Index | None = None,
    run_id: str | None = None,
    answer_tokens: int | None = None,
    direction: Direction | None = None,
    vote: bool | None = None,
    notes_tokens: int | None = None,
    keep_notes: bool | None = None,
    k: int | None = None,
    neighbours: int | None = None,
    threshold: float | None = None,
    not_found: str | None = None,
    extract_tokens: int | None = None,
) -> AsyncIterator[ProgressEvent | AskResult]:
    """Like :func:`aask`, yielding progress events before the result."""
    options = strategy_options(
        strategy,
        {"run_id": run_id, "answer_tokens": answer_tokens, "direction": direction,
         "vote": vote, "notes_tokens": notes_tokens, "keep_notes": keep_notes, "k": k,
         "neighbours": neighbours, "threshold": threshold, "not_found": not_found,
         "extract_tokens": extract_tokens},
    )  # fmt: skip
    check_source(strategy, path=path, text=text)
    async with _gateway_scope(gateway) as gw:
        async for item in _astream(question, options, doc, path, text, gw, index, run_id):
            yield item


async def _astream(
    question: str | None,
    options: StrategyOptions,
    doc: DocRef | None,
    path: str | Path | None,
    text: str | None,
    gateway: Gateway,
    index: Index | None,
    run_id: str | None,
) -> AsyncIterator[ProgressEvent | AskResult]:
    """Run the strategy ``options`` belong to on the document named."""
    if isinstance(options, AutoOptions):  # before the others: it subclasses chain's and reason's
        async for item in _astream_auto(question, options, doc, path, text, gateway, index, run_id):
            yield item
        return
    if isinstance(options, ReasonOptions):
        async for item in _astream_reason(
            question, options, doc, path, text, gateway, index, run_id
        ):
            yield item
        return
    if isinstance(options, RagOptions):
        index = index if index is not None else _default_index(gateway)
        yield await rag(
            gateway, question or "", index=index,
            doc_ids=select_documents(index, doc) if doc is not None else None,
            answer_tokens=options.answer_tokens,
        )  # fmt: skip
        return
    source = resolve_source(doc=doc, path=path, text=text, index=index)
    if isinstance(options, VanillaOptions):
        yield await vanilla(gateway, question, source=source, answer_tokens=options.answer_tokens)
        return
    assert isinstance(options, ChainOptions)  # strategy_options knows no other strategy
    chain = ChainOfAgents(
        gateway, direction=options.direction, notes_tokens=options.notes_tokens,
        answer_tokens=options.answer_tokens, vote=options.vote, keep_notes=options.keep_notes,
    )  # fmt: skip
    async for event in chain.astream(question, source=source, run_id=run_id):
        yield event


async def _astream_auto(
    question: str | None,
    options: AutoOptions,
    doc: DocRef | None,
    path: str | Path | None,
    text: str | None,
    gateway: Gateway,
    index: Index | None,
    run_id: str | None,
) -> AsyncIterator[ProgressEvent | AskResult]:
    """``strategy="auto"``: route (:mod:`longdoc.workflows.route`), run, escalate when asked."""
    from longdoc.workflows.route import astream_auto

    source, index, doc_ids = await asyncio.to_thread(_auto_inputs, doc, path, text, gateway, index)

    def run(method: StrategyOptions, method_run_id: str | None) -> AsyncIterator[Any]:
        return _astream(question, method, doc, path, text, gateway, index, method_run_id)

    async for item in astream_auto(
        question, options, gateway=gateway, doc=source, index=index, doc_ids=doc_ids,
        run_id=run_id, run=run,
    ):  # fmt: skip
        yield item


def _auto_inputs(
    doc: DocRef | None,
    path: str | Path | None,
    text: str | None,
    gateway: Gateway,
    index: Index | None,
) -> tuple[DocumentText, Index | None, list[str] | None]:
    """What auto routes on: the text, the index (for ``doc``) and the ids reason searches."""
    if doc is None or path is not None or text is not None:
        return resolve_source(doc=doc, path=path, text=text, index=index), index, None
    index = index if index is not None else _default_index(gateway)
    return resolve_source(doc=doc, index=index), index, select_documents(index, doc)


async def aroute(
    question: str | None,
    *,
    doc: DocRef | None = None,
    path: str | Path | None = None,
    text: str | None = None,
    gateway: Gateway | None = None,
    index: Index | None = None,
    **options: Any,
) -> Route:
    """Where ``strategy="auto"`` would send the question, and every strategy's estimate.

    No model is called (except by ``route_classifier="llm"``): the route, the
    document's tokens and each strategy's estimated calls and tokens.

    ``options`` are auto's (``answer_tokens``, ``notes_tokens``, ``k``, ...).

    Raises:
        StrategyOptionError: an option auto does not take.
    """
    from longdoc.workflows.route import route

    parsed = strategy_options("auto", options)
    assert isinstance(parsed, AutoOptions)
    async with _gateway_scope(gateway) as gw:
        source, idx, doc_ids = await asyncio.to_thread(_auto_inputs, doc, path, text, gw, index)
        return await route(gw, question, doc=source, options=parsed, index=idx, doc_ids=doc_ids)


async def _astream_reason(
    question: str | None,
    options: ReasonOptions,
    doc: DocRef | None,
    path: str | Path | None,
    text: str | None,
    gateway: Gateway,
    index: Index | None,
    run_id: str | None,
) -> AsyncIterator[ProgressEvent | AskResult]:
    """Retrieve-then-reason over the ``doc`` documents (default all), or a path or text whole."""
    from longdoc.workflows.reason.graph import RetrieveThenReason

    reasoner = RetrieveThenReason(
        gateway, index=index, k=options.k, neighbours=options.neighbours,
        threshold=options.threshold, not_found=options.not_found,
        extract_tokens=options.extract_tokens, answer_tokens=options.answer_tokens,
    )  # fmt: skip
    if path is None and text is None:
        doc_ids = None
        if doc is not None:
            named = doc  # bound for the thread: candidates come from every document named
            doc_ids = await asyncio.to_thread(lambda: select_documents(reasoner.index, named))
        stream = reasoner.astream(question or "", doc_ids=doc_ids, run_id=run_id)
    else:
        source = resolve_source(doc=doc, path=path, text=text, index=index)
        stream = reasoner.astream(question or "", source=source, run_id=run_id)
    async for item in stream:
        yield item


async def aask(
    question: str | None,
    *,
    doc: DocRef | None = None,
    path: str | Path | None = None,
    text: str | None = None,
    strategy: Strategy = "auto",
    gateway: Gateway | None = None,
    index: Index | None = None,
    run_id: str | None = None,
    answer_tokens: int | None = None,
    direction: Direction | None = None,
    vote: bool | None = None,
    notes_tokens: int | None = None,
    keep_notes: bool | None = None,
    k: int | None = None,
    neighbours: int | None = None,
    threshold: float | None = None,
    not_found: str | None = None,
    extract_tokens: int | None = None,
) -> AskResult:
    """Answer ``question`` about a document (see :func:`ask`)."""
    return await last_result(
        astream_ask(
            question, doc=doc, path=path, text=text, strategy=strategy, gateway=gateway,
            index=index, run_id=run_id, answer_tokens=answer_tokens, direction=direction,
            vote=vote, notes_tokens=notes_tokens, keep_notes=keep_notes, k=k,
            neighbours=neighbours, threshold=threshold, not_found=not_found,
            extract_tokens=extract_tokens,
        )
    )  # fmt: skip


def ask(
    question: str | None,
    *,
    doc: DocRef | None = None,
    path: str | Path | None = None,
    text: str | None = None,
    strategy: Strategy = "auto",
    gateway: Gateway | None = None,
    index: Index | None = None,
    run_id: str | None = None,
    answer_tokens: int | None = None,
    direction: Direction | None = None,
    vote: bool | None = None,
    notes_tokens: int | None = None,
    keep_notes: bool | None = None,
    k: int | None = None,
    neighbours: int | None = None,
    threshold: float | None = None,
    not_found: str | None = None,
    extract_tokens: int | None = None,
) -> AskResult:
    """Answer a question about a document of any length.

    Rerunning with the same arguments resumes an interrupted chain or reason run, or
    returns a finished one without calling the model. An option the strategy does not
    use (``direction`` with ``rag``, ``run_id`` with ``vanilla``, ...) is an error.

    Args:
        question: the question; None summarises (chain and vanilla).
        doc: an ingested document's id, a glob over ids and source paths (it has
            ``*``, ``?`` or ``[``; matches sorted by id), or a sequence of ids and globs.
            Several documents: chain and vanilla read them as one text in that order,
            each after a ``=== document: <id> ===`` line; rag and reason search them all
            and cite each by its id. An unknown id is a ``DocumentsNotFoundError``.
        path: a file or folder, read whole (not with rag).
        text: the document as a string (not with rag).
        strategy: ``auto`` (default: one direct call when the whole text fits, else
            the chain for a global question and reason for a local one, escalating to
            the chain when reason verifies no evidence; see
            :mod:`longdoc.workflows.route`), ``chain`` (Chain-of-Agents), ``vanilla``
            (one truncated call), ``rag``
            (one call over retrieved chunks) or ``reason`` (verified citations); rag and
            reason without ``doc`` search the whole index.
        gateway: the model gateway; default one from the environment, closed on return.
        index: the shared index (doc, rag, reason); default the settings' index.
        run_id: name or resume a run (chain, reason).
        answer_tokens: cap on the answer (every strategy).
        direction: ``ltr``, ``rtl`` or ``both`` (chain).
        vote: with ``both``, a majority vote of the paths' answers (chain).
        notes_tokens: cap on each worker's notes (chain).
        keep_notes: return every worker's notes (chain).
        k: top chunks retrieved (reason).
        neighbours: chunks added on each side of a hit (reason).
        threshold: least fuzzy score 0-100 of a verified quote (reason).
        not_found: the answer when nothing is verified (reason).
        extract_tokens: cap on each extractor reply (reason).

    Returns:
        The strategy's result (:data:`~longdoc.workflows.results.AskResult`, told apart
        by ``strategy``): a :class:`ChainResult` carries the final notes, a
        :class:`ReasonResult` the verified citations.

    Raises:
        StrategyOptionError: an option the strategy does not use, or an invalid value.
    """
    with _sync_gateway(gateway) as gw:
        return gw.run_sync(
            aask(
                question, doc=doc, path=path, text=text, strategy=strategy, gateway=gw,
                index=index, run_id=run_id, answer_tokens=answer_tokens, direction=direction,
                vote=vote, notes_tokens=notes_tokens, keep_notes=keep_notes, k=k,
                neighbours=neighbours, threshold=threshold, not_found=not_found,
                extract_tokens=extract_tokens,
            )
        )  # fmt: skip


async def asummarize(
    path: str | Path,
    *,
    strategy: Literal["chain", "vanilla"] = "chain",
    gateway: Gateway | None = None,
    run_id: str | None = None,
    answer_tokens: int | None = None,
    direction: Direction | None = None,
    vote: bool | None = None,
    notes_tokens: int | None = None,
    keep_notes: bool | None = None,
) -> AskResult:
    """Summarise a file or folder (see :func:`summarize`)."""
    return await aask(
        None, path=path, strategy=strategy, gateway=gateway, run_id=run_id,
        answer_tokens=answer_tokens, direction=direction, vote=vote,
        notes_tokens=notes_tokens, keep_notes=keep_notes,
    )  # fmt: skip


def summarize(
    path: str | Path,
    *,
    strategy: Literal["chain", "vanilla"] = "chain",
    gateway: Gateway | None = None,
    run_id: str | None = None,
    answer_tokens: int | None = None,
    direction: Direction | None = None,
    vote: bool | None = None,
    notes_tokens: int | None = None,
    keep_notes: bool | None = None,
) -> AskResult:
    """Summarise a file or folder (code gets a symbols-and-behaviour summary).

    The options are :func:`ask`'s for ``chain`` and ``vanilla``.
    """
    return ask(
        None, path=path, strategy=strategy, gateway=gateway, run_id=run_id,
        answer_tokens=answer_tokens, direction=direction, vote=vote,
        notes_tokens=notes_tokens, keep_notes=keep_notes,
    )  # fmt: skip


async def astream_write(
    prompt: str,
    *,
    words: int,
    evidence: Sequence[str] | None = None,
    gateway: Gateway | None = None,
    index: Index | None = None,
    memory: WritingMemory | None = None,
    run_id: str | None = None,
) -> AsyncIterator[ProgressEvent | WritingResult]:
    """Like :func:`awrite`, yielding progress events (words so far / target) before the result."""
    from longdoc.workflows.writing.graph import LongWriter

    async with _gateway_scope(gateway) as gw:
        writer = LongWriter(gw, index=index, memory=memory)
        async for item in writer.astream(prompt, words=words, evidence=evidence, run_id=run_id):
            yield item


async def awrite(
    prompt: str,
    *,
    words: int,
    evidence: Sequence[str] | None = None,
    gateway: Gateway | None = None,
    index: Index | None = None,
    memory: WritingMemory | None = None,
    run_id: str | None = None,
) -> WritingResult:
    """Write a document of about ``words`` words (see :func:`write`)."""
    return await last_result(
        astream_write(
            prompt, words=words, evidence=evidence, gateway=gateway, index=index,
            memory=memory, run_id=run_id,
        )
    )  # fmt: skip


def write(
    prompt: str,
    *,
    words: int,
    evidence: Sequence[str] | None = None,
    gateway: Gateway | None = None,
    index: Index | None = None,
    memory: WritingMemory | None = None,
    run_id: str | None = None,
) -> WritingResult:
    """Write a long document (10,000 words and more) on target length, with a bounded context.

    Rerunning with the same arguments resumes an interrupted run, or returns a
    finished one without calling the model.

    Args:
        prompt: what to write.
        words: the length wanted, in words.
        evidence: ground the text in these documents: doc ids in the shared index, or
            paths ingested into it first.
        gateway: the model gateway; default one from the environment, closed on return.
        index: the shared index the evidence is in; default the settings' index.
        memory: what the writer remembers of earlier sections (a
            :class:`~longdoc.workflows.writing.WritingMemory`); default a running summary.
        run_id: name or resume a run; default derived from the inputs.

    Returns:
        The Markdown, its word count and length score S_l, the outline, per-section
        reports and usage.
    """
    with _sync_gateway(gateway) as gw:
        return gw.run_sync(
            awrite(
                prompt, words=words, evidence=evidence, gateway=gw, index=index,
                memory=memory, run_id=run_id,
            )
        )  # fmt: skip


# --- the code map of a repository -------------------------------------------------------------
async def astream_code_map(
    path: str | Path,
    *,
    gateway: Gateway | None = None,
    out: str | Path | None = None,
    run_id: str | None = None,
    concurrency: int | None = None,
    summary_tokens: int | None = None,
) -> AsyncIterator[ProgressEvent | CodeMapResult]:
    """Like :func:`acode_map`, yielding a progress event per finished file and folder first."""
    from longdoc.workflows.codemap.graph import CodeMap

    async with _gateway_scope(gateway) as gw:
        mapper = CodeMap(gw, concurrency=concurrency, summary_tokens=summary_tokens)
        async for item in mapper.astream(path, out=out, run_id=run_id):
            yield item


async def acode_map(
    path: str | Path,
    *,
    gateway: Gateway | None = None,
    out: str | Path | None = None,
    run_id: str | None = None,
    concurrency: int | None = None,
    summary_tokens: int | None = None,
) -> CodeMapResult:
    """Map a repository (see :func:`code_map`)."""
    return await last_result(
        astream_code_map(
            path, gateway=gateway, out=out, run_id=run_id, concurrency=concurrency,
            summary_tokens=summary_tokens,
        )
    )  # fmt: skip


def code_map(
    path: str | Path,
    *,
    gateway: Gateway | None = None,
    out: str | Path | None = None,
    run_id: str | None = None,
    concurrency: int | None = None,
    summary_tokens: int | None = None,
) -> CodeMapResult:
    """A code map of a repository: file summaries, folder summaries, the repository summary.

    Each file is summarized in one call (by the chain of agents when it is larger than
    the window), each folder from its children's summaries, the repository from the
    top-level ones; the Markdown links every file and its definitions' line ranges.
    Every summary is saved the moment it is made, keyed by content hash: rerunning
    after an interruption repeats no finished call, and after a change summarizes only
    the changed files and the folders above them.

    Args:
        path: the repository folder (``.gitignore`` honoured; binaries skipped).
        gateway: the model gateway; default one from the environment, closed on return.
        out: write the Markdown there (links relative to its folder); default none.
        run_id: the map's id, naming its store of summaries; default from the path.
        concurrency: summaries made at once; default ``settings.max_concurrency``.
        summary_tokens: cap on each file and folder summary; default window/16 in [64, 512].

    Returns:
        The Markdown, the repository summary, every file's and folder's entry (summary,
        key, whether reused, calls), the counts summarized and reused, and usage.

    Raises:
        SourceNotFoundError: ``path`` does not exist.
        CodeMapError: ``path`` is no folder or holds no readable file.
    """
    with _sync_gateway(gateway) as gw:
        return gw.run_sync(
            acode_map(
                path, gateway=gw, out=out, run_id=run_id, concurrency=concurrency,
                summary_tokens=summary_tokens,
            )
        )  # fmt: skip


# --- many questions at once ----------------------------------------------------------------
Items = Iterable[BatchItem | Mapping[str, Any]]


async def astream_many(
    items: Items,
    *,
    strategy: Strategy = "chain",
    gateway: Gateway | None = None,
    index: Index | None = None,
    max_items_in_flight: int | None = None,
    answer_tokens: int | None = None,
) -> AsyncIterator[BatchItemResult]:
    """Like :func:`aask_many`, yielding each item's record as it finishes (in any order).

    Each record carries its input ``index``; closing the stream early cancels the
    items in flight and keeps the finished ones (a rerun resumes the rest).
    """
    async with _gateway_scope(gateway) as gw:
        shared = _SharedIndex(index, gw)

        async def answer(item: BatchItem) -> AskResult:
            needs_index = item.path is None and item.text is None
            with gw.ledger.scope():  # the item's usage is its own calls, not its neighbours'
                return await aask(
                    item.question, doc=item.doc, path=item.path, text=item.text,
                    strategy=item.strategy or strategy, gateway=gw,
                    index=await shared.get() if needs_index else None,
                    answer_tokens=answer_tokens,
                )  # fmt: skip

        # Twice the gateway's slots: an item retrieving or splitting leaves no slot idle.
        in_flight = max_items_in_flight or 2 * gw.settings.max_concurrency
        # aclosing: closing this stream early must close the engine's too (it cancels items).
        async with aclosing(astream_batch(items, answer, max_in_flight=in_flight)) as records:
            async for record in records:
                yield record


class _SharedIndex:
    """One index for every item of a batch, opened on first need (opening one is slow)."""

    def __init__(self, index: Index | None, gateway: Gateway) -> None:
        self._index = index
        self._gateway = gateway
        self._lock = asyncio.Lock()

    async def get(self) -> Index:
        async with self._lock:
            if self._index is None:
                self._index = await asyncio.to_thread(_default_index, self._gateway)
            return self._index


async def aask_many(
    items: Items,
    *,
    strategy: Strategy = "chain",
    gateway: Gateway | None = None,
    index: Index | None = None,
    max_items_in_flight: int | None = None,
    answer_tokens: int | None = None,
) -> list[BatchItemResult]:
    """Answer many questions at once (see :func:`ask_many`); records in input order."""
    records = [
        r async for r in astream_many(
            items, strategy=strategy, gateway=gateway, index=index,
            max_items_in_flight=max_items_in_flight, answer_tokens=answer_tokens,
        )
    ]  # fmt: skip
    return sorted(records, key=lambda r: r.index)


def ask_many(
    items: Items,
    *,
    strategy: Strategy = "chain",
    gateway: Gateway | None = None,
    index: Index | None = None,
    max_items_in_flight: int | None = None,
    answer_tokens: int | None = None,
) -> list[BatchItemResult]:
    """Answer many (question, document) items at once, one record per item in input order.

    One gateway serves every item, so its concurrency bound (``max_concurrency``)
    holds across the whole batch. One item's failure is its record's ``error`` (the
    exception's type, message and data); the others still finish. Each item resumes
    on its own: rerunning a batch repeats no finished model call. Ctrl-C cancels the
    items in flight and re-raises; the finished ones are kept.

    Args:
        items: :class:`~longdoc.workflows.batch.BatchItem` (question and one of doc,
            path or text; optional strategy and id), or mappings of those fields.
        strategy: the strategy of items that name none.
        gateway: the model gateway shared by all items; default one from the
            environment, closed on return.
        index: the shared index (doc, rag, reason); default the settings' index.
        max_items_in_flight: items answered at once; default twice ``max_concurrency``.
        answer_tokens: cap on every answer.

    Returns:
        One :class:`~longdoc.workflows.batch.BatchItemResult` per item, in input order.
    """
    with _sync_gateway(gateway) as gw:
        batch: list[asyncio.Task[Any]] = []

        async def run() -> list[BatchItemResult]:
            batch.append(asyncio.current_task())  # type: ignore[arg-type]
            return await aask_many(
                items, strategy=strategy, gateway=gw, index=index,
                max_items_in_flight=max_items_in_flight, answer_tokens=answer_tokens,
            )  # fmt: skip

        try:
            return gw.run_sync(run())
        except KeyboardInterrupt:
            gw.run_sync(_cancel(batch))  # the loop outlives Ctrl-C: stop the calls in flight
            raise


async def _cancel(tasks: list[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
