"""Chunking: token-aware sentence splitting for prose, syntax-aware for code.

Every chunk's ``text`` is the verbatim slice ``document.text[char_start:char_end]``;
a code chunk's context header (file, class) lives in ``Chunk.header`` and is only
prepended for embedding. No embedded text exceeds what the embedder reads.

Prose goes through llama-index's ``SentenceSplitter``; code is split along its
definitions with tree-sitter in :mod:`longdoc.retrieval.code_chunking` (languages
without a grammar are cut into line windows).
"""

from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from longdoc.retrieval.code_chunking import Piece, split_code
from longdoc.retrieval.models import Chunk, LoadedDocument
from longdoc.retrieval.splitting import fit_then_cut, sentence_split

if TYPE_CHECKING:
    from longdoc.retrieval.tokens import SpanCounter

__all__ = ["CHUNKER_VERSION", "Chunker", "Piece"]

# Raised whenever a change to the splitting gives other chunks for the same text.
# 3: chunks are bounded in characters too (a long line of unknown tokens counts as 1).
# 4: prose is split by the counts of one tokenization of the document (a split cut
#    inside a word counts only its whole tokens), then every chunk is counted exactly.
CHUNKER_VERSION = "4"

TokenCount = Callable[[list[str]], list[int]]
# A text -> the token counts of (start, end) spans of it (TokenCounter.spans).
SpanCounts = Callable[[str], "SpanCounter"]
# The default character cap per token of the embedder's limit: English prose runs at
# 4-5 characters a token, indented code somewhat more.
_CHARS_PER_TOKEN = 8
# The sentence splitter's probe of a long text: this many characters per token of chunk_size.
_SPLIT_PROBE_CHARS = 16


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Chunker:
    """Turns :class:`LoadedDocument` records into :class:`Chunk` lists.

    Args:
        count_tokens: the embedder's batch token counter (special tokens excluded).
        max_tokens: the most tokens the embedder reads; no embedded text exceeds it.
        chunk_size: target prose chunk size in tokens (clamped to ``max_tokens``).
        chunk_overlap: tokens shared by adjacent prose chunks.
        code_chunk_lines: line window for code that is not parsed.
        max_chars: the most characters in a chunk; default 8 per token of ``max_tokens``.
            Token counts alone do not bound a chunk: a WordPiece embedder counts a 2 MB
            line without spaces as one unknown token.
        spans: tokenizes a whole text once and returns a counter of its spans (see
            :meth:`longdoc.retrieval.tokens.TokenCounter.spans`): prose is then split by
            those counts and only the final chunks are counted by ``count_tokens``.
    """

    def __init__(
        self,
        count_tokens: TokenCount,
        max_tokens: int,
        chunk_size: int = 200,
        chunk_overlap: int = 20,
        code_chunk_lines: int = 60,
        max_chars: int | None = None,
        spans: SpanCounts | None = None,
    ) -> None:
        self.count_tokens = count_tokens
        self.spans = spans
        self.max_tokens = max_tokens
        self.chunk_size = min(chunk_size, max_tokens)
        self.chunk_overlap = min(chunk_overlap, self.chunk_size // 2)
        self.code_chunk_lines = code_chunk_lines
        self.max_chars = max(1, max_chars or _CHARS_PER_TOKEN * max_tokens)

    @property
    def signature(self) -> str:
        """What decides the chunks besides the text: stored with them, so a change re-chunks."""
        sizes = f"{self.chunk_size}/{self.chunk_overlap}/{self.max_tokens}/{self.code_chunk_lines}"
        sizes += f"/{self.max_chars}" + ("" if self.spans else "/texts")  # the two ways differ
        return f"{CHUNKER_VERSION}:{sizes}"

    def count(self, text: str) -> int:
        """Tokens of one text."""
        return self.count_tokens([text])[0]

    def chunk(self, doc: LoadedDocument) -> list[Chunk]:
        """Split a document into ordered chunks.

        Args:
            doc: the loaded document.

        Returns:
            Chunks with offsets into ``doc.text``, token counts and hashes.
        """
        # Every fitted piece is counted exactly once: the final counts are looked up here.
        memo: dict[str, int] = {}
        if doc.kind == "code":
            pieces = self._code_pieces(doc)
        else:
            pieces = self._prose_pieces(doc.text, memo)
        pieces = self._fit(doc.text, pieces, memo)
        capped = _cap_chars(doc.text, pieces, self.max_chars)
        if len(capped) > len(pieces):  # a cut inside a word can add a word piece: fit again
            pieces = self._fit(doc.text, capped, memo)
        pieces = [p for p in pieces if doc.text[p.start : p.end].strip()]
        texts = [doc.text[p.start : p.end] for p in pieces]
        embed = [f"{p.header}\n{t}" if p.header else t for p, t in zip(pieces, texts, strict=False)]
        counts = _counted(self.count_tokens, embed, memo)
        lines = _LineIndex(doc.text) if doc.kind == "code" else None
        return [
            Chunk(
                doc_id=doc.doc_id,
                source=doc.source,
                ordinal=i,
                char_start=p.start,
                char_end=p.end,
                text=t,
                header=p.header,
                token_count=n,
                content_hash=_sha(t),
                symbol=p.symbol,
                symbol_kind=p.kind,
                members=p.members,
                line_start=lines.first_line(t, p.start) if lines else None,
                line_end=lines.last_line(t, p.start) if lines else None,
                language=doc.language if doc.kind == "code" else None,
            )
            for i, (p, t, n) in enumerate(zip(pieces, texts, counts, strict=False))
        ]

    # --- prose -------------------------------------------------------------------------
    def _prose_pieces(self, text: str, memo: dict[str, int]) -> list[Piece]:
        """Sentence-split pieces; with ``spans``, the exact counts it knows go to ``memo``."""
        spans = self.spans(text) if self.spans else None
        parts = sentence_split(
            text,
            self.chunk_size,
            lambda s: range(self._splitter_counts([s])[0]),
            chunk_overlap=self.chunk_overlap,
            counts=self._splitter_counts,
            spans=spans,
        )
        pieces: list[Piece] = []
        cursor = 0
        for part in parts:
            start, end = _locate(text, part, cursor)
            pieces.append(Piece(start, end))
            cursor = start + 1
        if spans is not None:  # pieces cut between words need no second tokenization
            exact = spans.exact([(p.start, p.end) for p in pieces])
            found = zip(pieces, exact, strict=True)
            memo.update((text[p.start : p.end], n) for p, n in found if n is not None)
        return pieces

    def _splitter_counts(self, texts: list[str]) -> list[int]:
        """Tokens of ``texts`` as the sentence splitter needs them: exact up to ``chunk_size``.

        The splitter first counts the whole document, then every paragraph, and only
        compares a count over ``chunk_size`` with ``chunk_size``: a prefix cut at a space
        that is already over it proves the text is, for a fraction of the cost. The
        splits come out the same (counts do not shrink as a text grows at a space).
        """
        probe = _SPLIT_PROBE_CHARS * self.chunk_size
        cuts = {i: t.rfind(" ", 0, probe) for i, t in enumerate(texts) if len(t) > 2 * probe}
        cuts = {i: cut for i, cut in cuts.items() if cut > 0}
        out: list[int | None] = [None] * len(texts)
        probed = self.count_tokens([texts[i][:cut] for i, cut in cuts.items()]) if cuts else []
        for i, n in zip(cuts, probed, strict=True):
            out[i] = n if n > self.chunk_size else None
        todo = [i for i, n in enumerate(out) if n is None]
        counted = self.count_tokens([texts[i] for i in todo]) if todo else []
        for i, n in zip(todo, counted, strict=True):
            out[i] = n
        return [n or 0 for n in out]

    # --- code --------------------------------------------------------------------------
    def _code_pieces(self, doc: LoadedDocument) -> list[Piece]:
        header = f"# file: {doc.doc_id}"
        pieces = split_code(
            doc.text,
            language=doc.language,
            path=doc.doc_id,
            header=header,
            count_tokens=self.count_tokens,
            max_tokens=self.max_tokens,
            chunk_size=self.chunk_size,
        )
        if pieces is None:  # no grammar for the language (or it failed to load)
            return self._line_windows(doc.text, 0, len(doc.text), header, None, "lines")
        return pieces

    def _line_windows(
        self, text: str, start: int, end: int, header: str, symbol: str | None, kind: str
    ) -> list[Piece]:
        lines = text[start:end].splitlines(keepends=True)
        pieces: list[Piece] = []
        pos = start
        for i in range(0, len(lines), self.code_chunk_lines):
            size = sum(len(x) for x in lines[i : i + self.code_chunk_lines])
            pieces.append(Piece(pos, pos + size, header, symbol, kind))
            pos += size
        return pieces

    # --- the hard limit ----------------------------------------------------------------
    def _fit(self, text: str, pieces: list[Piece], memo: dict[str, int]) -> list[Piece]:
        # Sentence splitting sums the token counts of its splits, which can differ
        # from the count of the joined text by a few word pieces; code units can be
        # any size. Anything over the embedder's limit is cut again here.
        def embed(p: Piece) -> str:
            body = text[p.start : p.end]
            return f"{p.header}\n{body}" if p.header else body

        return fit_then_cut(
            pieces,
            limit=self.max_tokens,
            count=lambda ps: _counted(self.count_tokens, [embed(p) for p in ps], memo),
            cut=lambda p, _n: self._cut(text, p),
        )

    def _cut(self, text: str, p: Piece) -> list[Piece]:
        budget = self.max_tokens - (self.count(p.header) + 1 if p.header else 0)
        if p.header and budget < self.max_tokens // 4:  # a header eating the budget goes
            return [replace(p, header="")]
        lines = text[p.start : p.end].splitlines(keepends=True)
        if len(lines) > 1:  # whole lines first: code and verse read better so
            parts, pos, acc = [], p.start, 0
            for line in lines:
                if acc and self.count(text[pos : pos + acc + len(line)]) > budget:
                    parts.append(replace(p, start=pos, end=pos + acc))
                    pos, acc = pos + acc, 0
                acc += len(line)
            parts.append(replace(p, start=pos, end=pos + acc))
            return parts
        # One line over the limit: cut at a character proportional to the token count.
        n = self.count(text[p.start : p.end])
        step = max(1, (p.end - p.start) * budget // (n + 1) - 1)
        return [replace(p, start=s, end=min(s + step, p.end)) for s in range(p.start, p.end, step)]


def _counted(count: TokenCount, texts: list[str], memo: dict[str, int]) -> list[int]:
    """Token counts of ``texts``, counting only those not in ``memo`` (which keeps them)."""
    todo = [t for t in dict.fromkeys(texts) if t not in memo]
    if todo:
        memo.update(zip(todo, count(todo), strict=True))
    return [memo[t] for t in texts]


def _cap_chars(text: str, pieces: list[Piece], limit: int) -> list[Piece]:
    """``pieces`` with each one over ``limit`` characters cut, at a line break or space if near."""
    out: list[Piece] = []
    for p in pieces:
        start = p.start
        while p.end - start > limit:
            window = text[start : start + limit]
            # Hand-written: no splitter cuts by characters while keeping document offsets.
            brk = window.rfind("\n")
            brk = brk if brk >= limit // 2 else window.rfind(" ")
            end = start + brk + 1 if brk >= limit // 2 else start + limit
            out.append(replace(p, start=start, end=end))
            start = end
        out.append(replace(p, start=start) if start != p.start else p)
    return out


def _locate(text: str, part: str, cursor: int) -> tuple[int, int]:
    """Offsets of ``part`` in ``text`` at or after ``cursor``.

    The sentence splitter returns verbatim slices (stripped), so ``find`` nearly
    always succeeds; a whitespace-tolerant search covers the rest.
    """
    i = text.find(part, cursor)
    if i < 0:
        i = text.find(part)
    if i >= 0:
        return i, i + len(part)
    words = part.split()
    pattern = r"\s+".join(re.escape(w) for w in words)
    m = re.compile(pattern).search(text, cursor) or re.compile(pattern).search(text)
    if m is None:  # cannot happen with verbatim splits; keep the text reachable anyway
        raise ValueError(f"chunk not found in its document: {part[:60]!r}")
    return m.start(), m.end()


class _LineIndex:
    def __init__(self, text: str) -> None:
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset)

    # Lines of the code itself: the blank lines a piece carries at its ends are not cited.
    def first_line(self, text: str, start: int) -> int:
        """First line of ``text`` (at ``start``) holding a non-blank character."""
        return self.line_of(start + len(text) - len(text.lstrip()))

    def last_line(self, text: str, start: int) -> int:
        """Last line of ``text`` (at ``start``) holding a non-blank character."""
        return self.line_of(start + max(0, len(text.rstrip()) - 1))
