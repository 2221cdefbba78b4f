"""Token counts from a Hugging Face fast tokenizer, for the chunker.

A :class:`TokenCounter` pickles (``tokenizers.Tokenizer`` does), so a chunker built on
it runs in worker processes. Besides counting texts it gives a document's token
offsets from one tokenization: the chunker then counts any span of the document by
two binary searches instead of tokenizing every paragraph and sentence again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = ["SpanCounter", "TokenCounter"]

# A document is tokenized in windows of about this many characters, cut at a space:
# one encode_batch call spreads them over cores (one 1.2 MB string runs 3x slower).
_WINDOW_CHARS = 8_000


class TokenCounter:
    """Counts of a fast tokenizer without special tokens, padding or truncation.

    Args:
        tokenizer: a ``tokenizers.Tokenizer`` (it is reconfigured: use a private copy).
    """

    def __init__(self, tokenizer: Any) -> None:
        tokenizer.no_truncation()
        tokenizer.no_padding()
        self._tok = tokenizer
        self._continues = _continuation_ids(tokenizer)

    def count(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text."""
        if not texts:
            return []
        return [len(e.ids) for e in self._tok.encode_batch(list(texts), add_special_tokens=False)]

    def ids(self, text: str) -> list[int]:
        """Token ids of one text."""
        return list(self._tok.encode(text, add_special_tokens=False).ids)

    def spans(self, text: str) -> SpanCounter:
        """A counter of the tokens inside any span of ``text``, from one tokenization."""
        import numpy as np

        starts = [0]
        while len(text) - starts[-1] > _WINDOW_CHARS:
            cut = text.find(" ", starts[-1] + _WINDOW_CHARS)
            if cut < 0:
                break
            starts.append(cut)
        bounds = [*starts[1:], len(text)]
        encs = self._tok.encode_batch(
            [text[a:b] for a, b in zip(starts, bounds, strict=True)], add_special_tokens=False
        )
        offsets = [
            np.asarray(e.offsets, dtype=np.int64).reshape(-1, 2) + a
            for e, a in zip(encs, starts, strict=True)
        ]
        both = np.concatenate(offsets) if offsets else np.zeros((0, 2), dtype=np.int64)
        continues = None
        if self._continues is not None:
            ids = np.concatenate([np.asarray(e.ids, dtype=np.int64) for e in encs])
            continues = self._continues[ids] if len(ids) else np.zeros(0, dtype=bool)
        return SpanCounter(both[:, 0].copy(), both[:, 1].copy(), continues)


def _continuation_ids(tokenizer: Any) -> np.ndarray | None:
    """Which ids continue a word, for a BERT-style WordPiece tokenizer; else ``None``.

    Such a tokenizer splits words at spaces and punctuation, so a span cut between
    words tokenizes as it does in the whole text; for any other tokenizer the span
    counts are never taken as exact.
    """
    import json

    import numpy as np

    spec = json.loads(tokenizer.to_str())
    model, pre = spec.get("model") or {}, spec.get("pre_tokenizer") or {}
    if model.get("type") != "WordPiece" or pre.get("type") != "BertPreTokenizer":
        return None
    prefix = model.get("continuing_subword_prefix") or "##"
    vocab = tokenizer.get_vocab(with_added_tokens=True)
    flags = np.zeros(max(vocab.values(), default=0) + 1, dtype=bool)
    flags[[i for t, i in vocab.items() if t.startswith(prefix)]] = True
    return flags


class SpanCounter:
    """Tokens lying wholly inside spans of one tokenized text.

    A span cut inside a word loses that word's tokens on both sides, so the counts
    guide splitting decisions; the chunker counts its final chunks exactly.

    Args:
        starts: each token's first character, in order.
        ends: each token's end (exclusive), in order.
    """

    def __init__(
        self, starts: np.ndarray, ends: np.ndarray, continues: np.ndarray | None = None
    ) -> None:
        self._starts, self._ends, self._continues = starts, ends, continues

    def __call__(self, spans: Sequence[tuple[int, int]]) -> list[int]:
        """Tokens inside each ``(start, end)`` span."""
        import numpy as np

        if not spans:
            return []
        bounds = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
        first = np.searchsorted(self._starts, bounds[:, 0], side="left")
        last = np.searchsorted(self._ends, bounds[:, 1], side="right")
        return [int(n) for n in np.maximum(last - first, 0)]

    def exact(self, spans: Sequence[tuple[int, int]]) -> list[int | None]:
        """Each span's count where it is what the span's own text tokenizes to, else ``None``.

        Exact when both ends fall between words: no token crosses an end, none
        starting at the span's start continues a word, and none just past its end does.
        """
        import numpy as np

        if self._continues is None or not spans:
            return [None] * len(spans)
        bounds = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
        n = len(self._starts)
        first = np.searchsorted(self._starts, bounds[:, 0], side="left")
        last = np.searchsorted(self._ends, bounds[:, 1], side="right")
        cont = np.append(self._continues, False)  # index n: past the end, no word goes on
        ends = np.append(self._ends, -1)  # index -1 of "first - 1": nothing before the text
        starts = np.append(self._starts, np.iinfo(np.int64).max)
        clean = (ends[first - 1] <= bounds[:, 0]) & (starts[np.minimum(last, n)] >= bounds[:, 1])
        clean &= ~cont[np.minimum(first, n)] & ~cont[np.minimum(last, n)]
        counts = np.maximum(last - first, 0)
        return [int(c) if ok else None for c, ok in zip(counts, clean, strict=True)]
