"""vanilla vs rag vs chain vs reason on LongBench v2 dev questions, side by side, for any model.

For each multiple-choice question (context of 4k-40k words) every strategy gets
the same question, choices and document through the same gateway; the letter in
its answer is compared with the reference. Printed per strategy: accuracy,
calls, prompt and completion tokens, seconds; for ``reason`` also the
hallucination rate of its extraction step (sentences dropped as not found in
the document / sentences extracted).

    .venv/bin/python benchmarks/strategies.py --model hosted_vllm/Qwen/Qwen2.5-7B-Instruct \
        --api-base http://gpu:8000/v1 --context-window 32768
    .venv/bin/python benchmarks/strategies.py --limit 2                     # embedded model

With the embedded SmolLM2-135M the figures show the plumbing works; they say
nothing about answer quality.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import SHARED_DATA, add_model_args, model_overrides

DATA = SHARED_DATA / "qa" / "longbench_v2_dev.jsonl"
STRATEGIES = ("vanilla", "rag", "chain", "reason")
INDEXED = ("rag", "reason")  # strategies that read the question's document from the index
_LETTER = re.compile(r"\b([ABCD])\b")


def question_text(item: dict[str, Any]) -> str:
    choices = "\n".join(f"({c}) {item[f'choice_{c}']}" for c in "ABCD")
    return (
        f"{item['question']}\n\nChoices:\n{choices}\n\n"
        "Answer with the letter of the correct choice (A, B, C or D), then one sentence of why."
    )


def letter_of(answer: str) -> str | None:
    match = _LETTER.search(answer.upper())
    return match.group(1) if match else None


def load_items(limit: int | None, max_words: int | None) -> list[dict[str, Any]]:
    items = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line]
    if max_words:
        items = [i for i in items if len(i["context"].split()) <= max_words]
    items.sort(key=lambda i: len(i["context"]))  # short first: partial runs cover more
    return items[:limit] if limit else items


def run_one(strategy: str, item: dict[str, Any], n: int, gateway: Any, index: Any) -> dict:
    from longdoc.api import aask
    from longdoc.errors import LongdocError
    from longdoc.workflows.results import ReasonResult

    started = time.perf_counter()
    kwargs: dict[str, Any] = {"strategy": strategy, "gateway": gateway}
    if strategy in INDEXED:
        kwargs.update(doc=f"contexts/q{n}", index=index)  # folder ingest ids
    else:
        kwargs.update(text=item["context"])
    before = gateway.usage()
    try:
        result = gateway.run_sync(aask(question_text(item), **kwargs))
    except LongdocError as e:
        # A run that fails (e.g. a reply that never validates) is a wrong answer, reported;
        # the other questions and strategies still run. Its calls still count.
        print(f"  q{n} {strategy} failed: {str(e)[:200]}", file=sys.stderr)
        result = None
    total = (gateway.usage() - before).total
    return {
        "correct": result is not None and letter_of(result.answer) == item["answer"],
        "calls": total.calls,
        "prompt": total.prompt_tokens,
        "completion": total.completion_tokens,
        "seconds": time.perf_counter() - started,
        "extracted": result.facts_extracted if isinstance(result, ReasonResult) else 0,
        "dropped": result.facts_dropped if isinstance(result, ReasonResult) else 0,
    }


def build_index(items: list[dict[str, Any]], data_dir: Path) -> Any:
    from longdoc.retrieval import Index

    folder = data_dir / "contexts"
    folder.mkdir(parents=True, exist_ok=True)
    for n, item in enumerate(items):
        (folder / f"q{n}").write_text(item["context"], encoding="utf-8")
    index = Index(collection="longbench_v2")
    index.ingest([folder])
    return index


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    add_model_args(parser)
    parser.add_argument("--limit", type=int, default=None, help="first N questions (shortest)")
    parser.add_argument("--max-words", type=int, default=None, help="skip longer contexts")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    args = parser.parse_args()
    if not DATA.is_file():
        print(f"LongBench v2 data not found at {DATA}: nothing to run (it ships in ../shared/data)")
        return 0
    from longdoc.agents.gateway import Gateway
    from longdoc.config import load_settings

    overrides = model_overrides(args)
    items = load_items(args.limit, args.max_words)
    if not items:
        print(f"no question fits --max-words {args.max_words} (the shortest context is longer)")
        return 1
    strategies = [s for s in args.strategies.split(",") if s]
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["LONGDOC_DATA_DIR"] = tmp  # fresh cache and checkpoints: nothing is reused
        gateway = Gateway(load_settings(**overrides))
        index = build_index(items, Path(tmp)) if set(INDEXED) & set(strategies) else None
        print(
            f"model {gateway.settings.model}, window {gateway.context_window}, "
            f"{len(items)} questions\n"
        )
        rows = {s: [] for s in strategies}
        for n, item in enumerate(items):
            for strategy in strategies:
                rows[strategy].append(run_one(strategy, item, n, gateway, index))
                print(
                    f"  q{n} {strategy:<8} {'right' if rows[strategy][-1]['correct'] else 'wrong'}",
                    file=sys.stderr,
                )
        gateway.close()
    print_table(rows)
    return 0


def print_table(rows: dict[str, list[dict[str, Any]]]) -> None:
    """One line per strategy; the hallucination rate applies to ``reason`` only."""
    print(
        f"{'strategy':<10}{'accuracy':>10}{'calls':>8}{'prompt tok':>12}{'compl tok':>11}"
        f"{'s':>9}{'halluc':>16}"
    )
    for strategy, results in rows.items():
        count = max(1, len(results))
        extracted = sum(r["extracted"] for r in results)
        dropped = sum(r["dropped"] for r in results)
        halluc = "-"
        if strategy == "reason":
            rate = f"{dropped / extracted:.2f}" if extracted else "n/a"
            halluc = f"{rate} ({dropped}/{extracted})"
        print(
            f"{strategy:<10}{sum(r['correct'] for r in results) / count:>10.2f}"
            f"{sum(r['calls'] for r in results):>8}{sum(r['prompt'] for r in results):>12}"
            f"{sum(r['completion'] for r in results):>11}{sum(r['seconds'] for r in results):>9.1f}"
            f"{halluc:>16}"
        )


if __name__ == "__main__":
    raise SystemExit(main())
