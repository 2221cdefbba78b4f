"""``longdoc ask --questions q.jsonl --out a.jsonl``: a file of questions, answered and resumable.

Each line of the questions file is one JSON object (``question``; one of ``doc``,
``path`` or ``text``; optional ``strategy`` and ``id``). Each answer is appended to
the out file as it finishes, one JSON line, flushed and fsync'd, so a killed run
loses nothing finished; rerunning skips the items the out file already answers (by
``id``, or by line number for items without one). A bad line is reported by its
number and the rest still run; the exit status is 1 when any item failed.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from longdoc.cli.core import progress
from longdoc.errors import BatchInputError, LongdocError

if TYPE_CHECKING:  # loaded by the handlers only, so `longdoc --help` stays fast
    from longdoc.workflows.batch import BatchError, BatchItem, BatchItemResult

__all__ = ["add_batch_options", "answered_keys", "read_questions", "run_batch"]


def add_batch_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--questions`` and ``--out`` to ``longdoc ask``."""
    group = parser.add_argument_group("many questions")
    group.add_argument(
        "--questions",
        metavar="JSONL",
        help="answer every line of this file (JSON: question, doc or path, optional "
        "strategy and id) instead of one question",
    )
    group.add_argument(
        "--out", metavar="JSONL", help="append answers here (with --questions; resumes)"
    )
    group.add_argument(
        "--items-in-flight", type=int, help="items answered at once (default 2x max_concurrency)"
    )


@dataclass(frozen=True)
class Line:
    """One line of the questions file: its number, resume key and item (or why it is bad)."""

    number: int
    key: str
    item: BatchItem | None
    error: BatchInputError | None = None


def _key(number: int, item_id: str | None) -> str:
    return f"id:{item_id}" if item_id is not None else f"line:{number}"


def read_questions(path: Path) -> list[Line]:
    """Every non-blank line of ``path``, parsed; a bad one carries its error instead.

    Raises:
        SourceNotFoundError: ``path`` does not exist.
    """
    from longdoc.errors import SourceNotFoundError
    from longdoc.workflows.batch import item_from

    if not path.is_file():
        raise SourceNotFoundError(path)
    lines: list[Line] = []
    seen: dict[str, int] = {}
    with path.open(encoding="utf-8") as f:
        for number, text in enumerate(f, start=1):
            if not text.strip():
                continue
            try:
                raw = json.loads(text)
                item = item_from(raw, source=str(path), line=number)
            except json.JSONDecodeError as e:
                bad = BatchInputError(str(path), number, f"not JSON ({e.msg} at column {e.colno})")
                lines.append(Line(number, f"line:{number}", None, bad))
                continue
            except BatchInputError as e:
                lines.append(Line(number, f"line:{number}", None, e))
                continue
            key = _key(number, item.id)
            if key in seen:
                problem = f"id {item.id!r} is already used on line {seen[key]}"
                dup = BatchInputError(str(path), number, problem)
                lines.append(Line(number, f"line:{number}", None, dup))
                continue
            seen[key] = number
            lines.append(Line(number, key, item))
    return lines


def answered_keys(out: Path) -> set[str]:
    """The keys of the items ``out`` holds an answer for (a torn last line is skipped)."""
    if not out.is_file():
        return set()
    keys: set[str] = set()
    with out.open(encoding="utf-8") as f:
        for text in f:
            try:
                record = json.loads(text)
            except json.JSONDecodeError:
                continue  # a line cut short by a kill: that item is asked again
            if isinstance(record, dict) and record.get("error") is None:
                keys.add(_key(int(record.get("line", 0)), record.get("id")))
    return keys


def _check_flags(args: argparse.Namespace, given: dict[str, Any]) -> None:
    """With ``--questions``, the file names the questions and documents: nothing else may."""
    if not args.out:
        raise LongdocError("--questions needs --out FILE (the answers, appended as they finish)")
    named = (("QUESTION", args.question), ("--doc", args.doc), ("--file", args.file))
    clash = [flag for flag, value in named if value]
    clash += [f"--{o.replace('_', '-')}" for o in given if o != "answer_tokens"]
    if clash:
        raise LongdocError(
            f"--questions takes each item's question, document and strategy from the file; "
            f"{', '.join(clash)} cannot be given with it (--strategy sets the default)"
        )
    if args.items_in_flight is not None and args.items_in_flight < 1:
        raise LongdocError(f"--items-in-flight must be at least 1 (got {args.items_in_flight})")


