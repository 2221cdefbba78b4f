"""Long-output writing: prompt tokens against output length, and LongBench-Write's S_l.

Part 1 (always, scripted model): prompt tokens in total and per call for 2k, 5k,
10k and 20k-word targets, for our writer and for the AgentWrite scheme
re-implemented here as a baseline (same outline, same leaves, but each call sees
all text written so far, as in AgentWrite's ``write`` step). Tokens are counted
by the scripted tokenizer (words and punctuation marks). Target: our 10k/2k
total ratio <= 6 (linear growth is 5).

Part 2 (``--longbench``): S_l (repeated paragraphs counted once; the raw S_l of
every word beside it) and words produced on
../shared/data/writing/longbench_write_en.jsonl with any litellm model. With the
embedded model the figures record plumbing only, not writing quality.

    .venv/bin/python benchmarks/writing.py
    flock /tmp/longdoc-heavy.lock .venv/bin/python benchmarks/writing.py --longbench \\
        --model local --limit 2 --context-window 2048 --max-leaf-words 200
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _common import add_model_args, model_overrides, require_data

TARGETS = (2000, 5000, 10000, 20000)
INSTRUCTION = "Write a detailed report on the history and future of urban public transport."
_ABOUT = re.compile(r"about (\d+) words")

# AgentWrite's write step (Bai et al. 2024, LongWriter), in substance: the instruction,
# the plan, and ALL text already written, then "continue writing step k".
AGENTWRITE = (
    "You are an excellent writing assistant. I will give you an original writing "
    "instruction and my planned writing steps. I will also provide you with the text I "
    "have already written. Please help me continue writing the next paragraph based on "
    "the writing instruction, writing steps, and the already written text.\n\n"
    "Writing instruction:\n{instruction}\n\nWriting steps:\n{plan}\n\n"
    "Already written text:\n{text}\n\nPlease integrate the original writing instruction, "
    "writing steps, and the already written text, and now continue writing {step} for me, "
    "in about {words} words. Remember to only output the paragraph you write, without "
    "repeating the already written text."
)


def _settings(data_dir: str, **kw: object):  # -> Settings
    from longdoc.config import load_settings

    return load_settings(data_dir=data_dir, chroma_host=None, **kw)


def ours(target: int, data_dir: str) -> dict:
    """Our writer with the scripted exact-length model."""
    from longdoc.agents.gateway import Gateway
    from longdoc.testing.scripted import ScriptedModel
    from longdoc.testing.writer import ExactWriter
    from longdoc.workflows.writing.graph import LongWriter
    from longdoc.workflows.writing.outline import leaves

    model = ScriptedModel(ExactWriter(plan=lambda w: [w // 6] * 6))
    settings = _settings(data_dir, context_window=131072, max_output_tokens=512)
    gateway = Gateway(settings, backend=model)
    result = LongWriter(gateway).run(INSTRUCTION, words=target)
    per_call = [model.count_messages(c.messages) for c in model.calls]
    writer = [model.count_messages(c.messages) for c in model.calls if "writer of one" in
              c.messages[0]["content"]]  # fmt: skip
    return {
        "calls": len(per_call),
        "prompt": sum(per_call),
        "max": max(per_call),
        "writer_first_last": (writer[0], writer[-1]),
        "leaves": [(n.title, n.words) for n in leaves(result.outline)],
        "title": result.title,
        "words": result.words,
        "words_distinct": result.words_distinct,
        "s_l": result.length_score,
        "s_l_raw": result.length_score_raw,
    }


def agentwrite(target: int, plan: list[tuple[str, int]], title: str, data_dir: str) -> dict:
    """The AgentWrite scheme on the same leaves: every call carries all text so far."""
    from longdoc.agents.gateway import Gateway
    from longdoc.testing.scripted import ScriptedModel
    from longdoc.testing.writer import words_text

    def respond(messages: list, params: dict) -> str:
        user = messages[-1]["content"]
        return words_text(int(_ABOUT.findall(user)[-1]), user[-300:])

    model = ScriptedModel(respond)
    gateway = Gateway(_settings(data_dir, context_window=262144, max_output_tokens=512),
                      backend=model)  # fmt: skip
    plan_text = "\n".join(
        f"Paragraph {i} - Main Point: {t} - Word Count: {w} words"
        for i, (t, w) in enumerate(plan, 1)
    )
    # AgentWrite plans in one call; count it like ours (its reply is the plan).
    gateway.complete(f"{INSTRUCTION}\nPlan the writing steps in about {len(plan) * 20} words.",
                     stage="plan", max_tokens=2048)  # fmt: skip
    text = f"# {title}"
    for i, (_t, words) in enumerate(plan, 1):
        prompt = AGENTWRITE.format(
            instruction=INSTRUCTION, plan=plan_text, text=text, step=f"paragraph {i}", words=words
        )
        reply = gateway.complete(prompt, stage="write", max_tokens=int(words * 1.6) + 32)
        text += "\n\n" + reply.text
    per_call = [model.count_messages(c.messages) for c in model.calls]
    return {"calls": len(per_call), "prompt": sum(per_call), "max": max(per_call)}


def token_growth() -> None:
    """Part 1: print prompt tokens per target, ours beside AgentWrite's."""
    rows = {}
    for target in TARGETS:
        with tempfile.TemporaryDirectory() as d1, tempfile.TemporaryDirectory() as d2:
            mine = ours(target, d1)
            base = agentwrite(target, mine["leaves"], mine["title"], d2)
        rows[target] = (mine, base)
    print("prompt tokens (scripted tokenizer: words and punctuation), same outline for both")
    header = f"{'target':>7} {'leaves':>6} | {'ours calls':>10} {'total':>9} {'per call':>8} "
    header += f"{'max':>6} | {'AgentWrite calls':>16} {'total':>10} {'per call':>8} {'max':>7}"
    print(header)
    for target, (m, b) in rows.items():
        print(
            f"{target:>7} {len(m['leaves']):>6} | {m['calls']:>10} {m['prompt']:>9} "
            f"{m['prompt'] / m['calls']:>8.0f} {m['max']:>6} | {b['calls']:>16} {b['prompt']:>10} "
            f"{b['prompt'] / b['calls']:>8.0f} {b['max']:>7}"
        )
    for target, (m, _b) in rows.items():
        first, last = m["writer_first_last"]
        print(f"  {target:>6} words: ours wrote {m['words']}, {m['words_distinct']} distinct "
              f"(S_l {m['s_l']:.1f}, raw {m['s_l_raw']:.1f}); "
              f"first/last writer prompt {first}/{last} tokens")  # fmt: skip
    ratio = rows[10000][0]["prompt"] / rows[2000][0]["prompt"]
    base_ratio = rows[10000][1]["prompt"] / rows[2000][1]["prompt"]
    verdict = "OK" if ratio <= 6 else "ABOVE TARGET"
    print(f"10k/2k total prompt tokens: ours {ratio:.2f} (target <= 6: {verdict}); "
          f"AgentWrite {base_ratio:.2f}")  # fmt: skip


