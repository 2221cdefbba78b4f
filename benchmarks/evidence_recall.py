"""Evidence recall of retrieve-then-reason against HotpotQA's supporting facts, for any model.

All paragraphs of the 100 HotpotQA dev examples in ../shared/data (two gold
paragraphs and eight distractors each, repeats kept once) become ONE document,
shuffled with a fixed seed and ingested into its own Index collection. For each
question the ``reason`` pipeline runs over that document, and we measure:

* candidate recall: the share of gold supporting sentences inside the retrieved
  candidates (what the extractor could see: an upper bound for the rest);
* citation recall: the share of gold supporting sentences covered by the
  verified citations of the result (a sentence counts as covered when
  citations overlap at least half of its characters);
* the extraction's hallucination rate (dropped / extracted), and whether the
  answer contains the reference answer (case-insensitive).

    .venv/bin/python benchmarks/evidence_recall.py --model hosted_vllm/Qwen/Qwen2.5-7B-Instruct \\
        --api-base http://gpu:8000/v1 --context-window 32768
    .venv/bin/python benchmarks/evidence_recall.py --limit 10        # embedded model

With the embedded SmolLM2-135M the figures show the plumbing works; they say
nothing about the quality of the method.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import add_model_args, model_overrides, require_data

DATA = "qa/hotpotqa_dev_sample100.json"
DOC_ID = "hotpotqa_dev_100"
Span = tuple[int, int]


def build_document(examples: list[dict[str, Any]]) -> tuple[str, list[list[Span]]]:
    """The one document, and per example the char spans of its gold supporting sentences."""
    paragraphs: dict[tuple[str, tuple[str, ...]], None] = {}
    for ex in examples:
        paragraphs[(ex["title_a"], tuple(ex["para_a"]))] = None
        paragraphs[(ex["title_b"], tuple(ex["para_b"]))] = None
        for title, sentences, _score in ex["distractors"]:
            paragraphs[(title, tuple(sentences))] = None
    order = list(paragraphs)
    random.Random(0).shuffle(order)  # gold paragraphs must not sit side by side
    text, spans = "", {}
    for title, sentences in order:
        text += ("\n\n" if text else "") + title + "\n"
        starts = []
        for sentence in sentences:
            lead = len(sentence) - len(sentence.lstrip())
            starts.append((len(text) + lead, len(text) + len(sentence.rstrip())))
            text += sentence
        spans[(title, sentences)] = starts
    gold = []
    for ex in examples:
        a = spans[(ex["title_a"], tuple(ex["para_a"]))]
        b = spans[(ex["title_b"], tuple(ex["para_b"]))]
        ids_a, ids_b = ex["supporting_facts"]
        gold.append([a[i] for i in ids_a if i < len(a)] + [b[i] for i in ids_b if i < len(b)])
    return text, gold


def covered(gold: Span, spans: list[Span]) -> bool:
    """Whether ``spans`` overlap at least half of the characters of ``gold``."""
    hit = set()
    for s, e in spans:
        hit.update(range(max(s, gold[0]), min(e, gold[1])))
    return len(hit) * 2 >= gold[1] - gold[0]


def run_one(rtr: Any, ex: dict[str, Any], gold: list[Span], data_dir: Path) -> dict[str, Any]:
    """One question through the pipeline, scored against its gold sentences.

    A question whose run fails is reported and the benchmark goes on; when only the
    reasoner's reply failed to validate, the verified facts it was shown count as cited.
    """
    from longdoc.errors import LongdocError, ReasonerOutputError

    started, before = time.perf_counter(), rtr.gateway.usage()
    run_id = rtr.run_id_for(ex["question"], doc_ids=[DOC_ID])
    row: dict[str, Any] = {"gold": len(gold), "error": 0, "cited": 0, "answer_ok": False}
    row.update(extracted=0, verified=0, dropped=0)
    try:
        result = rtr.run(ex["question"], doc_ids=[DOC_ID], run_id=run_id)
        cited = [(c.char_start, c.char_end) for c in result.citations or []]
        row.update(
            cited=sum(covered(g, cited) for g in gold),
            extracted=result.facts_extracted or 0,
            verified=result.facts_verified or 0,
            dropped=result.facts_dropped or 0,
            answer_ok=ex["answer"].lower() in result.answer.lower(),
            dropped_example=(result.dropped_sentences or [""])[0],
        )
    except ReasonerOutputError as e:
        row["error"] = 1
        cited = [(c.char_start, c.char_end) for c in e.facts]
        row.update(cited=sum(covered(g, cited) for g in gold), extracted=e.facts_extracted)
        row.update(verified=e.facts_extracted - e.facts_dropped, dropped=e.facts_dropped)
        print(f"  reasoner failed: {str(e)[:200]}", file=sys.stderr)
    except LongdocError as e:
        row["error"] = 1
        print(f"  failed: {str(e)[:200]}", file=sys.stderr)
    groups = json.loads((data_dir / "runs" / run_id / "groups.json").read_text())
    candidates = [(c["char_start"], c["char_end"]) for g in groups for c in g]
    total = (rtr.gateway.usage() - before).total
    row.update(
        in_candidates=sum(covered(g, candidates) for g in gold),
        calls=total.calls,
        tokens=total.total_tokens,
        seconds=time.perf_counter() - started,
    )
    return row


def report(rows: list[dict[str, Any]]) -> None:
    """Print the totals."""

    def total(key: str) -> int:
        return sum(r[key] for r in rows)

    gold, extracted = max(1, total("gold")), total("extracted")
    rate = f"{total('dropped') / extracted:.2f}" if extracted else "n/a (nothing extracted)"
    print(f"questions            {len(rows)} ({total('error')} failed, see above)")
    print(f"gold sentences       {total('gold')}")
    print(f"candidate recall     {total('in_candidates') / gold:.2f}")
    print(f"citation recall      {total('cited') / gold:.2f}")
    print(
        f"extracted/verified/dropped  {extracted}/{total('verified')}/{total('dropped')}"
        f"  (hallucination rate {rate})"
    )
    print(f"answer has reference {total('answer_ok') / max(1, len(rows)):.2f}")
    print(
        f"calls {total('calls')}, tokens {total('tokens')}, "
        f"seconds {sum(r['seconds'] for r in rows):.1f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    add_model_args(parser)
    parser.add_argument("--limit", type=int, default=None, help="first N questions (of 100)")
    parser.add_argument("--k", type=int, default=None, help="top chunks retrieved per question")
    parser.add_argument("--neighbours", type=int, default=None)
    args = parser.parse_args()
    data = require_data(DATA) / DATA
    examples = json.loads(data.read_text(encoding="utf-8"))
    text, gold = build_document(examples)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["LONGDOC_DATA_DIR"] = tmp  # fresh cache and checkpoints: nothing is reused
        rows = evaluate(args, examples, text, gold, Path(tmp))
    report(rows)
    return 0


def evaluate(
    args: argparse.Namespace,
    examples: list[dict[str, Any]],
    text: str,
    gold: list[list[Span]],
    data_dir: Path,
) -> list[dict[str, Any]]:
    """Ingest the document, then run every question; print one line per question."""
    from longdoc.agents.gateway import Gateway
    from longdoc.config import load_settings
    from longdoc.retrieval import Index
    from longdoc.workflows.reason.graph import RetrieveThenReason

    overrides = model_overrides(args)
    settings = load_settings(data_dir=data_dir, chroma_host=None, **overrides)
    index = Index(collection="hotpotqa_evidence", settings=settings)
    t0 = time.perf_counter()
    index.ingest_text(text, DOC_ID)
    print(
        f"model {settings.model}, window {settings.context_window}; one document of "
        f"{len(text.split())} words, {index.get_document(DOC_ID).chunks} chunks, ingested in "
        f"{time.perf_counter() - t0:.0f} s\n"
    )
    rows = []
    with Gateway(settings) as gateway:
        rtr = RetrieveThenReason(gateway, index=index, k=args.k, neighbours=args.neighbours)
        for n, ex in enumerate(examples[: args.limit] if args.limit else examples):
            rows.append(run_one(rtr, ex, gold[n], data_dir))
            r = rows[-1]
            print(
                f"  q{n}: gold {r['gold']}, in candidates {r['in_candidates']}, cited "
                f"{r['cited']}, extracted {r['extracted']}, dropped {r['dropped']}",
                file=sys.stderr,
            )
            if r.get("dropped_example"):  # so a reader can judge what "hallucinated" means here
                print(f"      e.g. dropped: {r['dropped_example'][:150]!r}", file=sys.stderr)
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
