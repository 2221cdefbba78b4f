"""The ``longdoc`` command line.

Each command group lives in its own module with a ``register(subparsers)``
function; modules import heavy libraries inside their handlers only, so
``longdoc --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from longdoc.cli import cache, core, index, memory, qa, write

__all__ = ["build_parser", "main"]

_GROUPS = (core, index, qa, write, memory, cache)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every command registered."""
    parser = argparse.ArgumentParser(
        prog="longdoc",
        description="LLMs over documents far longer than their context window.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in _GROUPS:
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit status.

    Errors derived from :class:`~longdoc.errors.LongdocError` are printed as one
    clear message (exit 2) instead of a traceback; anything else propagates.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from longdoc import __version__

        print(__version__)
        return 0
    if not getattr(args, "handler", None):
        parser.print_help()
        return 1
    from longdoc.agents.gateway import quiet_litellm
    from longdoc.errors import LongdocError

    quiet_litellm()  # the command owns its process: no litellm banner between our messages
    try:
        return int(args.handler(args) or 0)
    except LongdocError as e:
        from rich.console import Console
        from rich.markup import escape

        Console(stderr=True).print(f"[bold red]error:[/] {escape(str(e))}", highlight=False)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished work is kept and a re-run resumes it", file=sys.stderr)
        return 130
