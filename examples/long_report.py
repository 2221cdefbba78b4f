"""A report of a requested length, planned, written section by section, grounded in a book.

Kill it (Ctrl-C) and run it again: finished sections are not written again.

    .venv/bin/python examples/long_report.py [WORDS]

With the embedded SmolLM2-135M keep WORDS small (a few hundred: it writes ~45 tokens/s);
with a real model, 10,000 words and more.
"""

from __future__ import annotations

import sys
from pathlib import Path

import longdoc

BOOK = Path(__file__).resolve().parent / "data" / "persuasion_ch1-2.txt"


def main() -> None:
    words = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    with longdoc.Gateway() as gateway:
        result = longdoc.write(
            "A short report on the Elliot family of Kellynch Hall and its money troubles.",
            words=words,
            evidence=[str(BOOK)],  # a path is ingested into the shared index first
            gateway=gateway,
        )
        out = Path("report.md")
        out.write_text(result.markdown, encoding="utf-8")
        print(
            f"{result.words} words for {words} (S_l {result.length_score:.1f}), "
            f"{len(result.sections)} sections, {result.usage.total.calls} calls -> {out}"
        )


if __name__ == "__main__":
    main()