def longbench(args: argparse.Namespace) -> None:
    """Part 2: S_l and words on LongBench-Write prompts with a real model."""
    from longdoc.agents.gateway import Gateway
    from longdoc.workflows.writing.graph import LongWriter

    data = require_data("writing/longbench_write_en.jsonl") / "writing/longbench_write_en.jsonl"
    rows = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines() if line]
    rows = rows[args.start : args.start + args.limit]
    overrides = model_overrides(args) | {"writing_max_leaf_words": args.max_leaf_words}
    scores, raw_scores = [], []
    with tempfile.TemporaryDirectory() as d:
        gateway = Gateway(_settings(d, **overrides))
        for i, row in enumerate(rows, start=args.start):
            result = LongWriter(gateway).run(row["prompt"], words=int(row["length"]))
            scores.append(result.length_score)
            raw_scores.append(result.length_score_raw)
            u = result.usage.total
            print(
                f"[{i}] required {row['length']:>6} words, produced {result.words:>6} "
                f"({result.words_distinct} without {result.repeats_left} repeated paragraphs), "
                f"S_l {result.length_score:5.1f} (raw {result.length_score_raw:5.1f}), "
                f"{len(result.sections)} sections, "
                f"{u.calls} calls, {u.prompt_tokens} prompt tokens, {u.seconds:.0f} s"
            )
        gateway.close()
    print(f"model {args.model}: mean S_l {sum(scores) / len(scores):.1f} "
          f"(raw {sum(raw_scores) / len(raw_scores):.1f}) over {len(scores)} prompt(s) "
          "(a length score only, repeated paragraphs counted once; no quality is measured "
          "here)")  # fmt: skip


def main() -> None:
    """Parse arguments and run the parts asked for."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--longbench", action="store_true", help="also run LongBench-Write")
    parser.add_argument("--skip-tokens", action="store_true", help="skip the scripted part")
    add_model_args(parser)
    parser.add_argument("--max-leaf-words", type=int, default=800)
    parser.add_argument("--limit", type=int, default=2, help="LongBench-Write prompts to run")
    parser.add_argument("--start", type=int, default=0, help="first prompt (0-based)")
    args = parser.parse_args()
    if not args.skip_tokens:
        token_growth()
    if args.longbench:
        longbench(args)


if __name__ == "__main__":
    main()
