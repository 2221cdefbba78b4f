"""A stand-in for a killed process, for the resume tests of every workflow."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

__all__ = ["Crash", "run_until_crash"]


class Crash(BaseException):
    """Stands for the process being killed: nothing may catch it."""


def run_until_crash(workflow: Any, key: str, value: Any, run: Callable[[], Awaitable[Any]]) -> None:
    """Run ``run()`` with a checkpointer that dies while saving the step where ``key == value``.

    Args:
        workflow: a workflow whose ``gateway`` and ``_checkpointer`` are used.
        key: a state key of the workflow's graph.
        value: the value at which the save is "killed" (after the step's work ran).
        run: the coroutine to run, e.g. ``lambda: chain.arun(q, source=doc, run_id="x")``.
    """
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    class CrashingSaver(AsyncSqliteSaver):
        async def aput(self, config, checkpoint, metadata, new_versions):  # type: ignore[override]
            if checkpoint["channel_values"].get(key) == value:
                raise Crash
            return await super().aput(config, checkpoint, metadata, new_versions)

    db = Path(workflow.gateway.settings.data_dir) / "checkpoints.sqlite3"
    db.parent.mkdir(parents=True, exist_ok=True)

    async def crash_run() -> None:
        async with CrashingSaver.from_conn_string(str(db)) as saver:
            workflow._checkpointer = saver
            await run()

    with pytest.raises(Crash):
        workflow.gateway.run_sync(crash_run())
    workflow._checkpointer = None
