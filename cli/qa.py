"""``longdoc ask`` and ``longdoc summarize``: question answering and summaries with progress."""

from __future__ import annotations

import argparse
import json
from typing import Any

from longdoc.cli.batch import add_batch_options
from longdoc.cli.codemap import add_map_options, check_map_flags, pick_strategy, run_code_map
from longdoc.cli.core import add_model_options, progress, settings_from_args
from longdoc.errors import StrategyOptionError

__all__ = ["register"]


# CLI flag -> the API option it sets. Which strategy takes which option is the API's
# options models' business (longdoc.workflows.options): the CLI asks them.
_FLAGS: dict[str, str] = {
    "--direction": "direction",
    "--vote": "vote",
    "--notes-tokens": "notes_tokens",
    "--answer-tokens": "answer_tokens",
    "--run-id": "run_id",
    "--candidates": "k",
    "--verify-threshold": "threshold",
    "--doc": "doc",
    "--file": "path",
}
# Flags that only change what is printed, and the strategy whose result they show.
_DISPLAY: dict[str, str] = {"--show-notes": "chain", "--show-dropped": "reason"}


def _dest(flag: str) -> str:
    return flag.removeprefix("--").replace("-", "_")


def _add_chain_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("chain of agents")
    group.add_argument(
        "--direction",
        choices=["ltr", "rtl", "both"],
        help="reading order; both = two paths and a judge (default ltr)",
    )
    group.add_argument("--vote", action="store_true", help="with both: majority vote of answers")
    group.add_argument("--notes-tokens", type=int, help="cap on each worker's notes")
    group.add_argument("--answer-tokens", type=int, help="cap on the answer (every strategy)")
    group.add_argument(
        "--run-id", help="resume or name this run (chain, reason; default: derived from inputs)"
    )
    group.add_argument("--show-notes", action="store_true", help="print the final notes too")
    parser.add_argument("--json", action="store_true", help="print the whole result as JSON")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``ask`` and ``summarize`` to the CLI."""
    ask = sub.add_parser("ask", help="answer a question about a long document")
    ask.add_argument("question", nargs="?", help="the question (or --questions FILE)")
    where = ask.add_mutually_exclusive_group()
    where.add_argument(
        "--doc",
        action="append",
        metavar="ID",
        help="id of an ingested document (see `longdoc index list`); repeat it for several, "
        "or give a glob over ids and paths in quotes ('reports/*', sorted by id): chain reads "
        "them in order, each after a '=== document: ID ===' line; reason and rag search them all",
    )
    where.add_argument("--file", help="a file or folder to read directly")
    ask.add_argument(
        "--strategy",
        choices=["auto", "chain", "rag", "vanilla", "reason"],
        default="auto",
        help="auto (default: one direct call when the document fits, else chain for a global "
        "question and reason for a local one, escalating to chain when reason finds no "
        "evidence), chain of agents, RAG over the index, one truncated call, or "
        "retrieve-then-reason with verified citations",
    )
    ask.add_argument(
        "--dry-run",
        action="store_true",
        help="print auto's route and every strategy's estimated calls and tokens; call no model",
    )
    _add_chain_options(ask)
    _add_reason_options(ask)
    add_batch_options(ask)
    add_model_options(ask)
    ask.set_defaults(handler=run_ask)

    summarize = sub.add_parser(
        "summarize",
        help="summarise a long file, or map a folder (a repository) as Markdown",
        description="A file is summarised by the chain of agents. A folder gets a code map: "
        "file summaries, folder summaries and the repository summary, with links to files "
        "and line ranges; every summary is kept as it is made, so a re-run resumes, and "
        "after a change summarises only the changed files and the folders above them.",
    )
    summarize.add_argument("path", help="a file or folder (code gets a code summary)")
    summarize.add_argument(
        "--strategy",
        choices=["auto", "map", "chain", "vanilla"],
        default="auto",
        help="auto (default: map for a folder, chain for a file), map (the code map), chain "
        "(one summary by a chain of agents), vanilla (one truncated call)",
    )
    _add_chain_options(summarize)
    add_map_options(summarize)
    add_model_options(summarize)
    summarize.set_defaults(handler=run_summarize)


def _add_reason_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("retrieve-then-reason")
    group.add_argument("--candidates", type=int, help="top chunks retrieved (default: settings)")
    group.add_argument(
        "--verify-threshold", type=float, help="least fuzzy score 0-100 of a verified quote"
    )
    group.add_argument(
        "--show-dropped",
        action="store_true",
        help="print the extracted sentences that were not found in the document",
    )


def _given(args: argparse.Namespace) -> dict[str, Any]:
    """The API options the command line gave (a flag left out, or switched off, is not given)."""
    given: dict[str, Any] = {}
    for flag, option in _FLAGS.items():
        value = getattr(args, _dest(flag), None)
        if value is not None and value is not False and option not in ("doc", "path"):
            given[option] = value
    return given


def _as_flags(e: StrategyOptionError) -> StrategyOptionError:
    """The API's error, naming the command line's flags instead of the API's options."""
    flags = {option: flag for flag, option in _FLAGS.items()}
    accepted = [flags[o] for o in e.accepted if o in flags]
    return StrategyOptionError(flags.get(e.option, e.option), e.strategy, e.problem, accepted)


