"""The code map: file summaries -> folder summaries -> the repository summary, as Markdown.

Every file is summarized in one call, or by the Chain-of-Agents workflow when it is
larger than the window; every folder in one call over its children's summaries, or
in groups that fit and then one call combining them; the repository summary is the
root folder's. At most ``concurrency`` summaries are made at once (one
``asyncio.Semaphore`` over files and folders; a folder waits for its children without
holding a slot).

Resumable and incremental through one store (:mod:`~longdoc.workflows.codemap.store`):
each summary is saved under its content key the moment it is made, so a re-run after
a kill, or after a change, makes exactly the calls whose keys are not stored: the
changed files and the folders above them. The store is the checkpoint: a LangGraph
checkpoint would hold nothing it lacks, and the chain runs of large files would nest
inside a node, where LangGraph gives them a per-task checkpoint namespace they could
not resume from.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from longdoc.agents.codemap import (
    PROMPT_VERSION,
    ChildSummary,
    child_block,
    file_messages,
    folder_messages,
    repository_messages,
    summarize_file,
    summarize_folder,
)
from longdoc.agents.gateway import Gateway
from longdoc.agents.gateway.ledger import StageUsage
from longdoc.agents.gateway.types import Messages
from longdoc.errors import BudgetError, LongdocError
from longdoc.workflows.base import (
    ProgressEvent,
    Workflow,
    blocking,
    derive_run_id,
    drained,
    save_text_atomic,
)
from longdoc.workflows.budget import tokens_left
from longdoc.workflows.chain.graph import ChainOfAgents
from longdoc.workflows.codemap.plan import (
    ROOT,
    MapPlan,
    PlannedFile,
    PlannedFolder,
    content_key,
    plan_map,
)
from longdoc.workflows.codemap.render import render_markdown
from longdoc.workflows.codemap.result import CodeMapResult, MapEntry
from longdoc.workflows.codemap.store import StoredSummary, SummaryStore, store_path
from longdoc.workflows.sources import from_text

__all__ = ["CodeMap"]

EventKind = Literal["start", "step", "stage", "done"]
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# No tokenizer makes fewer tokens than one per this many characters of source, so a
# file longer than window * this goes to the chain without counting it (a count of a
# multi-megabyte file would be one huge tokenize request for a known answer).
_CHARS_PER_TOKEN_AT_MOST = 16


class CodeMap(Workflow):
    """A hierarchical, incremental summary of a repository, written as Markdown.

    Args:
        gateway: the model gateway (a default one from the environment when None).
        concurrency: summaries made at once; default ``settings.max_concurrency`` (the
            gateway's own bound, so no slot of it idles).
        summary_tokens: cap on each file and folder summary; default window/16 in [64, 512].
        repository_tokens: cap on the repository summary; default ``max_output_tokens``.

    Raises:
        LongdocError: ``concurrency`` or a cap below 1.

    Example:
        >>> CodeMap(Gateway()).run("path/to/repo", out="CODEMAP.md").summary  # doctest: +SKIP
    """

    def __init__(
        self,
        gateway: Gateway | None = None,
        *,
        concurrency: int | None = None,
        summary_tokens: int | None = None,
        repository_tokens: int | None = None,
    ) -> None:
        super().__init__(gateway)
        for name, value in (("concurrency", concurrency), ("summary_tokens", summary_tokens),
                            ("repository_tokens", repository_tokens)):  # fmt: skip
            if value is not None and value < 1:
                raise LongdocError(f"{name} must be at least 1, not {value}", parameter=name)
        settings = self.gateway.settings
        self.concurrency = concurrency or settings.max_concurrency
        self.summary_tokens = summary_tokens or max(64, min(512, settings.context_window // 16))
        self.repository_tokens = repository_tokens or settings.max_output_tokens

    def _identity(self) -> dict[str, Any]:
        """What besides the content decides a summary: part of every key."""
        return {
            "prompts": PROMPT_VERSION,
            "model": self.gateway.endpoint.model_id,
            "summary_tokens": self.summary_tokens,
        }

    async def astream(
        self,
        path: str | Path,
        *,
        out: str | Path | None = None,
        run_id: str | None = None,
    ) -> AsyncIterator[ProgressEvent | CodeMapResult]:
        """Map ``path``, yielding progress events per finished file and folder, then the result.

        Args:
            path: the repository folder (``.gitignore`` is honoured; binaries, virtualenvs
                and ``node_modules`` are skipped).
            out: write the Markdown to this file (links relative to its folder); default
                none (links relative to the repository root).
            run_id: the map's id, naming the store of its summaries; default derived from
                the folder's resolved path.

        Raises:
            SourceNotFoundError: ``path`` does not exist.
            CodeMapError: ``path`` is no folder, holds no readable file, or its store is
                unreadable.
        """
        root = Path(path).expanduser().resolve()
        run_id = run_id or derive_run_id("codemap", root=str(root))
        if not _RUN_ID.fullmatch(run_id):
            raise LongdocError(f"run_id {run_id!r} must be letters, digits, '.', '_', '-'",
                               parameter="run_id")  # fmt: skip
        identity = await asyncio.to_thread(self._identity)
        root_identity = {"repository_tokens": self.repository_tokens}
        plan = await asyncio.to_thread(plan_map, path, identity, root_identity)
        where = store_path(self.gateway.settings.data_dir, run_id)
        store = await asyncio.to_thread(SummaryStore, where)
        try:
            run = _MapRun(self, plan, store, run_id)
            async for event in run.stream():
                yield event
            yield await asyncio.to_thread(run.result, Path(out) if out is not None else None)
        finally:
            store.close()

    arun = drained(astream)
    run = blocking(arun)


@dataclass
class _Made:
    """A summary just made: its text, how, from how many parts."""

    summary: str
    method: str
    parts: int


class _MapRun:
    """One invocation: the tasks, their shared slots, the entries made and the events."""

    def __init__(self, owner: CodeMap, plan: MapPlan, store: SummaryStore, run_id: str) -> None:
        self.gateway = owner.gateway
        self.summary_tokens = owner.summary_tokens
        self.repository_tokens = owner.repository_tokens
        self.plan = plan
        self.store = store
        self.run_id = run_id
        self.slots = asyncio.Semaphore(owner.concurrency)
        self.queue: asyncio.Queue[ProgressEvent | None] = asyncio.Queue()
        self.stored: dict[str, StoredSummary] = {}
        self.entries: dict[str, MapEntry] = {}
        self.done = {"files": 0, "folders": 0}
        self.usage_start = self.gateway.usage()

    # --- running ---------------------------------------------------------------------
    async def stream(self) -> AsyncIterator[ProgressEvent]:
        """A ``start`` event, one ``step`` per finished file and folder, then ``done``."""
        keys = [f.key for f in self.plan.files.values()]
        keys += [f.key for f in self.plan.folders.values()]
        self.stored = await asyncio.to_thread(self.store.get_many, keys)
        known = sum(f.key in self.stored for f in self.plan.files.values())
        total = len(self.plan.files)
        note = f"{known} of {total} files already summarized" if known else ""
        yield self._event("start", "files", 0, total, note)
        runner = asyncio.create_task(self._run_all())
        try:
            while (event := await self.queue.get()) is not None:
                yield event
            await runner  # its failure, as itself
        finally:
            if not runner.done():  # the consumer stopped early: stop the work in flight
                runner.cancel()
                await asyncio.gather(runner, return_exceptions=True)
        yield self._event("done", "folders", self.done["folders"], len(self.plan.folders))

    async def _run_all(self) -> None:
        """Every file and folder as a task; the first failure cancels the rest, then is raised."""
        tasks: dict[str, asyncio.Task[None]] = {}
        for file in self.plan.files.values():
            tasks[file.path] = asyncio.create_task(self._file(file))
        for folder in self.plan.bottom_up():  # its children's tasks exist already
            children = [tasks[c] for c in folder.children]
            tasks[folder.path] = asyncio.create_task(self._folder(folder, children))
        try:
            await asyncio.wait(tasks.values(), return_when=asyncio.FIRST_EXCEPTION)
            for task in tasks.values():
                if task.done() and not task.cancelled() and (error := task.exception()):
                    raise error
        finally:
            for task in tasks.values():
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
            self.queue.put_nowait(None)

    def _event(
        self, kind: EventKind, stage: str, step: int, total: int, message: str = ""
    ) -> ProgressEvent:
        tokens = (self.gateway.usage() - self.usage_start).total.total_tokens
        return ProgressEvent(
            run_id=self.run_id, kind=kind, stage=stage, step=step, total=total,
            tokens=tokens, message=message,
        )  # fmt: skip

    def _finished(self, stage: str, entry: MapEntry) -> None:
        self.entries[entry.path] = entry
        self.done[stage] += 1
        total = len(self.plan.files if stage == "files" else self.plan.folders)
        self.queue.put_nowait(self._event("step", stage, self.done[stage], total, entry.path))

    async def _made(
        self, kind: str, path: str, key: str, make: Callable[[], Awaitable[_Made]]
    ) -> tuple[StoredSummary, StageUsage]:
        """The stored summary under ``key``, or ``make()`` counted and saved at once."""
        stored = self.stored.get(key)
        if stored is not None:
            return stored, StageUsage()
        with self.gateway.ledger.scope() as own:
            made = await make()
        usage = own.snapshot().total
        stored = StoredSummary(kind, path, made.summary, made.method, usage.calls, made.parts)
        await asyncio.to_thread(self.store.put, key, stored)
        return stored, usage

    # --- files -----------------------------------------------------------------------
    async def _file(self, file: PlannedFile) -> None:
        async def make() -> _Made:
            async with self.slots:
                return await self._summarize_file(file)

        stored, usage = await self._made("file", file.path, file.key, make)
        entry = MapEntry(
            path=file.path, kind="file", key=file.key, summary=stored.summary,
            reused=file.key in self.stored, method=stored.method, calls=usage.calls,
            tokens=usage.total_tokens, parts=stored.parts, language=file.language,
            lines=file.lines, definitions=file.definitions,
        )  # fmt: skip
        self._finished("files", entry)

    async def _summarize_file(self, file: PlannedFile) -> _Made:
        """One call when the whole file fits the window, else the chain of agents."""
        window = self.gateway.context_window
        if len(file.text) <= window * _CHARS_PER_TOKEN_AT_MOST:
            messages = file_messages(file.path, file.text, file.language)
            prompt = await self.gateway.acount_messages(messages)
            left = tokens_left(window=window, frame=prompt, what=f"the summary of {file.path}",
                               reserved={"summary": self.summary_tokens})  # fmt: skip
            if left >= 0:
                summary = await summarize_file(
                    self.gateway, messages, summary_tokens=self.summary_tokens,
                    prompt_tokens_at_most=prompt,
                )  # fmt: skip
                return _Made(summary, "one call", 1)
        chain = ChainOfAgents(self.gateway, answer_tokens=self.summary_tokens)
        result = await chain.arun(None, source=from_text(file.text, file.path, file.kind))
        return _Made(result.answer, "chain", result.parts)

    # --- folders ---------------------------------------------------------------------
    async def _folder(self, folder: PlannedFolder, children: list[asyncio.Task[None]]) -> None:
        await asyncio.gather(*children)

        async def make() -> _Made:
            items = [
                ChildSummary(
                    "file" if c in self.plan.files else "folder", c, self.entries[c].summary
                )
                for c in folder.children
            ]
            return await self._reduce(folder, items)

        stored, usage = await self._made("folder", folder.path, folder.key, make)
        entry = MapEntry(
            path=folder.path, kind="folder", key=folder.key, summary=stored.summary,
            reused=folder.key in self.stored, method=stored.method, calls=usage.calls,
            tokens=usage.total_tokens, parts=stored.parts, children=folder.children,
        )  # fmt: skip
        self._finished("folders", entry)

    def _final(self, folder: PlannedFolder, items: list[ChildSummary]) -> Messages:
        if folder.path == ROOT:
            return repository_messages(self.plan.root.name, items)
        return folder_messages(folder.path, items)

    async def _reduce(self, folder: PlannedFolder, items: list[ChildSummary]) -> _Made:
        """One call over the children when they fit; else groups that fit, then one combining."""
        repository = folder.path == ROOT
        cap = self.repository_tokens if repository else self.summary_tokens
        stage = "repository" if repository else "folder"
        level, parts = 0, 1
        while True:
            groups = await self._pack(folder, items, max(cap, self.summary_tokens))
            if len(groups) == 1:
                async with self.slots:
                    summary = await summarize_folder(
                        self.gateway, self._final(folder, items), summary_tokens=cap, stage=stage
                    )
                return _Made(summary, "one call" if level == 0 else "groups", parts)
            if len(groups) == len(items):
                raise BudgetError(0, 2, f"folder {folder.path}: no two summaries fit one call")
            items = [await self._group(folder, level, i, groups) for i in range(len(groups))]
            level, parts = level + 1, len(groups)

    async def _group(
        self, folder: PlannedFolder, level: int, i: int, groups: list[list[ChildSummary]]
    ) -> ChildSummary:
        """The summary of group ``i`` of a folder too big for one call, stored like the rest."""
        group = groups[i]
        key = content_key(folder.key, "group", level, [c.summary for c in group])

        async def make() -> _Made:
            messages = folder_messages(folder.path, group, part=(i + 1, len(groups)))
            async with self.slots:
                summary = await summarize_folder(
                    self.gateway, messages, summary_tokens=self.summary_tokens
                )
            return _Made(summary, "one call", 1)

        if key not in self.stored:
            self.stored.update(await asyncio.to_thread(self.store.get_many, [key]))
        stored, _ = await self._made("group", folder.path, key, make)
        label = f"{folder.path} (group {i + 1} of {len(groups)})"
        return ChildSummary("part", label, stored.summary)

    async def _pack(
        self, folder: PlannedFolder, items: list[ChildSummary], reply: int
    ) -> list[list[ChildSummary]]:
        """``items`` in order, in groups whose prompt fits the window with ``reply`` tokens."""
        frames = [self._final(folder, []), folder_messages(folder.path, [], part=(99, 99))]
        frame = max([await self.gateway.acount_messages(m) for m in frames])
        budget = tokens_left(
            window=self.gateway.context_window, frame=frame, reserved={"summary": reply},
            what=f"the summaries in folder {folder.path}", frame_label="folder prompt",
            floor=2 * self.summary_tokens,
        )  # fmt: skip
        groups: list[list[ChildSummary]] = [[]]
        used = 0
        for item in items:
            size = await self.gateway.acount_tokens(child_block(item)) + 2  # the blank line
            if size > budget:
                raise BudgetError(budget, size, f"the summary of {item.path} in {folder.path}")
            if groups[-1] and used + size > budget:
                groups.append([])
                used = 0
            groups[-1].append(item)
            used += size
        return groups

    # --- the result ------------------------------------------------------------------
    def result(self, out: Path | None) -> CodeMapResult:
        """The map, its Markdown written to ``out`` (atomically) when given."""
        files = {p: self.entries[p] for p in self.plan.files}
        folders = {p: self.entries[p] for p in self.plan.folders}
        base = out.expanduser().resolve().parent if out is not None else self.plan.root
        markdown = render_markdown(root=self.plan.root, files=files, folders=folders, base=base)
        if out is not None:
            save_text_atomic(out.expanduser(), markdown)
        summarized = {k: sum(not e.reused for e in v.values()) for k, v in
                      (("files", files), ("folders", folders))}  # fmt: skip
        return CodeMapResult(
            markdown=markdown, root=str(self.plan.root), summary=folders[ROOT].summary,
            files=list(files.values()), folders=list(folders.values()),
            files_summarized=summarized["files"], files_reused=len(files) - summarized["files"],
            folders_summarized=summarized["folders"],
            folders_reused=len(folders) - summarized["folders"], skipped=self.plan.skipped,
            run_id=self.run_id, out=str(out) if out is not None else None,
            usage=self.gateway.usage() - self.usage_start,
        )  # fmt: skip
