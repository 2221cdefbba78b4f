"""What every workflow run shares: run ids, the checkpointer, stored inputs, progress events.

A run is identified by a run id. By default the id is derived from everything
that determines the run (strategy, model, options, query, document), so running
the same command again resumes an interrupted run, or returns a finished one,
without repeating model calls.

:class:`Workflow` is the base of every workflow class: it holds the gateway and
the checkpointer, stores a run's inputs as run files, and runs a graph to a
result (:meth:`Workflow._execute`). A subclass writes ``astream`` (its inputs,
graph and result) and gets the rest of the trio from :func:`drained` and
:func:`blocking`::

    class ChainOfAgents(Workflow):
        async def astream(self, query=None, *, source, run_id=None): ...
        arun = drained(astream)
        run = blocking(arun)
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from contextlib import (
    AbstractAsyncContextManager,
    AsyncExitStack,
    asynccontextmanager,
    nullcontext,
)
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, Literal, ParamSpec, TypeVar
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel

from longdoc.errors import LongdocError

if TYPE_CHECKING:
    from longdoc.agents.gateway import Gateway

__all__ = [
    "GraphRun",
    "ProgressEvent",
    "RunSpec",
    "Workflow",
    "blocking",
    "checkpointer",
    "derive_run_id",
    "drained",
    "emit_progress",
    "last_result",
    "load_json",
    "postgres_checkpointer",
    "run_or_resume",
    "save_json_atomic",
    "save_text_atomic",
    "saver_scope",
    "stream_graph",
]

P = ParamSpec("P")
R = TypeVar("R")
W = TypeVar("W", bound="Workflow")


class ProgressEvent(BaseModel):
    """A progress report streamed while a workflow runs.

    Attributes:
        run_id: the run this event belongs to.
        kind: ``start``, ``step`` (one unit of work done), ``stage`` (a new phase)
            or ``done``.
        stage: what is running (``worker``, ``judge``, ``manager``, ...).
        step: units done so far.
        total: units in all.
        tokens: prompt + completion tokens used so far in this run.
        message: a short human-readable note.
    """

    run_id: str
    kind: Literal["start", "step", "stage", "done"]
    stage: str
    step: int = 0
    total: int = 0
    tokens: int = 0
    message: str = ""


def emit_progress(
    ctx: Any, kind: str, stage: str, step: int, total: int, message: str = ""
) -> None:
    """Stream a progress event from inside a graph node.

    Args:
        ctx: the run's context: its ``run_id``, ``gateway`` and ``usage_start`` (the
            gateway's usage when this invocation started) give the event's tokens.
        kind: ``start``, ``step``, ``stage`` or ``done``.
        stage: what is running.
        step: units done so far.
        total: units in all.
        message: a short human-readable note.
    """
    from langgraph.config import get_stream_writer

    tokens = (ctx.gateway.usage() - ctx.usage_start).total.total_tokens
    event = ProgressEvent(
        run_id=ctx.run_id,
        kind=kind,  # type: ignore[arg-type]
        stage=stage,
        step=step,
        total=total,
        tokens=tokens,
        message=message,
    )
    get_stream_writer()(event)


def derive_run_id(strategy: str, **parts: Any) -> str:
    """A stable id from everything that determines a run."""
    payload = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return f"{strategy}-{hashlib.sha256(payload.encode()).hexdigest()[:16]}"


def save_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` so that a crash leaves either the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_json_atomic(path: Path, data: Any) -> None:
    """Write JSON with :func:`save_text_atomic`."""
    save_text_atomic(path, json.dumps(data, ensure_ascii=False))


def load_json(path: Path) -> Any:
    """Read a JSON file written by :func:`save_json_atomic`."""
    return json.loads(path.read_text(encoding="utf-8"))


@asynccontextmanager
async def checkpointer(data_dir: Path) -> AsyncIterator[Any]:
    """The workflows' SQLite checkpointer under ``data_dir``."""
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    path = data_dir / "checkpoints.sqlite3"
    path.parent.mkdir(parents=True, exist_ok=True)
    async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
        await saver.setup()
        # WAL + NORMAL: a checkpoint survives a killed process without an fsync per
        # step (fsyncs would cost more than the rest of a step's bookkeeping).
        await saver.conn.execute("PRAGMA synchronous=NORMAL")
        yield saver


# Postgres URLs whose tables this process has set up: setup() runs its migrations once.
_POSTGRES_SET_UP: set[str] = set()
# Any fixed 64-bit key: processes setting up one database at once take turns on it.
_SETUP_LOCK_KEY = 0x6C6F6E67646F63