def _check(args: argparse.Namespace, given: dict[str, Any]) -> None:
    """Every flag given is one the strategy uses: else one clear error, before any call."""
    from longdoc.workflows.options import check_source, option_names, strategy_options

    try:
        strategy_options(args.strategy, given)
        check_source(args.strategy, path=getattr(args, "file", None))
    except StrategyOptionError as e:
        raise _as_flags(e) from e
    for flag, strategy in _DISPLAY.items():
        if getattr(args, _dest(flag), False) and args.strategy not in (strategy, "auto"):
            accepted = option_names(args.strategy)
            problem = f"is not used (it prints {strategy} results)"
            raise _as_flags(StrategyOptionError(flag, args.strategy, problem, accepted))


def run_ask(args: argparse.Namespace) -> int:
    """Answer a question, with a progress bar on standard error."""
    from longdoc.errors import LongdocError

    given = _given(args)
    _check(args, given)
    if args.questions or args.out:  # a file of questions: see longdoc.cli.batch
        from longdoc.cli.batch import run_batch

        if not args.questions:
            raise LongdocError("--out goes with --questions FILE")
        return run_batch(args, given)
    if args.question is None:
        raise LongdocError("give a QUESTION, or --questions FILE --out FILE")
    if not args.question.strip():  # not read as "summarise": that is its own command
        raise LongdocError(
            "the QUESTION argument is empty; ask a question, or use `longdoc summarize`",
            option="question",
        )
    if (args.strategy not in ("rag", "reason") or args.dry_run) and not (args.doc or args.file):
        raise LongdocError("say what to read: --doc ID or --file PATH")
    # One --doc is passed as it is (an id or a glob); repeated, as the list of them.
    doc = args.doc[0] if args.doc and len(args.doc) == 1 else args.doc
    where: dict[str, Any] = {"doc": doc, "path": args.file}
    if args.dry_run:
        return _dry_run(args, args.question, where, given)
    return _run(args, args.question, where, given)


def _dry_run(
    args: argparse.Namespace, question: str, where: dict[str, Any], given: dict[str, Any]
) -> int:
    """Print auto's route and each strategy's estimate as a table; no model is called."""
    from rich.console import Console
    from rich.table import Table

    from longdoc.agents.gateway import Gateway
    from longdoc.api import aroute
    from longdoc.errors import LongdocError

    if args.strategy not in ("auto", "chain", "reason", "vanilla"):
        raise LongdocError(f"--dry-run estimates auto's methods, not {args.strategy}")
    options = {k: v for k, v in given.items() if k != "run_id"}
    with Gateway(settings_from_args(args)) as gateway:
        try:
            plan = gateway.run_sync(aroute(question, gateway=gateway, **where, **options))
        except StrategyOptionError as e:
            raise _as_flags(e) from e
    table = Table(title=f"route: {plan.method} ({plan.why}); document {plan.document_tokens} "
                  f"tokens, window {plan.window}")  # fmt: skip
    for column in ("strategy", "calls", "tokens", ""):
        table.add_column(column, justify="right" if column in ("calls", "tokens") else "left")
    for name, estimate in plan.estimates.items():
        mark = "<- auto" if name == plan.method else ""
        table.add_row(name, str(estimate.calls), str(estimate.tokens), mark)
    Console().print(table)
    return 0


def run_summarize(args: argparse.Namespace) -> int:
    """Summarise a file, or map a folder, with a progress bar on standard error."""
    args.strategy = pick_strategy(args)
    check_map_flags(args, args.strategy)
    if args.strategy == "map":
        return run_code_map(args)
    given = _given(args)
    _check(args, given)
    return _run(args, None, {"path": args.path}, given)


def _run(
    args: argparse.Namespace, question: str | None, where: dict[str, Any], given: dict[str, Any]
) -> int:
    from rich.console import Console

    from longdoc.agents.gateway import Gateway
    from longdoc.errors import ReasonerOutputError

    err = Console(stderr=True)
    with Gateway(settings_from_args(args)) as gateway:
        try:
            stream = _stream(gateway, question, args.strategy, where, given)
            result = gateway.run_sync(_consume(stream, err))
        except ReasonerOutputError as e:
            _print_evidence(e.facts)  # verified work is shown, not lost with the failed answer
            raise
    _refuse_no_context(result)
    _print_result(result, args, err)
    return 0


