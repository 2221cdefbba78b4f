"""``longdoc chat`` and ``longdoc memory``: a chat with hierarchical memory, and its upkeep."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from longdoc.cli.core import add_model_options, settings_from_args

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``chat`` and ``memory show|forget|read`` to the CLI."""
    chat = sub.add_parser("chat", help="chat with a model that remembers (hierarchical memory)")
    chat.add_argument("--session", default="default", help="memory session id (default default)")
    chat.add_argument("--message", "-m", action="append", help="send these and exit (repeatable)")
    chat.add_argument("--answer-tokens", type=int, help="cap on each answer")
    add_model_options(chat)
    chat.set_defaults(handler=run_chat)

    memory = sub.add_parser("memory", help="show, read into or forget a memory session")
    msub = memory.add_subparsers(dest="memory_command", metavar="ACTION", required=True)
    show = msub.add_parser("show", help="summaries and recent episodes of a session")
    show.add_argument("--session", default="default")
    show.add_argument("--last", type=int, default=5, help="recent episodes to print")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=run_show)
    forget = msub.add_parser("forget", help="forget episodes, or the whole session")
    forget.add_argument("--session", default="default")
    forget.add_argument("ordinals", nargs="*", type=int, help="episodes; none = whole session")
    forget.set_defaults(handler=run_forget)
    read = msub.add_parser("read", help="read a file into the session's memory, chunk by chunk")
    read.add_argument("path")
    read.add_argument("--session", default="default")
    add_model_options(read)
    read.set_defaults(handler=run_read)


def _chat(args: argparse.Namespace) -> Any:
    from longdoc.agents.gateway import Gateway
    from longdoc.workflows.chat.session import MemoryChat

    gateway = Gateway(settings_from_args(args))
    return MemoryChat(args.session, gateway, answer_tokens=getattr(args, "answer_tokens", None))


def _memory(session: str) -> Any:
    from longdoc.memory import HierarchicalMemory

    # Reading and forgetting need no model: no summarizer is called for them.
    return HierarchicalMemory(session, summarizer=None, count_tokens=len)


def run_chat(args: argparse.Namespace) -> int:
    """Answer messages from the arguments, or interactively until end of input."""
    from rich.console import Console

    console, notes = Console(), Console(stderr=True)
    chat = _chat(args)
    # A sitting: run again after a kill with the same messages, it replays the
    # finished turns (no model call) and resumes the interrupted one.
    with chat.gateway, chat.sitting() as sitting:  # the CLI made the gateway: closed at the end
        for message in args.message or _lines(console):
            reply = sitting.send(message)
            console.print(reply.answer, highlight=False)
            console.print(f"[dim]context {reply.context_tokens} tokens[/]", highlight=False)
            if reply.restored:  # on stderr: the transcript reads as one uninterrupted sitting
                notes.print("[dim](restored from the interrupted sitting)[/]", highlight=False)
    return 0


def _lines(console: Any) -> Any:
    while True:
        if sys.stdin.isatty():
            console.print("[bold]you>[/] ", end="")
        line = sys.stdin.readline()
        if not line:
            return
        if line.strip():
            yield line.strip()


def run_show(args: argparse.Namespace) -> int:
    """Print a session's summaries and last episodes."""
    mem = _memory(args.session)
    summary = mem.summary()
    recent = mem.tail(args.last)
    if args.json:
        data = {**summary.model_dump(), "recent": [e.model_dump() for e in recent]}
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    from rich.console import Console

    console = Console()
    console.print(f"[bold]session[/] {summary.session_id}: {summary.items} items, "
                  f"{summary.folds} folds", highlight=False)  # fmt: skip
    console.print(f"[bold]level 2[/]\n{summary.level2 or '(none)'}", highlight=False)
    console.print(f"[bold]level 1[/]\n{summary.level1 or '(none)'}", highlight=False)
    for e in recent:
        console.print(f"[bold]#{e.ordinal} {e.role}[/] {e.text}", highlight=False)
    return 0


def run_forget(args: argparse.Namespace) -> int:
    """Forget episodes, or the whole session."""
    removed = _memory(args.session).forget(args.ordinals or None)
    print(f"forgot {removed} episode(s)")
    return 0


def run_read(args: argparse.Namespace) -> int:
    """Read a file into memory with a progress bar (resumes an interrupted read)."""
    from rich.progress import Progress

    from longdoc.workflows.chat.read import ReadReport
    from longdoc.workflows.sources import from_path

    chat = _chat(args)
    doc = from_path(args.path)

    async def go() -> ReadReport:
        with Progress() as bar:
            task = bar.add_task("reading", total=None)
            async for item in chat.astream_read(doc):
                if isinstance(item, ReadReport):
                    return item
                bar.update(task, completed=item.step, total=item.total)
        raise AssertionError("the read stream ended without a report")

    with chat.gateway:
        report = chat.gateway.run_sync(go())
    print(f"read {report.chunks} chunk(s), {report.added} new, resumed={report.resumed}")
    return 0
