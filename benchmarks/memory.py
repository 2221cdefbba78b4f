"""Hierarchical memory: planted-fact recall, recall latency and disk use.

1. Planted-fact recall@5 in a 1,000-turn synthetic dialogue built from sentences
   of a shared book: facts are planted at known turns and asked 150+ turns later.
   Three memories side by side, each given the same token budget:
   vector+compact (summaries + top-5 recalled episodes + recent tail),
   compact-only (summaries + the same tail) and a last-N-tokens window.
   A hit means the fact's value is in the context handed to the model (recall,
   not QA accuracy: HEMA's 0.87 / 0.62 / 0.41 QA accuracy is the anchor for the shape).
   The default summarizer is scripted and extractive (it keeps the newest
   sentences that carry numbers or capitalised names, within its cap); ``--model``
   uses the gateway summarizer instead.
2. Recall latency p50/p95 at 10k and 100k episodes, with and without pruning,
   and disk use per 10k episodes. Embedding 100k texts on 2 cores takes too long,
   so these stores hold synthetic random unit vectors (query latency does not
   depend on the text); the texts are real book sentences.

Run: flock /tmp/longdoc-heavy.lock .venv/bin/python benchmarks/memory.py
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import re
import shutil
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from _common import add_model_args, model_overrides, require_data, temp_settings

from longdoc.memory import Episode, HierarchicalMemory
from longdoc.testing.scripted import count_word_tokens

OBJECTS = [
    "bicycle lock", "storage unit", "gym locker", "garage door", "office safe",
    "luggage lock", "mailbox", "alarm panel", "filing cabinet", "shed padlock",
    "hotel room safe", "school locker", "diary lock", "briefcase", "server rack",
    "boat cabin", "piano case", "wine cellar", "tool chest", "attic hatch",
]  # fmt: skip
_SENT = re.compile(r"(?<=[.!?])\s+")
_DIGIT = re.compile(r"\d")


def book_sentences(path: Path) -> list[str]:
    text = re.sub(r"\s+", " ", path.read_text(encoding="utf-8"))
    return [s for s in _SENT.split(text) if 6 <= len(s.split()) <= 40]


OWNERS = ("my", "my sister's")
COLOURS = ("red", "blue", "green", "grey", "yellow", "black")


def build_dialogue(sentences: list[str], turns: int, seed: int = 7, distractors: int = 2):
    """Turns, and (fact turn, question turn, question, value) for each planted fact.

    Each object has two facts (mine and my sister's, which compete in retrieval),
    and ``distractors`` turns per fact mention the object without its code.
    """
    rng = random.Random(seed)
    out = [f"User: {sentences[2 * i]}\nAssistant: {sentences[2 * i + 1]}" for i in range(turns)]
    pairs = [(owner, obj) for obj in OBJECTS for owner in OWNERS]
    facts = []
    gap = max(1, (turns - 260) // len(pairs))  # every question 150-210 turns after its fact
    for i, (owner, obj) in enumerate(pairs):
        at = 40 + gap * i
        value = str(rng.randint(1000, 9999))
        out[at] = f"User: By the way, the code of {owner} {obj} is {value}.\nAssistant: Noted."
        ask = min(turns - 1, at + 150 + rng.randint(0, 60))
        facts.append((at, ask, f"What is the code of {owner} {obj}?", value))
    planted = {at for at, *_ in facts}
    free = [t for t in range(turns) if t not in planted]
    slots = rng.sample(free, len(pairs) * distractors)
    for (owner, obj), t in zip(pairs * distractors, slots, strict=True):
        colour = rng.choice(COLOURS)
        out[t] = f"User: I repainted {owner} {obj} yesterday; it is {colour} now.\nAssistant: Nice."
    return out, facts


class ExtractiveSummarizer:
    """Scripted and extractive: keeps the newest sentences that fit the cap.

    ``numbers_first`` keeps sentences with digits before any other (the planted
    facts carry numbers, so this is a generous, almost oracle summarizer); without
    it the summary is purely recency-biased (a pessimistic one). A model's
    summaries fall somewhere between the two.
    """

    def __init__(self, numbers_first: bool = False, count=count_word_tokens) -> None:
        self.numbers_first = numbers_first
        self.count = count

    def _keep(self, sentences: Sequence[str], max_tokens: int) -> str:
        order = list(reversed(sentences))
        if self.numbers_first:
            order.sort(key=lambda s: not _DIGIT.search(s))  # stable: newest first in each group
        kept: set[int] = set()
        used = 0
        for s in order:
            n = self.count(s) + 1
            if used + n > max_tokens:
                break
            kept.add(id(s))
            used += n
        return " ".join(s for s in sentences if id(s) in kept)

    async def update(self, summary: str, new_items: Sequence[Episode], max_tokens: int) -> str:
        text = " ".join([summary, *(e.text.replace("\n", " ") for e in new_items)])
        return self._keep(_SENT.split(text), max_tokens)

    async def fold(self, summaries: Sequence[str], max_tokens: int) -> str:
        return self._keep(_SENT.split(" ".join(summaries)), max_tokens)


def make_memory(args, session: str, settings, numbers_first: bool) -> HierarchicalMemory:
    common = dict(
        settings=settings,
        memory_recall_k=5,
        memory_tail_items=args.tail,
        memory_prune_every=0,  # recall is measured on the full store; pruning below
    )
    if args.model:
        from longdoc.agents.gateway import Gateway
        from longdoc.workflows.chat.turn import open_memory

        gw = Gateway(settings.model_copy(update=model_overrides(args)))
        return open_memory(session, gw, **common)
    summarizer = ExtractiveSummarizer(numbers_first)
    return HierarchicalMemory(
        session, summarizer=summarizer, count_tokens=count_word_tokens, **common
    )


async def planted_recall(args, mem: HierarchicalMemory, turns, facts) -> dict[str, int]:
    by_turn: dict[int, list[tuple[str, str]]] = {}
    for _, ask, q, v in facts:
        by_turn.setdefault(ask, []).append((q, v))
    hits = {"vector+compact": 0, "compact-only": 0, f"last-{args.budget}-tokens": 0}
    done = 0
    for stop in sorted({*by_turn, args.turns}):
        for i in range(done, stop, args.batch):
            await mem.aadd_many(turns[i : min(stop, i + args.batch)], role="turn")
        done = stop
        for q, value in by_turn.get(stop, []):
            full = await mem.abuild_context(q, args.budget)
            hits["vector+compact"] += value in full.text
            compact = await mem.abuild_context(q, args.budget, k=0)
            hits["compact-only"] += value in compact.text
            window = last_tokens(turns[:stop], args.budget, mem.count_tokens)
            hits[f"last-{args.budget}-tokens"] += value in window
    return hits


async def recall_table(args, settings, sentences: list[str]) -> None:
    turns, facts = build_dialogue(sentences, args.turns)
    variants = (
        [(args.model, False)]
        if args.model
        else [("scripted, recency only", False), ("scripted, numbers first", True)]
    )
    columns = []
    for i, (label, numbers_first) in enumerate(variants):
        t0 = time.perf_counter()
        mem = make_memory(args, f"bench-recall-{i}", settings, numbers_first)
        columns.append((label, await planted_recall(args, mem, turns, facts)))
        print(
            f"(summarizer {label}: {time.perf_counter() - t0:.0f}s, {mem.store.count()} episodes)"
        )
        mem.close()
    print(
        f"\n## Planted-fact recall@5: {args.turns} turns, {len(facts)} facts asked 150-210 "
        f"turns later, {2 * len(facts)} distractor turns, {args.budget}-token context for every "
        "memory"
    )
    head = " | ".join(f"recall@5, summarizer {label}" for label, _ in columns)
    print(f"| memory | {head} | HEMA QA accuracy (anchor) |")
    print("|---|" + "---|" * len(columns) + "---|")
    for name, anchor in zip(columns[0][1], ("0.87", "0.62", "0.41"), strict=True):
        cells = " | ".join(
            f"{h[name] / len(facts):.2f} ({h[name]}/{len(facts)})" for _, h in columns
        )
        print(f"| {name} | {cells} | {anchor} |")


def last_tokens(turns: Sequence[str], budget: int, count) -> str:
    out: list[str] = []
    used = 0
    for t in reversed(turns):
        n = count(t)
        if used + n > budget:
            break
        out.append(t)
        used += n
    return "\n".join(reversed(out))


class SyntheticEmbedder:
    """Random unit vectors seeded by the text: latency of a query does not depend on it."""

    name = backend = "synthetic"
    identity = "synthetic-random-384"
    dimension = 384
    max_tokens = 256
    loaded = True

    def encode(self, texts: Sequence[str], batch_size: int = 64):
        import numpy as np

        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for i, t in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(t.encode()).digest()[:4], "little")
            v = np.random.default_rng(seed).standard_normal(self.dimension)
            out[i] = v / np.linalg.norm(v)
        return out

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [count_word_tokens(t) for t in texts]


def kept_after(items: int, every: int, fraction: float) -> int:
    """Episodes left after ``items`` adds with pruning every ``every`` items (no retrievals)."""
    stored = 0
    for _ in range(every, items + 1, every):
        stored += every
        stored -= max(1, int(stored * fraction))
    return stored + items % every


def build_store(settings, sentences: list[str], n: int, session: str, rng) -> HierarchicalMemory:
    import numpy as np

    mem = HierarchicalMemory(
        session, summarizer=ExtractiveSummarizer(), count_tokens=count_word_tokens,
        settings=settings, embedder=SyntheticEmbedder(),
    )  # fmt: skip
    step = 5000
    for start in range(0, n, step):
        texts = [sentences[(start + i) % len(sentences)] for i in range(min(step, n - start))]
        eps = mem.state.append(session, [(t, "turn", "", None) for t in texts])
        vecs = rng.standard_normal((len(eps), 384)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        mem.store.upsert(
            [f"{e.ordinal:012d}" for e in eps],
            [e.text for e in eps],
            [{"session": session, "ordinal": e.ordinal, "role": "turn"} for e in eps],
            embeddings=vecs,
        )
    mem.state.set_fields(
        session, embedded_through=n, level1_through=n, level2_through=n, pruned_through=n
    )
    return mem


def disk_bytes(*paths: Path) -> int:
    return sum(f.stat().st_size for p in paths if p.exists() for f in p.rglob("*") if f.is_file())


def latency_table(args, sentences: list[str]) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    s = temp_settings()
    print(
        "\n## Recall latency (k=5), synthetic 384-d vectors, real texts; pruning every "
        f"{s.memory_prune_every} items of {s.memory_prune_fraction:.1%}"
    )
    print("| items | pruning | episodes stored | p50 ms | p95 ms | one prune ms |")
    print("|---|---|---|---|---|---|")
    size_line = ""
    for items in args.sizes:
        for pruned in (False, True):
            n = (
                kept_after(items, s.memory_prune_every, s.memory_prune_fraction)
                if pruned
                else items
            )
            data = Path(s.data_dir) / f"lat-{items}-{int(pruned)}"
            settings = s.model_copy(update={"data_dir": data})
            mem = build_store(settings, sentences, n, f"lat-{items}-{int(pruned)}", rng)
            if not pruned and items == args.sizes[0]:
                size = disk_bytes(data / "chroma", data / "memory") / n * 10_000 / 2**20
                size_line = f"on disk: {size:.1f} MiB per 10k episodes (Chroma + SQLite journal)"
            times = []
            for q in sentences[:: max(1, len(sentences) // args.queries)][: args.queries]:
                t = time.perf_counter()
                mem.recall(q, 5)
                times.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            prune_ms = 0.0
            if pruned:
                mem.prune()
                prune_ms = (time.perf_counter() - t) * 1000
            p50 = statistics.median(times)
            p95 = statistics.quantiles(times, n=20)[-1]
            prune = f"{prune_ms:.0f}" if pruned else "-"
            print(
                f"| {items} | {'on' if pruned else 'off'} | {n} | {p50:.1f} | {p95:.1f} | {prune} |"
            )
            mem.close()
            shutil.rmtree(data, ignore_errors=True)
    print(size_line)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--book", default="books/persuasion.txt", help="under the shared data")
    p.add_argument("--turns", type=int, default=1000)
    p.add_argument("--budget", type=int, default=2048, help="context tokens for every memory")
    p.add_argument("--tail", type=int, default=4, help="recent turns kept verbatim")
    p.add_argument("--batch", type=int, default=10, help="turns per add (one embedding batch)")
    p.add_argument("--sizes", default="10000,100000", help="latency store sizes (items)")
    p.add_argument("--queries", type=int, default=100)
    add_model_args(p)  # the model is the summarizer's; scripted without --model
    p.add_argument("--skip-recall", action="store_true")
    p.add_argument("--skip-latency", action="store_true")
    args = p.parse_args()
    args.sizes = [int(x) for x in args.sizes.split(",") if x]
    data = require_data(args.book)
    sentences = book_sentences(data / args.book)
    if len(sentences) < 2 * args.turns:
        print(f"{args.book} has too few sentences for {args.turns} turns")
        return 1
    if not args.skip_recall:
        asyncio.run(recall_table(args, temp_settings(), sentences))
    if not args.skip_latency:
        latency_table(args, sentences)
    return 0


if __name__ == "__main__":
    sys.exit(main())
