"""Many questions at once: completion tokens per second through ``ask_many`` vs a raw client.

N independent questions (rag by default, or reason) about a small book go through
``longdoc.ask_many`` against the embedded llama.cpp server with 4 slots (settings
``max_concurrency=4``). Every request the gateway sends is recorded; then a raw async
client (httpx, straight to the same server) sends those same requests again, keeping 4
in flight: the ceiling. Printed side by side: completion tokens per second of each, and
their ratio (target >= 0.9). The response cache and llama.cpp's prompt reuse
(``cache_prompt``) are off, so both runs do the same work.

The batch's figure is its whole wall time (retrieval, prompt building and the calls);
the ceiling's only the calls. A warm-up question first starts the server and loads the
embedding model, so neither run pays for that.

Run: ``.venv/bin/python benchmarks/throughput.py`` (``--questions 32 --max-tokens 32``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, temp_settings

BOOK = REPO / "examples" / "data" / "persuasion_ch1-2.txt"
SUBJECTS = [
    "Sir Walter Elliot", "Elizabeth Elliot", "Anne Elliot", "Mary Musgrove", "Lady Russell",
    "Mr Shepherd", "Mrs Clay", "Kellynch Hall", "the Baronetage", "the family debts",
    "Lady Elliot's death", "Charles Musgrove", "Uppercross", "Mr William Elliot",
    "retrenchment", "the navy", "Bath", "the Crofts", "Frederick Wentworth", "the lease",
    "Admiral Croft", "Somersetshire", "the Elliot pride", "economy", "the estate",
    "Elizabeth's age", "the heir presumptive", "Anne's prospects", "London", "the tenants",
    "Sir Walter's vanity", "Lady Russell's advice",
]  # fmt: skip


def _questions(n: int) -> list[str]:
    subjects = [SUBJECTS[i % len(SUBJECTS)] for i in range(n)]
    return [f"What does the text say about {s}? ({i + 1})" for i, s in enumerate(subjects)]


async def _batch(gateway: Any, index: Any, questions: list[str], strategy: str, tokens: int):
    """The timed ``ask_many`` run; every request the gateway sends is recorded for the replay."""
    import longdoc

    sent: list[tuple[Any, list[dict[str, Any]], dict[str, Any]]] = []
    original = gateway._request

    async def recording(endpoint: Any, messages: Any, call: dict[str, Any]) -> Any:
        # No reuse of a slot's cached prompt, in either run: the replay resends the same
        # prompts, and llama.cpp would otherwise skip their prompt processing.
        call = {**call, "extra_body": {**call.get("extra_body", {}), "cache_prompt": False}}
        sent.append((endpoint, messages, call))
        return await original(endpoint, messages, call)

    gateway._request = recording  # the benchmark's tap on what goes over the wire
    items = [longdoc.BatchItem(question=q, doc=BOOK.name) for q in questions]
    before = gateway.usage().total.completion_tokens
    started = time.perf_counter()
    records = await longdoc.aask_many(
        items, strategy=strategy, gateway=gateway, index=index, answer_tokens=tokens
    )
    seconds = time.perf_counter() - started
    gateway._request = original
    failed = [r for r in records if r.error is not None]
    if failed:
        raise SystemExit(f"{len(failed)} item(s) failed, e.g. {failed[0].error}")
    # From the gateway's ledger: an item's own usage also counts its neighbours' calls.
    completion = gateway.usage().total.completion_tokens - before
    return completion, seconds, sent


async def _raw(sent: list[tuple[Any, list[dict[str, Any]], dict[str, Any]]], slots: int):
    """The same requests straight to the server, ``slots`` in flight: the ceiling."""
    import httpx

    bound = asyncio.Semaphore(slots)
    endpoint = sent[0][0]
    url = endpoint.api_base.rstrip("/") + "/chat/completions"

    async def one(client: httpx.AsyncClient, messages: Any, call: dict[str, Any]) -> int:
        body = {k: v for k, v in call.items() if k != "extra_body"}
        body |= call.get("extra_body", {})
        async with bound:
            reply = await client.post(url, json={"model": "local", "messages": messages, **body})
        reply.raise_for_status()
        return int(reply.json()["usage"]["completion_tokens"])

    async with httpx.AsyncClient(timeout=600) as client:
        started = time.perf_counter()
        counts = await asyncio.gather(*(one(client, m, c) for _, m, c in sent))
        return sum(counts), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=32, help="answer tokens per question")
    parser.add_argument("--strategy", choices=["rag", "reason"], default="rag")
    parser.add_argument("--slots", type=int, default=4, help="server slots = max_concurrency")
    # One thread by default: a second server on all cores beside another slows both 7x.
    parser.add_argument("--threads", type=int, default=1, help="server CPU threads (0 = all)")
    parser.add_argument("--context-window", type=int, default=2048, help="tokens per slot")
    args = parser.parse_args()

    from longdoc.agents.gateway import Gateway
    from longdoc.retrieval import Index

    settings = temp_settings().model_copy(
        update={
            "max_concurrency": args.slots,
            "cache": False,
            "local_threads": args.threads,
            "context_window": args.context_window,  # rag fills it with excerpts: keep it small
        }
    )
    index = Index(settings=settings)
    index.ingest(BOOK)
    with Gateway(settings) as gateway:
        gateway.run_sync(_batch(gateway, index, ["Who is Anne?"], args.strategy, 8))  # warm-up
        questions = _questions(args.questions)
        done, seconds, sent = gateway.run_sync(
            _batch(gateway, index, questions, args.strategy, args.max_tokens)
        )
        raw_done, raw_seconds = gateway.run_sync(_raw(sent, args.slots))
    ours, ceiling = done / seconds, raw_done / raw_seconds
    print(
        f"{args.questions} {args.strategy} questions, {len(sent)} requests, {args.slots} slots,"
        f" {args.threads} thread(s), context {args.context_window}"
    )
    print(f"  ask_many  : {done:5d} completion tokens in {seconds:6.1f} s = {ours:6.1f} tok/s")
    raw = f"{raw_done:5d} completion tokens in {raw_seconds:6.1f} s = {ceiling:6.1f} tok/s"
    print(f"  raw client: {raw}")
    print(f"  ratio {ours / ceiling:.2f} (target >= 0.9)")


if __name__ == "__main__":
    main()
