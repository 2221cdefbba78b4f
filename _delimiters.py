r"""Keeping data inside its delimiters: the one rule every prompt builder applies.

Document text, memories and earlier output go into prompts inside tags such as
``<excerpt>`` or ``<memory>``. Text that holds such a tag could end its block
early (or open a block of its own) and speak as the instructions, and text that
holds a chat template's control string (``<|im_start|>``, ``[INST]``...) becomes
a real control token once the server applies the template and tokenizes the
prompt. :func:`neutralise` breaks both the same readable way: a backslash after
the opening bracket (``</notes>`` becomes ``<\/notes>``, ``<|im_end|>`` becomes
``<\|im_end|>``). It lives at the package root because agents/ and memory/ both
need it and memory may not import agents.

A tag is broken in every form a model may still read as it: any case, spaces around
the slash, invisible characters anywhere in it, openings with attributes as well as
closings, and look-alike brackets, slashes and letters
(fullwidth ``＜``, ``‹``, Cyrillic ``о``...). Anything else is left alone: ``a < b``,
``<div>``, ``List<T>``. Quotes copied from neutralised text still verify against the
original: :data:`MARKED_AFTER` names the characters after which a backslash is such
a mark, which verification skips on both sides.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

__all__ = ["CONTROL_STRINGS", "MARKED_AFTER", "neutralise"]

# Characters a model may read as "<" and "/" (Unicode confusables of the two; a fixed
# list, as a confusables library would be a dependency for a dozen characters).
_LT = "<\uff1c\ufe64\u2039\u2329\u27e8\u3008\u276c\u276e\u02c2\u1438\u29fc"
_SLASH = "/\uff0f\u2044\u2215\u29f8\u2571\u27cb"
# Invisible characters: soft hyphen, joiners, bidi marks, word joiners, byte order mark.
_INVISIBLE = "\u00ad\u034f\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff"
_GAP = rf"[\s{_INVISIBLE}]*"
# Latin letters of tag names and their Cyrillic/Greek look-alikes.
_LOOKALIKE = {
    "a": "\u0430\u03b1", "c": "\u0441\u03f2", "d": "\u0501", "e": "\u0435\u03b5",
    "h": "\u04bb", "i": "\u0456\u03b9", "j": "\u0458", "l": "\u04cf", "m": "\u043c",
    "n": "\u043f\u03b7", "o": "\u043e\u03bf", "p": "\u0440\u03c1", "r": "\u0433",
    "s": "\u0455", "t": "\u0442\u03c4", "u": "\u03c5", "x": "\u0445\u03c7", "y": "\u0443",
}  # fmt: skip

# Chat-template control strings of the common model families, broken in every text.
# The embedded SmolLM2's own special tokens (read from its GGUF vocabulary) are among them.
CONTROL_STRINGS = (
    "<|im_start|>", "<|im_end|>", "<|im_sep|>", "<|endoftext|>", "<|begin_of_text|>",
    "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|eom_id|>",
    "<|python_tag|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>",
    "<\uff5cbegin\u2581of\u2581sentence\uff5c>", "<\uff5cUser\uff5c>", "<\uff5cAssistant\uff5c>",
    "[INST]", "[/INST]", "<<SYS>>", "<</SYS>>", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]",
    "[AVAILABLE_TOOLS]", "[TOOL_CALLS]", "[TOOL_RESULTS]", "<s>", "</s>", "<bos>", "<eos>",
    "<start_of_turn>", "<end_of_turn>", "<think>", "</think>", "<tool_call>", "</tool_call>",
    "<repo_name>", "<reponame>", "<file_sep>", "<filename>", "<gh_stars>", "<issue_start>",
    "<issue_comment>", "<issue_closed>", "<jupyter_start>", "<jupyter_text>", "<jupyter_code>",
    "<jupyter_output>", "<jupyter_script>", "<empty_output>",
)  # fmt: skip

# A backslash right after one of these is the mark neutralise inserts.
MARKED_AFTER = frozenset(_LT + "[")

# Control strings match exactly (tokenizers do); any <|name|> or <｜name｜> is one too.
_CONTROL = re.compile(
    "|".join(re.escape(s) for s in sorted(CONTROL_STRINGS, key=len, reverse=True))
    + r"|<\|[^\s|<>]{1,40}\|>|<\uff5c[^\s\uff5c<>]{1,40}\uff5c>"
)


def _letter(ch: str) -> str:
    """A character class for ``ch`` in any case, fullwidth, or a look-alike."""
    if ch == "_":
        return "[_\\-\uff3f ]"
    forms = {ch.lower(), ch.upper(), *_LOOKALIKE.get(ch.lower(), "")}
    if ch.isascii() and ch.isalnum():
        forms |= {chr(ord(f) + 0xFEE0) for f in (ch.lower(), ch.upper())}  # fullwidth forms
    return "[" + "".join(re.escape(f) for f in sorted(forms)) + "]"


@functools.cache
def _tag_pattern(tags: tuple[str, ...]) -> re.Pattern[str]:
    """The bracket of an opening or closing tag of ``tags`` (group 1)."""
    zero = f"[{_INVISIBLE}]*"
    names = "|".join(zero.join(_letter(c) for c in tag) for tag in sorted(tags, key=len))
    # Spaces may only surround the slash: "a < notes" and "i < file" in code stay as they are.
    start = f"(?:{_GAP}[{_SLASH}]{_GAP}|{zero})"
    # The whole name: "<excerpts" or "<filename" is not "<excerpt" or "<file".
    return re.compile(rf"([{_LT}])(?={start}(?:{names}){zero}(?!\w))")


def neutralise(text: str, tags: Iterable[str]) -> str:
    r"""``text`` with every tag of ``tags`` and every control string broken by a backslash.

    ``</notes>`` becomes ``<\/notes>``, ``<Notes id="9">`` becomes ``<\Notes id="9">``,
    ``＜/notes＞`` becomes ``＜\/notes＞``, ``<|im_start|>`` becomes ``<\|im_start|>``,
    ``[INST]`` becomes ``[\INST]``. Already broken text stays as it is.
    """
    text = _CONTROL.sub(lambda m: f"{m[0][0]}\\{m[0][1:]}", text)
    names = tuple(sorted({t for t in tags if t}))
    return _tag_pattern(names).sub(r"\1\\", text) if names else text
