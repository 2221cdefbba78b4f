"""Answers with verified citations: retrieve, extract verbatim evidence, check it, then reason.

Every quoted sentence below was found in the book at the printed character offsets;
sentences the model invented are dropped and counted, never shown as evidence.

    .venv/bin/python examples/cited_answers.py [QUESTION]

The embedded SmolLM2-135M shows the plumbing only; point LONGDOC_MODEL/LONGDOC_API_BASE
at a real model (e.g. behind vLLM) for useful answers.
"""

from __future__ import annotations

import sys
from pathlib import Path

import longdoc
from longdoc.retrieval import Index

BOOK = Path(__file__).resolve().parent / "data" / "persuasion_ch1-2.txt"


def main() -> None:
    question = sys.argv[1] if len(sys.argv) > 1 else "Which book did Sir Walter Elliot read?"
    with longdoc.Gateway() as gateway:
        index = Index(settings=gateway.settings)
        index.ingest([BOOK])  # unchanged documents are skipped on the next run
        result = longdoc.ask(
            question, doc=BOOK.name, strategy="reason", index=index, gateway=gateway
        )
        print(result.answer)
        for c in result.citations:
            print(f"  [{c.fact_id}] {c.where}: {c.quote!r}")
        print(
            f"evidence: {result.facts_extracted} extracted, {result.facts_verified} verified, "
            f"{result.facts_dropped} dropped; {result.usage.total.calls} calls"
        )


if __name__ == "__main__":
    main()
