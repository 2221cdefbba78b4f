"""A chat that remembers: every turn goes into a hierarchical memory (summaries + episodes).

Run it twice: the second run is a new process and still knows the locker code, because the
session lives under the data dir. Every prompt is assembled to fit the window.

    .venv/bin/python examples/memory_chat.py
"""

from __future__ import annotations

import longdoc


def main() -> None:
    with longdoc.Gateway() as gateway:
        # Short answers: the context budget is what the window leaves after them.
        chat = longdoc.MemoryChat("example-alice", gateway, answer_tokens=96)
        memory = chat.memory
        if memory.items == 0:
            for message in (
                "Hi! My gym locker code is 4417.",
                "I am reading Persuasion by Jane Austen this month.",
                "My sister lives in Bath.",
            ):
                print("user:", message)
                print("model:", chat.chat(message).answer.strip())
        reply = chat.chat("What is my gym locker code?", remember=False)
        print("model:", reply.answer.strip(), f"({reply.context_tokens} context tokens)")
        for hit in memory.recall("locker code", k=2):
            print(f"  recalled episode {hit.episode.ordinal}: {hit.episode.text[:70]!r}")
        summary = memory.summary()
        print(f"{summary.items} items remembered; level-1 summary: {summary.level1[:120]!r}")


if __name__ == "__main__":
    main()
