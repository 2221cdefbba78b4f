"""Quick start: one gateway, three kinds of call, and the usage ledger.

Run with the embedded model (no set-up beyond `make demo`):

    .venv/bin/python examples/quickstart.py

or against your own vLLM server:

    LONGDOC_MODEL=hosted_vllm/Qwen/Qwen2.5-7B-Instruct LONGDOC_API_BASE=http://gpu:8000/v1 \
        .venv/bin/python examples/quickstart.py
"""

from __future__ import annotations

import asyncio

from pydantic import BaseModel

import longdoc


class Book(BaseModel):
    title: str
    author: str


async def ask_in_parallel(gateway: longdoc.Gateway, questions: list[str]) -> list[str]:
    # Concurrency is bounded by LONGDOC_MAX_CONCURRENCY inside the gateway.
    answers = await asyncio.gather(*(gateway.acomplete(q, max_tokens=48) for q in questions))
    return [a.text.strip() for a in answers]


def main() -> None:
    with longdoc.Gateway() as gateway:
        print("model:", gateway.settings.model)
        reply = gateway.complete("In one sentence, why do long documents need chunking?")
        print("complete:", reply.text.strip())
        print("tokens in that reply:", gateway.count_tokens(reply.text))
        book = gateway.structured("Name a novel by Jane Austen.", Book, max_tokens=64)
        print("structured:", book)
        questions = ["Define 'chapter' in five words.", "Define 'summary' in five words."]
        for answer in asyncio.run(ask_in_parallel(gateway, questions)):
            print("async:", answer)
        usage = gateway.usage()
        print(
            f"usage: {usage.total.calls} calls, {usage.total.total_tokens} tokens, "
            f"{usage.total.seconds:.1f} s; per stage: {sorted(usage.stages)}"
        )


if __name__ == "__main__":
    main()
