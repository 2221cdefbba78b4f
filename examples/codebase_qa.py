"""Questions about a codebase, answered with evidence cited by file and line.

The repository is ingested into the shared index (chunked along definitions, each chunk
headed by its file, module and enclosing class); each question is answered by
retrieve-then-reason over every file of it: verbatim excerpts, checked against the
source, cited as ``path:line``.

    .venv/bin/python examples/codebase_qa.py [--repo PATH] [--questions FILE.jsonl --limit N]
        [--model M --api-base URL] [QUESTION ...]

The default repository is longdoc's own ``retrieval`` package. ``--questions`` reads JSON
lines with a ``question`` field, e.g. ../shared/data/qa/swe_qa_requests.jsonl with
``--repo ../shared/data/code/requests``. The embedded SmolLM2-135M shows the plumbing only.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import longdoc
from longdoc.cli.core import add_model_options, settings_from_args
from longdoc.retrieval import Index

REPO = Path(longdoc.__file__).resolve().parent / "retrieval"
QUESTIONS = ["How does hybrid search combine the dense and the BM25 rankings?"]


def _questions(args: argparse.Namespace) -> list[str]:
    if args.questions is None:
        return args.question or QUESTIONS
    lines = args.questions.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()][: args.limit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("question", nargs="*", metavar="QUESTION")
    parser.add_argument("--repo", type=Path, default=REPO, help="a source tree (default: ours)")
    parser.add_argument("--questions", type=Path, help="JSON lines with a 'question' field")
    parser.add_argument("--limit", type=int, default=3, help="questions read from --questions")
    add_model_options(parser)  # the CLI's --model, --api-base, --context-window, --no-cache
    args = parser.parse_args()
    repo = args.repo.resolve()
    with longdoc.Gateway(settings_from_args(args)) as gateway:
        index = Index(settings=gateway.settings)
        index.ingest([repo])  # unchanged files are not embedded again
        files = [d for d in index.list_documents() if d.doc_id.startswith(f"{repo.name}/")]
        print(f"{repo.name}: {len(files)} files, {sum(d.chunks for d in files)} chunks indexed")
        for question in _questions(args):
            result = longdoc.ask(
                question, doc=f"{repo.name}/*", strategy="reason", index=index, gateway=gateway
            )
            print(f"\nQ: {question}\nA: {result.answer}")
            for c in result.citations:
                lines = [x.strip() for x in c.quote.splitlines() if any(ch.isalnum() for ch in x)]
                print(f"  [{c.fact_id}] {c.where}: {(lines or [''])[0][:90]!r}")


if __name__ == "__main__":
    main()
