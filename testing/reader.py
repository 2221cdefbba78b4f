"""A scripted, deterministic extractive reader that speaks our chain-of-agents prompts.

Workers keep the previous notes plus every sentence of their part that contains
the question's key word; the manager answers with the notes. It asserts on what
it is given: the worker sees the notes, one part and the question; the manager
never sees a document part.
"""

from __future__ import annotations

import re
from typing import Any

PART = re.compile(r'<document_part index="(\d+)" of="(\d+)">\n(.*?)\n</document_part>', re.S)
NOTES = re.compile(r"<notes>\n(.*?)\n</notes>", re.S)
QUESTION = re.compile(r"<question>\n(.*?)\n</question>", re.S)


class ExtractiveReader:
    """Keeps every sentence with the keyword; answers with the notes."""

    def __init__(self, keyword: str) -> None:
        self.keyword = keyword.lower()
        self.parts_seen: list[int] = []
        self.max_prompt_words = 0

    def __call__(self, messages: list[dict[str, str]], params: dict[str, Any]) -> str:
        """Answer one request of the chain's roles."""
        user = messages[-1]["content"]
        if "candidate=" in user:  # the judge
            return '{"choice": 0, "reason": "first"}'
        notes_match = NOTES.search(user)
        assert notes_match, "every role gets the notes"
        notes = notes_match.group(1)
        part = PART.search(user)
        if part is None:  # the manager: notes and question only
            assert "document_part" not in user
            return notes
        self.parts_seen.append(int(part.group(1)))
        if notes.startswith("(none yet") or notes == "nothing relevant yet":
            notes = ""
        hits = [
            s.strip()
            for s in re.split(r"(?<=[.!?])\s+", part.group(3))
            if self.keyword in s.lower()
        ]
        return " ".join([notes, *hits]).strip() or "nothing relevant yet"
