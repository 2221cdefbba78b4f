"""``longdoc write``: a long document on target length, with a progress bar of words written."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from longdoc.cli.core import add_model_options, progress, settings_from_args

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``write`` to the CLI."""
    write = sub.add_parser(
        "write",
        help="write a long document (10,000+ words) on target length",
        description="Plan, then write section by section with a bounded context. A failed or "
        "interrupted run keeps every finished section: run the same command again to resume.",
    )
    write.add_argument("prompt", help="what to write ('-' reads standard input)")
    write.add_argument("--words", type=int, required=True, help="the length wanted, in words")
    write.add_argument(
        "--evidence",
        "--source",
        dest="evidence",
        action="append",
        default=[],
        metavar="DOC_ID_OR_PATH",
        help="ground the text in an indexed document, or a file/folder ingested first "
        "(repeatable; --source is the old name)",
    )
    write.add_argument("-o", "--output", help="write the Markdown here (default: standard output)")
    write.add_argument("--max-leaf-words", type=int, help="longest section written in one call")
    write.add_argument(
        "--memory-session",
        metavar="NAME",
        help="remember the sections in this hierarchical-memory session (the writer then reads "
        "its summaries); `longdoc chat --session NAME` can talk about the document afterwards",
    )
    write.add_argument("--run-id", help="resume or name this run (default: derived from inputs)")
    write.add_argument("--json", action="store_true", help="print the result, text aside, as JSON")
    add_model_options(write)
    write.set_defaults(handler=run_write)


def run_write(args: argparse.Namespace) -> int:
    """Write the document with a progress bar on standard error."""
    from rich.console import Console

    from longdoc.agents.gateway import Gateway
    from longdoc.api import astream_write
    from longdoc.config import with_overrides
    from longdoc.errors import LongdocError

    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    if args.words is None or args.words < 10:
        raise LongdocError(f"--words must be at least 10, not {args.words}", parameter="words")
    settings = settings_from_args(args)
    if args.max_leaf_words:
        settings = with_overrides(settings, writing_max_leaf_words=args.max_leaf_words)
    err = Console(stderr=True)
    written = _Written()
    with Gateway(settings) as gateway:
        memory = None
        if args.memory_session:
            from longdoc.workflows.chat.turn import open_memory
            from longdoc.workflows.writing.graph import SectionMemory

            memory = SectionMemory(open_memory(args.memory_session, gateway))
        try:
            stream = astream_write(
                prompt, words=args.words, evidence=args.evidence, gateway=gateway,
                memory=memory, run_id=args.run_id,
            )  # fmt: skip
            result = gateway.run_sync(_consume(stream, args.words, err, written))
        except LongdocError:
            if written.words:  # an error about the input has nothing to keep
                err.print(
                    "[yellow]finished sections are kept: run the same command again to resume[/]",
                    highlight=False,
                )
            raise
    _output(result, args, err)
    return 0


@dataclass
class _Written:
    """Words of finished sections that the run has reported (a resumed run's included)."""

    words: int = 0


async def _consume(stream: Any, words: int, err: Any, written: _Written) -> Any:
    from longdoc.workflows.base import ProgressEvent

    result = None
    with progress(err, "{task.completed:,.0f}/{task.total:,.0f} words") as bars:
        task = bars.add_task("preparing", total=words, tokens=0)
        async for item in stream:
            if not isinstance(item, ProgressEvent):
                result = item
                continue
            label = item.message if item.kind != "start" else f"writing {item.message}".strip()
            if item.stage == "writer" and item.kind in ("start", "step", "done"):
                written.words = max(written.words, item.step)
                bars.update(task, completed=min(item.step, item.total), tokens=item.tokens)
            bars.update(task, description=label[:48], tokens=item.tokens)
        bars.update(task, description="done")
    return result


def _output(result: Any, args: argparse.Namespace, err: Any) -> None:
    from longdoc.workflows.base import save_text_atomic

    if args.output:
        save_text_atomic(Path(args.output), result.markdown)
    elif not args.json:
        print(result.markdown)
    if args.json:
        print(json.dumps(result.model_dump(exclude={"markdown"}), indent=2, ensure_ascii=False))
    total = result.usage.total
    resumed = ", resumed" if result.resumed else ""
    where = f" -> {args.output}" if args.output else ""
    err.print(
        f"[dim]{_length(result)}, "
        f"{len(result.sections)} sections; {total.calls} calls ({total.cached_calls} cached), "
        f"{total.prompt_tokens} prompt + {total.completion_tokens} completion tokens; "
        f"run {result.run_id}{resumed}{where}[/]",
        highlight=False,
    )
    if result.repeats_left:
        where_left = ", ".join(
            f"{len(s.repeats_left)} in section {s.id}" for s in result.sections if s.repeats_left
        )
        err.print(
            f"[yellow]{result.repeats_left} repeated paragraph(s) the repetition guard could "
            f"not remove ({where_left}); S_l counts each once[/]",
            highlight=False,
        )


def _length(result: Any) -> str:
    """Words and S_l; with repeated paragraphs left, the distinct count beside the raw one."""
    if result.words_distinct == result.words:
        return f"{result.words} words for {result.target_words} (S_l {result.length_score:.1f})"
    return (
        f"{result.words} words ({result.words_distinct} without repeated paragraphs) for "
        f"{result.target_words} (S_l {result.length_score:.1f}; "
        f"{result.length_score_raw:.1f} counting the repeats)"
    )
