"""A summary of a book longer than the model's window, by the chain of agents: workers read
it part by part and pass notes on; a manager writes the summary. Kill it and run it again:
finished parts are not read again.

    .venv/bin/python examples/book_summary.py [--book PATH] [--model M --api-base URL]

The default book is two chapters of Persuasion shipped in examples/data; the embedded
SmolLM2-135M shows the plumbing only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import longdoc
from longdoc.cli.core import add_model_options, settings_from_args

BOOK = Path(__file__).resolve().parent / "data" / "persuasion_ch1-2.txt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--book", type=Path, default=BOOK, help="a text file (default: shipped)")
    add_model_options(parser)  # the CLI's --model, --api-base, --context-window, --no-cache
    args = parser.parse_args()
    with longdoc.Gateway(settings_from_args(args)) as gateway:
        result = longdoc.summarize(args.book, gateway=gateway, answer_tokens=256)
        print(result.answer)
        usage = result.usage.total
        print(f"-- {result.parts} parts read, {usage.calls} calls, {usage.total_tokens} tokens")


if __name__ == "__main__":
    main()
