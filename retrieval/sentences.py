"""Sentence boundaries: the decisions of NLTK's untrained Punkt, without NLTK.

llama-index's ``SentenceSplitter`` splits sentences with ``PunktSentenceTokenizer()``
built with no training: no abbreviations, collocations, sentence starters or
orthographic context. With those empty, Punkt's two annotation passes reduce to a
few rules on the shape of a candidate's tokens (see :func:`_is_break`), and
:func:`split_sentences` gives the same sentences as
``llama_index.core.node_parser.text.utils.split_by_sentence_tokenizer()``.
Hand-written: importing NLTK and llama-index costs a chunking process 2.5 s, and
Punkt's per-token objects made it half of all chunking time
(``tests/test_retrieval_sentences.py`` compares the two on books and hostile text).
The regular expressions are NLTK's (``PunktLanguageVars``), compiled with the
``regex`` package as NLTK compiles them.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

__all__ = ["split_sentences"]

_NON_WORD = r"(?:[)\";}\]\*:@\'\({\[\u2018\u2019\u201c\u201d\xab\xbb\?!])"
_MULTI_CHAR = r"(?:\-{2,}|\.{2,}|(?:\.\s){2,}\.)"
_WORD_START = r"[^\(\"\`{\[:;&\#\*@\)}\]\-,]"
_WORD = rf"""(
        {_MULTI_CHAR}
        |
        (?={_WORD_START})\S+?
        (?=
            \s|
            $|
            {_NON_WORD}|{_MULTI_CHAR}|
            ,(?=$|\s|{_NON_WORD}|{_MULTI_CHAR})
        )
        |
        \S
    )"""
_PERIOD_CONTEXT = rf"""
        [\.\?!]
        (?=(?P<after_tok>
            {_NON_WORD}
            |
            \s+(?P<next_tok>\S+)
        ))"""
_REALIGN = r'["\')\]}\u2018\u2019\u201c\u201d\xab\xbb]+?(?:\s+|(?=--)|$)'
_NUMERIC = r"^-?[\.,]?\d[\d,\.-]*\.?$"
_INITIAL = r"[^\W\d]\.$"
_PUNCTUATION = frozenset(";:,.!?")
_WHITESPACE = frozenset(" \t\n\r\x0b\x0c")  # string.whitespace, as Punkt scans for it


@lru_cache(maxsize=1)
def _patterns() -> dict[str, Any]:
    import regex  # NLTK's engine: its \s, \w and \d differ from re's on rare characters

    return {
        "word": regex.compile(_WORD, regex.UNICODE | regex.VERBOSE),
        "context": regex.compile(_PERIOD_CONTEXT, regex.UNICODE | regex.VERBOSE),
        "realign": regex.compile(_REALIGN, regex.MULTILINE),
        "numeric": regex.compile(_NUMERIC),
        "initial": regex.compile(_INITIAL, regex.UNICODE),
    }


def split_sentences(text: str) -> list[str]:
    """``text`` cut at each sentence start, as llama-index cuts Punkt's spans.

    Each piece runs from one sentence's start to the next one's, the last to the end of
    ``text``: the pieces join back to ``text`` (a blank text has none).
    """
    starts = [start for start, _end in _spans(text)]
    return [
        text[s : starts[i + 1] if i + 1 < len(starts) else len(text)] for i, s in enumerate(starts)
    ]


def _spans(text: str) -> Iterator[tuple[int, int]]:
    """Punkt's ``span_tokenize`` (boundaries realigned past closing quotes and brackets)."""
    realign_re = _patterns()["realign"]
    realign = 0
    slices = list(_slices(text))
    for i, (start1, stop1) in enumerate(slices):
        start1 += realign
        if i + 1 == len(slices):
            if stop1 > start1:
                yield start1, stop1
            continue
        start2, stop2 = slices[i + 1]
        m = realign_re.match(text[start2:stop2])
        if m:
            yield start1, start2 + len(m.group(0).rstrip())
            realign = m.end()
        else:
            realign = 0
            if stop1 > start1:
                yield start1, stop1


def _slices(text: str) -> Iterator[tuple[int, int]]:
    last_break = 0
    for match, context in _contexts(text):
        if _contains_break(context):
            yield last_break, match.end()
            last_break = match.start("next_tok") if match.group("next_tok") else match.end()
    yield last_break, len(text.rstrip())


def _contexts(text: str) -> Iterator[tuple[Any, str]]:
    """Each candidate end of sentence and its context: the word before, the mark, what follows.

    A candidate whose word overlaps the next candidate's is dropped, as Punkt drops it.
    """
    prev_start = prev_stop = 0
    prev: Any = None
    for match in _patterns()["context"].finditer(text):
        start = match.start()
        space = -1
        for i in range(start - 1, prev_stop - 1, -1):  # Punkt's scan for the last whitespace
            if text[i] in _WHITESPACE:
                space = i - prev_stop
                break
        word_start = space + prev_stop + 1 if space > 0 else prev_start
        if prev is not None and prev_stop <= word_start:
            yield prev, text[prev_start:prev_stop] + prev.group() + prev.group("after_tok")
        prev, prev_start, prev_stop = match, word_start, start
    if prev is not None:
        yield prev, text[prev_start:prev_stop] + prev.group() + prev.group("after_tok")


@lru_cache(maxsize=65_536)
def _contains_break(context: str) -> bool:
    """Whether Punkt finds a sentence break before the last token of ``context``."""
    word_re = _patterns()["word"]
    tokens = [t for line in context.split("\n") if line.strip() for t in word_re.findall(line)]
    return any(_is_break(tokens[i], tokens[i + 1]) for i in range(len(tokens) - 1))


def _is_break(tok: str, nxt: str) -> bool:
    """Punkt's verdict on ``tok`` followed by ``nxt``, with empty parameters.

    First pass: ``.``, ``?`` and ``!`` break; a word ending in one period breaks (no
    abbreviations are known); ellipses do not. Second pass: an initial (``J.``) or a
    number (``5.``) is taken back when the orthographic heuristic says the next token
    cannot start a sentence (punctuation or lower case), and an initial before an
    upper-case word too.
    """
    if tok in ("?", "!", "."):
        return True
    if not tok.endswith(".") or tok.endswith(".."):
        return False
    p = _patterns()
    initial = p["initial"].match(tok) is not None
    if not initial and not p["numeric"].match(tok.lower()):
        return True
    if nxt in _PUNCTUATION or nxt[0].islower():
        return False
    return not (initial and nxt[0].isupper())