def _append(out: IO[str], record: dict[str, Any]) -> None:
    """One JSON line, on disk before the next item is reported (a kill loses nothing finished)."""
    out.write(json.dumps(record, ensure_ascii=False) + "\n")
    out.flush()
    os.fsync(out.fileno())


def _record(line: Line, result: BatchItemResult | None, error: BatchError | None) -> dict[str, Any]:
    answer = result.result if result is not None else None
    return {
        "id": line.item.id if line.item is not None else None,
        "line": line.number,
        "question": line.item.question if line.item is not None else None,
        "answer": answer.answer if answer is not None else None,
        "strategy": answer.strategy if answer is not None else None,
        "usage": answer.usage.total.model_dump() if answer is not None else None,
        "error": error.model_dump() if error is not None else None,
    }


def _open_out(path: Path) -> IO[str]:
    """``path`` for appending, starting on a fresh line if a kill cut the last one short."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torn = path.is_file() and path.stat().st_size > 0 and path.read_bytes()[-1:] != b"\n"
    out = path.open("a", encoding="utf-8")
    if torn:
        out.write("\n")
    return out


def run_batch(args: argparse.Namespace, given: dict[str, Any]) -> int:
    """Answer the questions file into the out file, with a progress bar; 1 if any item failed."""
    from filelock import FileLock, Timeout
    from rich.console import Console

    from longdoc.agents.gateway import Gateway
    from longdoc.cli.core import settings_from_args
    from longdoc.workflows.batch import BatchError

    _check_flags(args, given)
    questions, out_path = Path(args.questions), Path(args.out)
    lines = read_questions(questions)
    err = Console(stderr=True)
    lock = FileLock(str(out_path) + ".lock")
    try:
        lock.acquire(timeout=0)
    except Timeout as e:
        raise LongdocError(f"{out_path} is being written by another run ({lock.lock_file})") from e
    try:
        done = answered_keys(out_path)
        todo = [ln for ln in lines if ln.item is not None and ln.key not in done]
        bad = [ln for ln in lines if ln.item is None]
        with _open_out(out_path) as out, Gateway(settings_from_args(args)) as gateway:
            for ln in bad:
                assert ln.error is not None
                err.print(f"[red]line {ln.number}:[/] {ln.error.problem}", highlight=False)
                _append(out, _record(ln, None, BatchError.from_exception(ln.error)))
            failed = gateway.run_sync(_answer_all(todo, args, given, gateway, out, err))
    finally:
        lock.release()
    skipped = sum(ln.item is not None and ln.key in done for ln in lines)
    answered = len(todo) - failed
    err.print(
        f"{answered} answered, {skipped} already answered (skipped), {failed} failed, "
        f"{len(bad)} bad line(s); answers in {out_path}",
        highlight=False,
    )
    return 1 if failed or bad else 0


async def _answer_all(
    todo: list[Line], args: argparse.Namespace, given: dict[str, Any], gateway: Any, out: IO[str],
    err: Any,
) -> int:  # fmt: skip
    """Answer ``todo``, appending each record as it finishes; the number that failed."""
    from longdoc.api import astream_many

    failed = 0
    with progress(err, fields=None) as bars:
        task = bars.add_task("questions", total=len(todo))
        stream = astream_many(
            [ln.item for ln in todo if ln.item is not None], strategy=args.strategy,
            gateway=gateway, max_items_in_flight=args.items_in_flight,
            answer_tokens=given.get("answer_tokens"),
        )  # fmt: skip
        async for record in stream:
            line = todo[record.index]
            _append(out, _record(line, record, record.error))
            if record.error is not None:
                failed += 1
            bars.console.print(_status(line, record), highlight=False)
            bars.update(task, advance=1, description=f"questions ({failed} failed)")
    return failed


def _status(line: Line, record: BatchItemResult) -> str:
    """One item's status line (rich markup; the model's and the user's text escaped)."""
    from rich.markup import escape

    name = f"line {line.number}"
    if line.item is not None and line.item.id is not None:
        name += f" ({escape(line.item.id)})"
    if record.error is not None:
        why = record.error.message.splitlines()[0] if record.error.message else ""
        return f"{name}: [red]failed[/] {record.error.type}: {escape(why)}"
    assert record.result is not None
    calls = record.result.usage.total.calls
    return f"{name}: [green]ok[/] {record.result.strategy}, {calls} calls"
