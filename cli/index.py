"""``longdoc ingest``, ``longdoc index list|show|rm`` and ``longdoc search``."""

from __future__ import annotations

import argparse
from typing import Any

from longdoc.cli.core import progress

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the retrieval commands to the CLI."""
    ingest = sub.add_parser("ingest", help="load, chunk and embed files and folders")
    ingest.add_argument("paths", nargs="+", metavar="PATH", help="files or folders")
    ingest.add_argument(
        "--prune", action="store_true", help="remove documents whose file is gone from a folder"
    )
    _collection_option(ingest)
    ingest.set_defaults(handler=run_ingest)

    index = sub.add_parser("index", help="list, inspect or delete indexed documents")
    _collection_option(index)
    actions = index.add_subparsers(dest="index_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list documents")
    listing.set_defaults(handler=run_list)
    show = actions.add_parser("show", help="show one document's chunks")
    show.add_argument("doc_id", metavar="ID")
    show.add_argument("--full", action="store_true", help="print whole chunk texts")
    show.set_defaults(handler=run_show)
    rm = actions.add_parser("rm", help="delete a document")
    rm.add_argument("doc_id", metavar="ID")
    rm.set_defaults(handler=run_rm)

    search = sub.add_parser("search", help="search the index, or look a definition up")
    search.add_argument("query", nargs="?", help="what to search for (optional with --symbol)")
    search.add_argument("-k", type=int, default=5, help="hits to return (default 5)")
    search.add_argument("--mode", choices=("dense", "bm25", "hybrid"), default="hybrid")
    search.add_argument(
        "--doc", action="append", metavar="ID", help="only this document (an id or a glob)"
    )
    search.add_argument(
        "--symbol",
        metavar="NAME",
        help="definitions named NAME (exact, then suffix: 'register' finds "
        "'Blueprint.register'); with a query, ranked by it",
    )
    search.add_argument(
        "--language", action="append", metavar="LANG", help="only code in LANG (repeatable)"
    )
    search.add_argument(
        "--path",
        action="append",
        metavar="GLOB",
        help="only documents whose id or path matches GLOB, e.g. 'src/*.py' (repeatable)",
    )
    search.add_argument("--neighbours", type=int, default=0, help="add adjacent chunks")
    search.add_argument(
        "--budget", type=int, help="pack the hits into this many tokens, in document order"
    )
    _collection_option(search)
    search.set_defaults(handler=run_search)


def _collection_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--collection", default="documents", help="Chroma collection (default 'documents')"
    )


def _index(args: argparse.Namespace) -> Any:
    from longdoc.retrieval import Index

    try:  # the model's "Loading weights" bar would garble ours
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    except ImportError:
        pass

    return Index(args.collection)


def run_ingest(args: argparse.Namespace) -> int:
    """Ingest with a progress bar, then print a summary and the problems met."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from longdoc.retrieval import IngestEvent

    console = Console(stderr=True)
    index = _index(args)
    with progress(console, fields="{task.fields[chunks]} chunks", transient=True) as bars:
        task = bars.add_task("scanning", total=None, chunks=0)

        def on_progress(e: IngestEvent) -> None:
            if e.stage == "wait":  # another process holds the index: say why nothing moves
                bars.console.print(escape(e.message))
            name = e.path.rsplit("/", 1)[-1] if e.path else e.stage
            bars.update(
                task,
                total=e.files_total or None,
                completed=e.files_done,
                chunks=e.chunks_embedded,
                description=escape(name[:40]),
            )

        report = index.ingest(args.paths, prune=args.prune, on_progress=on_progress)
    table = Table(title=f"ingest into {index.collection!r} ({report.seconds:.1f}s)")
    for key in report.summary():
        table.add_column(key, justify="right")
    table.add_row(*(str(v) for v in report.summary().values()))
    Console().print(table)
    if report.issues:
        issues = Table(title="problems")
        issues.add_column("file", overflow="fold")
        issues.add_column("problem", overflow="fold")
        issues.add_column("skipped")
        for issue in report.issues:
            issues.add_row(escape(issue.path), escape(issue.reason), "yes" if issue.skipped else "")
        console.print(issues)
    return 0


