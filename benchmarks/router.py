"""strategy="auto": route accuracy, and the tokens auto saves over always-chain and always-reason.

* Route accuracy on QMSum val's held-out meetings (odd positions; the router's labeled
  file is built from the even ones): general queries = global, specific = local.
* LongBench v2 dev: reported only where a global/local type label exists (the file
  has domain / sub_domain / difficulty / length, no question scope: said so).
* Tokens spent by auto vs always-chain vs always-reason over the same held-out QMSum
  questions, each transcript ingested into a real index, with a scripted model
  (deterministic word tokenizer; token counts only, no answer quality). Its extractor
  quotes the first sentence of every excerpt, so reason finds evidence and auto does
  not escalate; a run where it escalates is counted too.
* With ``--model`` / ``--api-base``: the model's own route accuracy with
  ``route_classifier="llm"`` on the same questions.

Targets: route accuracy >= 0.9 on QMSum's labels; on QMSum's specific queries auto
spends <= 0.4x the tokens of always-chain. Run::

    .venv/bin/python benchmarks/router.py [--meetings 6] [--window 4096]
    .venv/bin/python benchmarks/router.py --build-labels  # rewrites route_questions.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED_DATA, add_model_args, model_overrides, require_data, temp_settings

LABELS = Path(__file__).resolve().parents[1] / "workflows" / "route_questions.jsonl"

# A few clearly scoped questions about books and code, so that the classifier is not
# only a meeting classifier (the QMSum part is the measured one).
_EXTRA = {
    "global": [
        "What is the book about?",
        "Give an overview of the novel's plot.",
        "What are the main arguments of the paper?",
        "How does the narrator change over the story?",
        "What does this codebase do overall?",
        "Describe the architecture of the library.",
        "What happens in the story from beginning to end?",
        "What is the paper's contribution?",
        "How do the characters' relationships develop?",
        "Summarize the report.",
    ],
    "local": [
        "Who does Anne marry?",
        "What does the function parse_url return?",
        "What is the name of the captain's ship?",
        "In which year was the treaty signed?",
        "Which exception does the session raise on timeout?",
        "What did the letter say?",
        "Where does the first chapter take place?",
        "What is the default port?",
        "Who proposed the budget cut?",
        "What colour was the dress at the ball?",
    ],
}


def meetings() -> list[dict[str, Any]]:
    path = require_data("qa/qmsum_val.jsonl") / "qa" / "qmsum_val.jsonl"
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def labeled(rows: list[dict[str, Any]], half: int) -> list[dict[str, str]]:
    """QMSum questions of the meetings at positions ``half``, ``half + 2``, ..."""
    out = []
    for m, row in enumerate(rows):
        if m % 2 != half:
            continue
        out += [{"question": q["query"], "scope": "global", "source": f"qmsum:{m}"}
                for q in row["general_query_list"]]  # fmt: skip
        out += [{"question": q["query"], "scope": "local", "source": f"qmsum:{m}"}
                for q in row["specific_query_list"]]  # fmt: skip
    return out


def build_labels() -> None:
    rows = labeled(meetings(), 0)
    rows += [{"question": q, "scope": s, "source": "handwritten"} for s, qs in _EXTRA.items()
             for q in qs]  # fmt: skip
    LABELS.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    print(f"wrote {len(rows)} labeled questions to {LABELS}")


def transcript(row: dict[str, Any]) -> str:
    return "\n".join(f"{t['speaker']}: {t['content']}" for t in row["meeting_transcripts"])


def accuracy(held: list[dict[str, str]]) -> dict[str, float]:
    from longdoc.workflows.route import embedding_scope, rule_scope

    questions = [r["question"] for r in held]
    learned = embedding_scope(questions)
    got = [rule_scope(q) or s for q, s in zip(questions, learned, strict=True)]
    right = [g == r["scope"] for g, r in zip(got, held, strict=True)]
    by = {s: [ok for ok, r in zip(right, held, strict=True) if r["scope"] == s]
          for s in ("global", "local")}  # fmt: skip
    return {"all": sum(right) / len(right), "n": len(right),
            **{f"{s} ({len(v)})": sum(v) / len(v) for s, v in by.items()}}  # fmt: skip


def longbench_note() -> str:
    path = SHARED_DATA / "qa" / "longbench_v2_dev.jsonl"
    if not path.exists():
        return "LongBench v2 dev: file missing"
    first = json.loads(path.read_text("utf-8").splitlines()[0])
    has = [k for k in first if re.search(r"scope|type|global|local", k, re.I)]
    if not has:
        return (f"LongBench v2 dev: no global/local type label (fields: {', '.join(first)}): "
                "route accuracy not measured there")  # fmt: skip
    return f"LongBench v2 dev: label fields {has} (not yet scored)"


def responder(messages: list[dict[str, str]], params: dict[str, Any]) -> str:
    """Fill every cap (the estimates' upper bound), quote one verifiable sentence per excerpt."""
    user = messages[-1]["content"]
    if "find evidence" in messages[0]["content"]:
        found = re.search(r'<excerpt id="(P\d+)">\n(.+?)(?:\n|$)', user)
        if found:
            return json.dumps({"sentences": [{"chunk": found.group(1),
                                              "sentence": found.group(2)[:200]}]})  # fmt: skip
        return json.dumps({"sentences": []})
    if "F1" in user and "answer" in messages[0]["content"]:
        return json.dumps({"answer": "scripted", "fact_ids": ["F1"]})
    return "note " * 4000


async def spend(
    settings: Any, index: Any, doc_id: str, question: str, strategy: str, run_id: str
) -> tuple[int, int, str]:
    import longdoc
    from longdoc.agents.gateway import Gateway
    from longdoc.testing.scripted import ScriptedModel

    async with Gateway(settings, backend=ScriptedModel(responder)) as gw:
        # Own run ids: a strategy must not resume the run auto made with the same method.
        extra = {"strategy": strategy, "gateway": gw, "index": index, "doc": doc_id,
                 "run_id": run_id}  # fmt: skip
        result = await longdoc.aask(question, **extra)
    route = getattr(result, "route", None)
    return result.usage.total.calls, result.usage.total.total_tokens, route.why if route else "-"


def tokens(rows: list[dict[str, Any]], held_meetings: list[int], window: int) -> None:
    from longdoc.retrieval import Index

    update = {"context_window": window, "max_output_tokens": 256, "cache": False}
    settings = temp_settings().model_copy(update=update)
    index = Index(settings=settings)
    totals = {s: {"calls": 0, "tokens": 0} for s in ("auto", "chain", "reason")}
    whys: dict[str, int] = {}
    n = 0
    for m in held_meetings:
        doc_id = f"qmsum-{m}"
        index.ingest_text(transcript(rows[m]), doc_id=doc_id)
        before = {s: t["tokens"] for s, t in totals.items()}
        for i, q in enumerate(rows[m]["specific_query_list"]):
            for strategy in totals:
                run_id = f"{strategy}-{m}-{i}"
                calls, used, why = asyncio.run(
                    spend(settings, index, doc_id, q["query"], strategy, run_id)
                )
                totals[strategy]["calls"] += calls
                totals[strategy]["tokens"] += used
                if strategy == "auto":
                    whys[why] = whys.get(why, 0) + 1
            n += 1
        spent = {s: t["tokens"] - before[s] for s, t in totals.items()}
        words = len(transcript(rows[m]).split())
        print(f"  meeting {m:2d} ({words:6d} words): auto/chain "
              f"{spent['auto'] / max(1, spent['chain']):.3f}", flush=True)  # fmt: skip
    print(f"\ntokens over {n} specific queries of {len(held_meetings)} held-out meetings "
          f"(window {window}, scripted model):")  # fmt: skip
    for s, t in totals.items():
        print(f"  {s:7s} calls {t['calls']:6d}  tokens {t['tokens']:9d}")
    print(f"  auto routes: {whys}")
    auto = totals["auto"]["tokens"]
    print(f"  auto / always-chain  = {auto / totals['chain']['tokens']:.3f}  (target <= 0.4)")
    print(f"  auto / always-reason = {auto / totals['reason']['tokens']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build-labels", action="store_true", help="rewrite the labeled file")
    parser.add_argument("--meetings", type=int, default=4, help="held-out meetings for tokens")
    parser.add_argument("--window", type=int, default=8192, help="default: the settings' default")
    add_model_args(parser)
    args = parser.parse_args()
    if args.build_labels:
        build_labels()
        return
    rows = meetings()
    held = labeled(rows, 1)
    acc = accuracy(held)
    print(f"route accuracy on QMSum val held-out meetings (n={acc.pop('n')}): "
          + ", ".join(f"{k} {v:.3f}" for k, v in acc.items()) + "  (target >= 0.9)")  # fmt: skip
    print(longbench_note())
    if args.model or args.api_base:
        llm_accuracy(held, args)
    held_meetings = [m for m in range(len(rows)) if m % 2 == 1][: args.meetings]
    tokens(rows, held_meetings, args.window)


def llm_accuracy(held: list[dict[str, str]], args: argparse.Namespace) -> None:
    from longdoc.agents.gateway import Gateway
    from longdoc.workflows.route import classify

    update = {**model_overrides(args), "route_classifier": "llm"}
    settings = temp_settings().model_copy(update=update)

    async def run() -> float:
        async with Gateway(settings) as gw:
            got = await asyncio.gather(*(classify(gw, r["question"]) for r in held))
        return sum(g[0] == r["scope"] for g, r in zip(got, held, strict=True)) / len(held)

    print(f"route accuracy with route_classifier=llm ({args.model}): {asyncio.run(run()):.3f}")


if __name__ == "__main__":
    main()