def _refuse_no_context(result: Any) -> None:
    """A reason run that found no text to read is an error here, not a "not found" answer.

    Raises:
        NoContextError: the run (auto's final one included) had no candidate text.
    """
    from longdoc.errors import NoContextError
    from longdoc.workflows.results import AutoResult, ReasonResult

    final = result.result if isinstance(result, AutoResult) else result
    if isinstance(final, ReasonResult) and final.parts == 0:
        raise NoContextError("reason", final.source, final.query or "")


def _stream(
    gateway: Any, question: str | None, strategy: Any, where: dict[str, Any], given: dict[str, Any]
) -> Any:
    from longdoc.api import astream_ask

    return astream_ask(question, strategy=strategy, gateway=gateway, **where, **given)


def _print_evidence(facts: list[Any]) -> None:
    print("Verified evidence (no answer: the reasoner's reply was invalid):")
    for c in facts:
        print(f"  {c.where} ({c.source})")
        print(f'      "{" ".join(c.quote.split())}"')


# Stages whose events count units of work (shown as a bar), and their labels.
_LABELS = {"worker": "workers", "extract": "extracting evidence"}


async def _consume(stream: Any, err: Any) -> Any:
    from longdoc.workflows.base import ProgressEvent

    result = None
    with progress(err) as bars:
        task = bars.add_task("preparing", total=None, tokens=0)
        async for item in stream:
            if not isinstance(item, ProgressEvent):
                result = item
                continue
            label = _LABELS.get(item.stage, item.stage)
            if item.kind == "start" and item.message:
                label = f"{label} ({item.message})"
            if item.stage in _LABELS:
                bars.update(
                    task,
                    description=label,
                    completed=item.step,
                    total=item.total,
                    tokens=item.tokens,
                )
            else:
                bars.update(task, description=label, tokens=item.tokens)
        bars.update(task, description="done")
    return result


def _print_result(result: Any, args: argparse.Namespace, err: Any) -> None:
    from longdoc.workflows.results import AutoResult, ChainResult

    if args.json:
        print(json.dumps(result.model_dump(), indent=2, ensure_ascii=False))
        return
    print(result.answer)
    auto, result = (result, result.result) if isinstance(result, AutoResult) else (None, result)
    _print_citations(result, args, err)
    if getattr(args, "show_notes", False) and isinstance(result, ChainResult):
        err.print("\n[bold]final notes[/]", highlight=False)
        print(result.final_notes)
    total = result.usage.total
    resumed = ", resumed" if result.resumed else ""
    err.print(
        f"[dim]{result.strategy}: {result.parts} part(s), {total.calls} calls "
        f"({total.cached_calls} cached), {total.prompt_tokens} prompt + "
        f"{total.completion_tokens} completion tokens, {total.seconds:.1f} s; "
        f"run {result.run_id}{resumed}[/]",
        highlight=False,
    )
    if replicas := (auto or result).usage.replicas_line():  # several endpoints: who served
        err.print(f"[dim]{replicas}[/]", highlight=False)
    if auto is not None:
        r = auto.route
        first = ""
        if auto.first is not None:
            first = f"; reason ran first ({auto.first.parts} call(s), no evidence)"
        by = f" by {r.classifier}" if r.classifier else ""
        err.print(
            f"[dim]route: {r.method} ({r.why}{by}); document {r.document_tokens} tokens, window "
            f"{r.window}; {r.calls} calls, {r.tokens} tokens in all{first}[/]",
            highlight=False,
        )


def _print_citations(result: Any, args: argparse.Namespace, err: Any) -> None:
    """Verified quotes under the answer: doc id, path, char range, quote (reason only)."""
    from longdoc.workflows.results import ReasonResult

    if not isinstance(result, ReasonResult):
        return
    citations = result.citations
    failed = result.extraction_failures
    err.print(
        f"[dim]evidence: {result.facts_extracted} sentences extracted, {result.facts_verified} "
        f"verified, {result.facts_dropped} dropped as not in the document"
        f"{f'; {failed} extraction call(s) failed' if failed else ''}[/]",
        highlight=False,
    )
    for f in result.failed_extractions[:5]:  # the first few; --json has them all
        spans = ", ".join(f"{x.doc_id} chars {x.char_start}-{x.char_end}" for x in f.excerpts)
        reply = " ".join((f.raw_text or "").split())[:80]
        why = f.message.splitlines()[0] if f.message else ""
        line = f"  call {f.group + 1} ({spans}): {f.error_type}: {why}; reply {reply!r}"
        err.print(line, style="yellow", markup=False, highlight=False)
    if getattr(args, "show_dropped", False) and result.dropped_sentences:
        print("\nDropped (not found in the document):")
        for sentence in result.dropped_sentences:
            print(f'  "{" ".join(sentence.split())}"')
    if not citations:
        print("\n(no verified evidence)")
        return
    note = " (the reasoner named none: every verified fact)" if result.citations_fallback else ""
    print(f"\nCitations{note}:")
    for c in citations:
        quote = " ".join(c.quote.split())
        print(f"  [{c.fact_id or '-'}] {c.where} ({c.source})")
        print(f'      "{quote}"')