def run_list(args: argparse.Namespace) -> int:
    """Print the stored documents."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    docs = _index(args).list_documents()
    table = Table(title=f"{len(docs)} document(s)")
    table.add_column("id", overflow="fold")
    for name in ("kind", "chunks", "chars"):
        table.add_column(name)
    table.add_column("source", overflow="fold")
    for d in docs:
        table.add_row(escape(d.doc_id), d.kind, str(d.chunks), str(d.chars), escape(d.source))
    Console().print(table)
    return 0


def run_show(args: argparse.Namespace) -> int:
    """Print one document's metadata and its chunks in order."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    index = _index(args)
    info = index.get_document(args.doc_id)
    console = Console()
    console.print(
        f"[bold]{escape(info.doc_id)}[/] {escape(info.source)}  hash "
        f"{info.content_hash[:12]}  {info.chunks} chunks, {info.chars} chars"
    )
    table = Table("#", "chars", "tokens", "symbol", "text")
    for c in index.read_document(args.doc_id):
        text = c.text if args.full else c.text[:80].replace("\n", " ")
        table.add_row(
            str(c.ordinal),
            f"{c.char_start}-{c.char_end}",
            str(c.token_count),
            escape(c.symbol or ""),
            escape(text),
        )
    console.print(table)
    return 0


def run_rm(args: argparse.Namespace) -> int:
    """Delete one document."""
    from rich.console import Console
    from rich.markup import escape

    n = _index(args).delete_document(args.doc_id)
    Console().print(f"deleted {escape(args.doc_id)} ({n} chunks)")
    return 0


def run_search(args: argparse.Namespace) -> int:
    """Print hits, definitions with ``--symbol``, or packed passages with ``--budget``."""
    from rich.console import Console

    from longdoc.errors import LongdocError

    if not (args.query or "").strip() and not args.symbol:
        raise LongdocError("search needs a QUERY or --symbol NAME", option="query")
    index = _index(args)
    console = Console()
    doc_ids = None
    if args.doc:  # an unknown id is an error naming it (as for ask), not an empty table
        from longdoc.workflows.sources import select_documents

        doc_ids = select_documents(index, args.doc)
    filters = {"doc_ids": doc_ids, "languages": args.language, "paths": args.path}
    if args.symbol:
        hits = index.find_symbol(args.symbol, k=args.k, query=args.query, **filters)
        if args.budget is not None:
            from longdoc.retrieval.packing import pack

            _print_passages(console, pack(hits, args.budget))
        else:
            _print_definitions(console, hits, args.symbol)
    elif args.budget is not None:
        passages = index.retrieve(
            args.query, args.budget, k=max(args.k, 5), mode=args.mode,
            neighbours=args.neighbours, **filters,
        )  # fmt: skip
        _print_passages(console, passages)
    else:
        hits = index.search(
            args.query, args.k, mode=args.mode, neighbours=args.neighbours, **filters
        )
        _print_hits(console, hits, f"{args.mode} search")
    return 0


def _print_passages(console: Any, passages: list[Any]) -> None:
    from rich.markup import escape

    for p in passages:
        where = f"chars {p.char_start}-{p.char_end}"
        if p.line_start is not None:  # code: the lines people cite
            where = f"lines {p.line_start}-{p.line_start + p.text.rstrip().count(chr(10))}"
        console.print(f"[bold]{escape(p.doc_id)}[/] {where} ({p.token_count} tokens)")
        console.print(escape(p.text), highlight=False)


def _print_definitions(console: Any, hits: list[Any], name: str) -> None:
    """Each chunk of each definition found: ``doc:lines symbol (kind)``, then its code."""
    from rich.markup import escape

    if not hits:
        console.print(f"no definition named {escape(repr(name))}", highlight=False)
    for h in hits:
        kind = f" ({h.chunk.symbol_kind})" if h.chunk.symbol_kind else ""
        console.print(
            f"[bold]{escape(_where(h.chunk))}[/] {escape(h.chunk.symbol or '')}{kind}",
            highlight=False,
        )
        console.print(escape(h.chunk.text), highlight=False)


def _where(chunk: Any) -> str:
    """``doc_id:first-last`` for a chunk with lines (code), else the doc id."""
    if chunk.line_start is None:
        return str(chunk.doc_id)
    return f"{chunk.doc_id}:{chunk.line_start}-{chunk.line_end}"


def _print_hits(console: Any, hits: list[Any], title: str) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table("rank", "score", title=title)
    table.add_column("document", overflow="fold")
    table.add_column("#")
    table.add_column("symbol", overflow="fold")
    table.add_column("text")
    for h in hits:
        table.add_row(
            str(h.rank + 1),
            f"{h.score:.3f}",
            escape(_where(h.chunk)),
            str(h.chunk.ordinal),
            escape(h.chunk.symbol or ""),
            escape(h.chunk.text[:100].replace("\n", " ")),
        )
    console.print(table)
