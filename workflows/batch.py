"""Many questions at once: bounded concurrency across items, one typed record per item.

The engine here knows nothing of strategies: :func:`astream_batch` is handed the
function that answers one item (the API's ``aask`` bound to one shared gateway), so
every strategy, and every strategy added later, works in a batch unchanged. Each item
resumes on its own: chain and reason checkpoint under a run id derived from their
inputs, and rag and vanilla are single calls served from the response cache at
temperature 0, so rerunning a batch repeats no finished model call.

Example:
    >>> items = [BatchItem(question="Who?", path="book.txt")]        # doctest: +SKIP
    >>> async for r in astream_batch(items, answer, max_in_flight=8):  # doctest: +SKIP
    ...     print(r.index, r.ok)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import to_jsonable_python

from longdoc.errors import BatchInputError
from longdoc.workflows.options import Strategy
from longdoc.workflows.results import AskResult

__all__ = [
    "BatchError",
    "BatchItem",
    "BatchItemResult",
    "astream_batch",
    "item_from",
]


class BatchItem(BaseModel):
    """One question about one document.

    Attributes:
        question: the question.
        doc: an ingested document's id (or none: rag and reason search the whole index).
        path: a file or folder, read whole.
        text: the document as a string.
        strategy: this item's strategy; None takes the batch's.
        id: the caller's name for the item (kept in its result; a questions file
            resumes by it).
    """

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1)
    doc: str | None = None
    path: str | None = None
    text: str | None = None
    strategy: Strategy | None = None
    id: str | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        # JSON ids are often numbers; the record keeps them as text so resume keys match.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _one_source(self) -> BatchItem:
        given = [n for n in ("doc", "path", "text") if getattr(self, n) is not None]
        if len(given) > 1:
            raise ValueError(f"give at most one of doc, path or text (got {', '.join(given)})")
        return self


class BatchError(BaseModel):
    """Why one item failed: the exception's type, message and data (its attributes).

    Attributes:
        type: the exception's class name (``ModelCallError``, ``BatchInputError``, ...).
        message: its message.
        data: its attributes as JSON values (a :class:`~longdoc.errors.LongdocError`
            carries its facts there: the status, the option, the line).
    """

    type: str
    message: str
    data: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_exception(cls, error: BaseException) -> BatchError:
        """The record of ``error``."""
        data = {k: v for k, v in vars(error).items() if not k.startswith("_")}
        return cls(
            type=type(error).__name__,
            message=str(error),
            data=to_jsonable_python(data, fallback=repr),
        )


class BatchItemResult(BaseModel):
    """What became of one item: its result, or its error.

    Attributes:
        index: the item's position in the input (collect by it to keep input order).
        id: the item's ``id``, when it had one.
        result: the strategy's result, or None when the item failed.
        error: why it failed, or None when it was answered.
    """

    index: int
    id: str | None = None
    result: AskResult | None = None
    error: BatchError | None = None

    @property
    def ok(self) -> bool:
        """True when the item was answered."""
        return self.error is None


AnswerItem = Callable[[BatchItem], Awaitable[AskResult]]


def item_from(raw: BatchItem | Mapping[str, Any], *, source: str, line: int) -> BatchItem:
    """``raw`` as a :class:`BatchItem`.

    Raises:
        BatchInputError: a missing question, an unknown field, several documents.
    """
    if isinstance(raw, BatchItem):
        return raw
    if not isinstance(raw, Mapping):
        raise BatchInputError(source, line, f"an item is an object, not {type(raw).__name__}")
    try:
        return BatchItem.model_validate(dict(raw))
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'item'}: {err['msg']}" for err in e.errors()
        )
        raise BatchInputError(source, line, problems) from e


async def _answer_one(
    index: int,
    raw: BatchItem | Mapping[str, Any],
    answer: AnswerItem,
    locks: dict[str, asyncio.Lock],
) -> BatchItemResult:
    """One item's record; its failure is caught here so it never stops the others."""
    try:
        item = item_from(raw, source="items", line=index)
    except BatchInputError as e:
        raw_id = raw.get("id") if isinstance(raw, Mapping) else None
        return BatchItemResult(
            index=index, id=None if raw_id is None else str(raw_id),
            error=BatchError.from_exception(e),
        )  # fmt: skip
    # Two equal items derive the same run id: run them one after the other, so the
    # second resumes the finished run instead of racing it on one checkpoint thread.
    lock = locks.setdefault(item.model_dump_json(exclude={"id"}), asyncio.Lock())
    async with lock:
        try:
            result = await answer(item)
        except Exception as e:  # one item's failure is its record, not the batch's
            return BatchItemResult(index=index, id=item.id, error=BatchError.from_exception(e))
    return BatchItemResult(index=index, id=item.id, result=result)


async def astream_batch(
    items: Iterable[BatchItem | Mapping[str, Any]],
    answer: AnswerItem,
    *,
    max_in_flight: int,
) -> AsyncGenerator[BatchItemResult, None]:
    """Answer every item, at most ``max_in_flight`` at once, yielding records as they finish.

    Items are read from ``items`` only as a slot frees, so a long (or endless) iterable
    never starts more than ``max_in_flight`` tasks. Closing the stream early, or
    cancelling its task, cancels the items in flight; those already yielded are kept.

    Args:
        items: the items (or mappings of their fields).
        answer: answers one item (raises on failure).
        max_in_flight: items answered at once (the model calls are bounded apart, by
            the gateway).

    Yields:
        One :class:`BatchItemResult` per item, in the order they finish.

    Raises:
        LongdocError: ``max_in_flight`` is below 1.
    """
    if max_in_flight < 1:
        from longdoc.errors import LongdocError

        raise LongdocError(f"max_items_in_flight must be at least 1 (got {max_in_flight})")
    pending: Iterator[tuple[int, BatchItem | Mapping[str, Any]]] = enumerate(items)
    done: asyncio.Queue[BatchItemResult | BaseException | None] = asyncio.Queue()
    locks: dict[str, asyncio.Lock] = {}

    # Hand-written: asyncio has no bounded map over an iterator that yields as tasks finish.
    async def worker() -> None:
        try:
            for index, raw in pending:  # one loop thread: workers share the iterator safely
                await done.put(await _answer_one(index, raw, answer, locks))
        except asyncio.CancelledError:
            raise
        except BaseException as e:  # a crash stops the batch: hand it to the consumer
            await done.put(e)
            return
        await done.put(None)

    workers = [asyncio.create_task(worker()) for _ in range(max_in_flight)]
    try:
        running = len(workers)
        while running:
            record = await done.get()
            if record is None:
                running -= 1
            elif isinstance(record, BaseException):
                raise record
            else:
                yield record
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
