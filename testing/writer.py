"""A scripted, deterministic model that speaks the writing prompts and writes exact lengths.

The writer roles write exactly the words the prompt asks for ("about N words",
"about N more words"), in pseudo-words drawn from a seeded vocabulary so that no
two sections share a long n-gram by chance. The planner and sub-planner return
outlines from a plan function. It checks what it is given: the writer sees the
instruction, the outline, and from the second leaf on the summary and the exact
tail of the section written before; summaries are asked for in bounded words.

Used by tests/test_writing.py and benchmarks/writing.py.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from typing import Any

ABOUT = re.compile(r"about (\d+) (more )?words")
SECTION = re.compile(r"^Section: (.*)$", re.M)
PREVIOUS = re.compile(r"<previous>\n(.*?)\n</previous>", re.S)
SUBPARTS = re.compile(r"into (\d+) to \d+ subsections")
SUMS = re.compile(r"must sum to (\d+) words")

_SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
_VOCAB = sorted({a + b + c for a in _SYLLABLES[:40] for b in _SYLLABLES[20:50] for c in "nrs"})

PlanFn = Callable[[int], list[int]]


def _group(pattern: re.Pattern[str], text: str) -> str:
    """The first group of ``pattern`` in ``text``; the prompt must hold it."""
    found = pattern.search(text)
    assert found, f"the prompt lacks {pattern.pattern!r}"
    return found.group(1)


def words_text(n: int, seed: str, paragraph: int = 60) -> str:
    """``n`` pseudo-words in sentences of 12 and paragraphs of ``paragraph`` words."""
    rng = random.Random(seed)
    out: list[str] = []
    for i in range(n):
        w = rng.choice(_VOCAB)
        end = (i + 1) % 12 == 0 or i == n - 1
        out.append(w + ("." if end else ""))
        if (i + 1) % paragraph == 0 and i != n - 1:
            out.append("\n\n")
    return " ".join(out).replace(" \n\n ", "\n\n")


def even_plan(words: int) -> list[int]:
    """Three sections of equal budget (the planner's default script)."""
    return [words // 3] * 3


class ExactWriter:
    """The scripted model: ``ExactWriter(plan=...)(messages, params) -> str``.

    Args:
        plan: top-level budgets for a target (may deliberately not sum to it).
        subparts: how many subsections the sub-planner returns (None: as many as asked).
        length: ``length(leaf_number, asked) -> words`` the writer actually writes
            (default: exactly what it is asked).
        plant: ``plant(leaf_number) -> str | None``, a paragraph to add to that leaf.

    Attributes:
        written: title -> text of each writer call, in order.
        writer_prompts: (title, prompt in words) per writer call.
        roles: the role of each call in order.
    """

    def __init__(
        self,
        plan: PlanFn = even_plan,
        subparts: int | None = None,
        length: Callable[[int, int], int] | None = None,
        plant: Callable[[int], str | None] | None = None,
    ) -> None:
        self.plan = plan
        self.subparts = subparts
        self.length = length or (lambda _i, asked: asked)
        self.plant = plant or (lambda _i: None)
        self.written: list[tuple[str, str]] = []
        self.writer_prompts: list[tuple[str, str]] = []
        self.roles: list[str] = []
        self.last_text = ""

    def __call__(self, messages: list[dict[str, str]], params: dict[str, Any]) -> str:
        """Answer one request of the writer's roles."""
        system, user = messages[0]["content"], messages[-1]["content"]
        assert "<instruction>" in user or "<notes>" in user, "every role gets its inputs"
        if system.startswith("You are the sub-planner"):
            return self._outline(user, top=False)
        if system.startswith("You are the planner"):
            return self._outline(user, top=True)
        if "running summary" in system:
            self.roles.append("summary")
            asked = int(ABOUT.findall(user)[-1][0])
            assert asked <= 400, "the summary is bounded"
            return words_text(asked, "summary" + user[-200:])
        if "writer of one section" in system:
            return self._write(user)
        return self._edit(user)

    def _outline(self, user: str, top: bool) -> str:
        self.roles.append("planner" if top else "subplanner")
        target = int(_group(SUMS, user))
        if top:
            budgets = self.plan(target)
        else:
            asked = int(_group(SUBPARTS, user))
            parts = self.subparts or asked
            budgets = [target // parts] * parts
        sections = [
            {"title": f"Part {'T' if top else 'S'}{i} of {target}", "points": [f"point {i}"],
             "words": b}
            for i, b in enumerate(budgets, start=1)
        ]  # fmt: skip
        return json.dumps({"title": "A Scripted Document" if top else "", "sections": sections})

    def _write(self, user: str) -> str:
        self.roles.append("writer")
        title = _group(SECTION, user)
        assert "<outline>" in user and "<- this section" in user
        asked = int(ABOUT.findall(user)[-1][0])
        if self.written:
            tail = PREVIOUS.search(user)
            assert tail, "from the second leaf on, the writer sees the previous tail"
            assert " ".join(self.last_text.split()).endswith(tail.group(1)), "exact tail"
            assert "<notes>" in user, "and the running summary"
        n = len(self.written) + 1
        text = words_text(self.length(n, asked), f"leaf {title}")
        planted = self.plant(n)
        if planted:
            text = f"{planted}\n\n{text}"
        self.writer_prompts.append((title, user))
        self.written.append((title, text))
        self.last_text = text
        return text

    def _edit(self, user: str) -> str:
        asked, more = ABOUT.findall(user)[-1]
        title = _group(SECTION, user)
        if more:  # continuation: only the new words
            self.roles.append("continue")
            text = words_text(int(asked), f"more {title}")
            self.last_text = f"{self.last_text}\n\n{text}"
            return text
        if "repeats text" in user:
            self.roles.append("rewrite")
            assert '<excerpt id="repeat">' in user, "the repeat is named"
            text = words_text(int(asked), f"rewrite {title}")
        else:
            self.roles.append("condense")
            text = words_text(int(asked), f"condensed {title}")
        self.last_text = text
        return text
