"""``longdoc summarize <folder>``: the code map, with progress bars of files and folders."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from longdoc.cli.core import progress, settings_from_args
from longdoc.errors import StrategyOptionError

__all__ = ["add_map_options", "check_map_flags", "pick_strategy", "run_code_map"]

# The flags only the code map takes, and the chain's flags it does not.
_MAP_FLAGS = ("--out", "--concurrency", "--summary-tokens")
_CHAIN_ONLY = ("--direction", "--vote", "--notes-tokens", "--answer-tokens", "--show-notes")
_MAP_TAKES = ["--run-id", *_MAP_FLAGS, "--json"]


def _given(args: argparse.Namespace, flag: str) -> bool:
    value = getattr(args, flag.removeprefix("--").replace("-", "_"), None)
    return value is not None and value is not False


def add_map_options(parser: argparse.ArgumentParser) -> None:
    """The code map's options (``summarize`` on a folder)."""
    group = parser.add_argument_group("code map (the default for a folder)")
    group.add_argument("--out", metavar="FILE", help="write the Markdown here (default: stdout)")
    group.add_argument(
        "--concurrency", type=int, help="summaries made at once (default: max_concurrency)"
    )
    group.add_argument("--summary-tokens", type=int, help="cap on each file and folder summary")


def pick_strategy(args: argparse.Namespace) -> str:
    """``auto``: the code map for a folder, the chain for a file; else the one asked for."""
    if args.strategy != "auto":
        return str(args.strategy)
    return "map" if Path(args.path).expanduser().is_dir() else "chain"


def check_map_flags(args: argparse.Namespace, strategy: str) -> None:
    """One clear error for a flag the strategy does not use, before any call.

    Raises:
        StrategyOptionError: a chain flag with the code map, or a code-map flag without it.
    """
    if strategy == "map":
        for flag in _CHAIN_ONLY:
            if _given(args, flag):
                raise StrategyOptionError(flag, "map", "is not used", _MAP_TAKES)
        return
    for flag in _MAP_FLAGS:
        if _given(args, flag):
            raise StrategyOptionError(flag, strategy, "is not used (it is the code map's)")


def run_code_map(args: argparse.Namespace) -> int:
    """Map the folder ``args.path``, with progress on standard error."""
    from rich.console import Console

    from longdoc.agents.gateway import Gateway
    from longdoc.api import astream_code_map
    from longdoc.errors import LongdocError

    err = Console(stderr=True)
    with Gateway(settings_from_args(args)) as gateway:
        try:
            stream = astream_code_map(
                args.path, gateway=gateway, out=args.out, run_id=args.run_id,
                concurrency=args.concurrency, summary_tokens=args.summary_tokens,
            )  # fmt: skip
            result = gateway.run_sync(_consume(stream, err))
        except LongdocError:
            err.print(
                "[yellow]finished summaries are kept: run the same command again to resume[/]",
                highlight=False,
            )
            raise
    _output(result, args, err)
    return 0


async def _consume(stream: Any, err: Any) -> Any:
    from longdoc.workflows.base import ProgressEvent

    result = None
    with progress(err) as bars_view:
        bars = {
            "files": bars_view.add_task("files", total=None, tokens=0),
            "folders": bars_view.add_task("folders", total=None, tokens=0),
        }
        async for item in stream:
            if not isinstance(item, ProgressEvent):
                result = item
                continue
            if item.kind == "step" and item.stage in bars:
                bars_view.update(
                    bars[item.stage], completed=item.step, total=item.total, tokens=item.tokens
                )
            elif item.kind == "start":
                bars_view.update(bars["files"], completed=0, total=item.total, tokens=item.tokens)
    return result


def _output(result: Any, args: argparse.Namespace, err: Any) -> None:
    if args.json:
        print(json.dumps(result.model_dump(exclude={"markdown"}), indent=2, ensure_ascii=False))
    elif not args.out:
        print(result.markdown, end="")
    total = result.usage.total
    skipped = f"; {len(result.skipped)} skipped" if result.skipped else ""
    where = f" -> {args.out}" if args.out else ""
    err.print(
        f"[dim]code map: {result.files_summarized} files summarized, {result.files_reused} "
        f"reused; {result.folders_summarized} folders summarized, {result.folders_reused} "
        f"reused; {total.calls} calls ({total.cached_calls} cached), {total.prompt_tokens} "
        f"prompt + {total.completion_tokens} completion tokens{skipped}; "
        f"run {result.run_id}{where}[/]",
        highlight=False,
    )
