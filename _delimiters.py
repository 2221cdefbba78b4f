"""Keeping data inside its delimiters: the one rule every prompt builder applies.

Document text, memories and earlier output go into prompts inside tags such as
``<excerpt>`` or ``<memory>``. Text that contains a closing tag could end its
block early and speak as the instructions; :func:`neutralise` breaks such tags.
It lives at the package root because agents/ and memory/ both need it and
memory may not import agents.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["neutralise"]


def neutralise(text: str, tags: Iterable[str]) -> str:
    r"""``text`` with every ``</tag`` of ``tags`` broken to ``<\/tag``.

    A prefix covers longer names too: ``memory`` also breaks ``</memory_summary``.
    """
    for tag in tags:
        text = text.replace(f"</{tag}", f"<\\/{tag}")
    return text
