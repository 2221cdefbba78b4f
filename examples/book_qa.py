"""Questions about a book, each routed by ``strategy="auto"``: one direct call when the book
fits the window, else the chain of agents for a question about the whole book and
retrieve-then-reason (verified, cited quotes) for a question about one place in it.

    .venv/bin/python examples/book_qa.py [--book PATH] [--model M --api-base URL] [QUESTION ...]

The default book is two chapters of Persuasion shipped in examples/data (the whole novel
is examples/data/persuasion.txt). The embedded SmolLM2-135M shows the plumbing only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import longdoc
from longdoc.cli.core import add_model_options, settings_from_args
from longdoc.retrieval import Index

BOOK = Path(__file__).resolve().parent / "data" / "persuasion_ch1-2.txt"
QUESTIONS = [
    "Which book did Sir Walter Elliot read?",  # one place in the book: reason
    "How do the Elliots' money troubles develop over the course of the book?",  # chain
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("questions", nargs="*", default=QUESTIONS, metavar="QUESTION")
    parser.add_argument("--book", type=Path, default=BOOK, help="a text file (default: shipped)")
    add_model_options(parser)  # the CLI's --model, --api-base, --context-window, --no-cache
    args = parser.parse_args()
    with longdoc.Gateway(settings_from_args(args)) as gateway:
        index = Index(settings=gateway.settings)
        index.ingest([args.book])  # an unchanged book is not embedded again
        for question in args.questions:
            result = longdoc.ask(
                question, doc=args.book.name, strategy="auto", index=index, gateway=gateway
            )
            r = result.route
            print(f"Q: {question}")
            print(f"route: {r.method} ({r.why}); {r.calls} calls, {r.tokens} tokens")
            print(f"A: {result.answer}")
            for c in getattr(result.result, "citations", []):
                print(f"  [{c.fact_id}] {c.where}: {' '.join(c.quote.split())!r}")


if __name__ == "__main__":
    main()