@asynccontextmanager
async def postgres_checkpointer(url: str) -> AsyncIterator[Any]:
    """LangGraph's Postgres checkpointer on ``url``, shared by every process that uses it.

    Raises:
        MissingExtraError: the ``postgres`` extra is not installed.
        CheckpointStoreError: the database cannot be reached or set up.
    """
    from longdoc._extras import import_extra
    from longdoc.errors import CheckpointStoreError

    aio = import_extra(
        "langgraph.checkpoint.postgres.aio",
        extra="postgres",
        package="langgraph-checkpoint-postgres",
        feature="the Postgres checkpointer (LONGDOC_CHECKPOINT_URL)",
    )
    import psycopg

    async with AsyncExitStack() as stack:
        try:
            saver = await stack.enter_async_context(aio.AsyncPostgresSaver.from_conn_string(url))
            if url not in _POSTGRES_SET_UP:
                await _setup_postgres(saver)
                _POSTGRES_SET_UP.add(url)
        except psycopg.Error as e:
            raise CheckpointStoreError(_redacted(url), str(e).strip()) from e
        yield saver


async def _setup_postgres(saver: Any) -> None:
    """Create or migrate the checkpoint tables, one process at a time."""
    # Two processes migrating at once can both try CREATE TABLE and one fail on a
    # catalog conflict: a session advisory lock serialises them.
    await saver.conn.execute("SELECT pg_advisory_lock(%s)", (_SETUP_LOCK_KEY,))
    try:
        await saver.setup()
    finally:
        await saver.conn.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK_KEY,))


def _redacted(url: str) -> str:
    """``url`` without its password, fit for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def saver_scope(
    given: Any | None, data_dir: Path, url: str | None = None
) -> AbstractAsyncContextManager[Any]:
    """The checkpointer a run uses.

    Args:
        given: the caller's checkpointer, used as it is (the caller owns it).
        data_dir: where our SQLite checkpointer lives when no ``url`` is set.
        url: a ``postgresql://`` URL (``checkpoint_url``): checkpoints go there instead.
    """
    if given is not None:
        return nullcontext(given)
    if url:
        return postgres_checkpointer(url)
    return checkpointer(data_dir)


async def stream_graph(
    compiled: Any, inputs: Any, config: dict[str, Any], context: Any
) -> AsyncIterator[Any]:
    """Run (or resume, with ``inputs=None``) a compiled graph.

    Yields:
        The nodes' custom stream items (progress events) as they come, then the
        final state values once.
    """
    final: dict[str, Any] = {}
    # durability="sync": each step's checkpoint is on disk before the next step
    # starts, so a kill loses at most the step in flight (whose call is cached).
    async for mode, chunk in compiled.astream(
        inputs, config, context=context, stream_mode=["custom", "values"], durability="sync"
    ):
        if mode == "custom":
            yield chunk
        else:
            final = chunk
    yield final


@dataclass
class GraphRun:
    """How a run of :func:`run_or_resume` ended.

    Attributes:
        values: the final state values.
        before: the checkpointed values it started from (empty for a fresh run).
    """

    values: dict[str, Any]
    before: dict[str, Any]

    @property
    def resumed(self) -> bool:
        """Whether the run started from a checkpoint."""
        return bool(self.before)


async def run_or_resume(
    graph: Any,
    saver: AbstractAsyncContextManager[Any],
    context: Any,
    *,
    run_id: str,
    fresh: Mapping[str, Any],
    stage: str,
    total: int,
    progress_key: str,
    finished: Callable[[dict[str, Any]], bool],
    recursion_limit: int,
) -> AsyncIterator[ProgressEvent | GraphRun]:
    """Start ``graph`` as thread ``run_id``, resume it, or return it finished, with progress.

    Args:
        graph: the uncompiled LangGraph ``StateGraph``.
        saver: from :func:`saver_scope`.
        context: the graph's runtime context.
        run_id: the checkpoint thread.
        fresh: the input of a run with no checkpoint yet.
        stage: the ``start`` event's stage.
        total: the ``start`` event's total.
        progress_key: the state key holding the units done (the ``start`` event's step).
        finished: whether checkpointed values are a finished run (nothing is run then).
        recursion_limit: LangGraph's step limit for this run.

    Yields:
        A ``start`` event, the graph's own progress events, then one :class:`GraphRun`.
    """
    async with saver as checkpoints:
        compiled = graph.compile(checkpointer=checkpoints)
        config = {"configurable": {"thread_id": run_id}, "recursion_limit": recursion_limit}
        before = dict((await compiled.aget_state(config)).values)
        values, resumed = before, bool(before)
        yield ProgressEvent(
            run_id=run_id,
            kind="start",
            stage=stage,
            step=values.get(progress_key, 0),
            total=total,
            message="resuming" if resumed else "",
        )
        # Decided on the values, not on `next`: a run killed while saving a step can
        # show no next node although unfinished (its last step's writes are pending).
        if not finished(values):
            async for item in stream_graph(compiled, None if resumed else fresh, config, context):
                if isinstance(item, ProgressEvent):
                    yield item
                else:
                    values = item
    yield GraphRun(values, before)


# --- the workflow base ------------------------------------------------------------------------
@dataclass
class RunSpec:
    """One run of a graph, as :func:`run_or_resume` takes it (see there for the fields)."""

    graph: Any
    context: Any
    run_id: str
    fresh: Mapping[str, Any]
    stage: str
    total: int
    progress_key: str
    finished: Callable[[dict[str, Any]], bool]
    recursion_limit: int


class Workflow:
    """The base of every workflow class: its gateway, its checkpointer and its run files.

    Args:
        gateway: the model gateway (a default one from the environment when None).
        checkpointer: a LangGraph checkpointer; default Postgres at the ``checkpoint_url``
            setting when set, else SQLite under the data dir.
    """

    def __init__(self, gateway: Gateway | None, *, checkpointer: Any = None) -> None:
        if gateway is None:
            from longdoc.agents.gateway import Gateway

            gateway = Gateway()
        self.gateway = gateway
        # Tests swap it for a saver that dies mid-save (tests/crashing.py).
        self._checkpointer = checkpointer

    def _saver(self) -> AbstractAsyncContextManager[Any]:
        settings = self.gateway.settings
        url = settings.checkpoint_url
        return saver_scope(
            self._checkpointer, settings.data_dir, url.get_secret_value() if url else None
        )

    def run_dir(self, run_id: str) -> Path:
        """Where run ``run_id`` keeps its files (its plan, parts, chunks)."""
        return self.gateway.settings.data_dir / "runs" / run_id

    def run_file(self, run_id: str, name: str, make: Callable[[], Any]) -> Any:
        """The run's JSON file ``name``: read back when present, else ``make()`` stored.

        What a run was planned on is stored with it, so a resume sends exactly the
        same prompts whatever changed in between (a tokenizer, a splitter).
        """
        path = self.run_dir(run_id) / name
        if path.is_file():
            return load_json(path)
        data = make()
        save_json_atomic(path, data)
        return data

    async def _execute(
        self, spec: RunSpec, result: Callable[[GraphRun], Awaitable[R]]
    ) -> AsyncIterator[ProgressEvent | R]:
        """Run or resume ``spec``, yielding its progress events, then ``result(run)``."""
        async for item in run_or_resume(
            spec.graph, self._saver(), spec.context, run_id=spec.run_id, fresh=spec.fresh,
            stage=spec.stage, total=spec.total, progress_key=spec.progress_key,
            finished=spec.finished, recursion_limit=spec.recursion_limit,
        ):  # fmt: skip
            if isinstance(item, ProgressEvent):
                yield item
            else:
                yield await result(item)


async def last_result(stream: AsyncIterator[ProgressEvent | R]) -> R:
    """Drain a workflow's stream and keep its result (the one item that is no event).

    Raises:
        LongdocError: the stream ended without a result (a bug in the workflow).
    """
    found: list[R] = []
    async for item in stream:
        if not isinstance(item, ProgressEvent):
            found.append(item)
    if not found:
        raise LongdocError("the run ended without a result")
    return found[-1]


def _named_after(twin: Any, source: Any, name: str, doc: str) -> None:
    """Give a generated method its name, doc and the parameters of the method it wraps."""
    twin.__module__ = source.__module__
    twin.__name__ = name
    twin.__qualname__ = source.__qualname__.replace(source.__name__, name)
    twin.__doc__ = doc
    # help() and IDEs show the real parameters; the return differs, so it is left out.
    signature = inspect.signature(source)
    twin.__signature__ = signature.replace(return_annotation=inspect.Signature.empty)


def drained(
    astream: Callable[Concatenate[W, P], AsyncIterator[ProgressEvent | R]],
) -> Callable[Concatenate[W, P], Coroutine[Any, Any, R]]:
    """``arun`` from ``astream``: the same parameters, the result without the events."""

    async def arun(self: W, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return await last_result(astream(self, *args, **kwargs))

    source = astream.__name__  # astream -> arun, astream_read -> aread
    name = "arun" if source == "astream" else source.replace("stream_", "")
    doc = f"Run or resume to the end and return the result (see :meth:`{source}`)."
    _named_after(arun, astream, name, doc)
    return arun


def blocking(
    method: Callable[Concatenate[W, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[W, P], R]:
    """The sync twin of an async workflow method, run on the gateway's event loop."""

    def run(self: W, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.gateway.run_sync(method(self, *args, **kwargs))

    name = method.__name__.removeprefix("a")
    _named_after(run, method, name, f"Sync :meth:`{method.__name__}`.")
    return run
