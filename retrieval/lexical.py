"""BM25 over a collection's chunks (bm25s), persisted beside the Chroma index.

bm25s indexes are immutable, so the index is rebuilt from Chroma when it is
stale: every mutation marks it stale first (so a crash leaves it stale, never
wrong), and a search rebuilds it when marked or when its size differs from the
collection's. One lock per index makes a rebuild, a mark and a search atomic
towards each other, so concurrent searches (threads of the async twins) neither
rebuild at once nor lose the index between building and scoring it.

Tokens are identifier-aware (:func:`tokenize`): ``getUserName``, ``get_user_name``,
``GetUserName`` and ``get-user-name`` all yield ``get``, ``user``, ``name`` plus the
whole identifier, so code and prose queries find each other. The saved index
records the tokenizer it was built with; one built by another tokenizer (or
stemmer) is rebuilt rather than scored with mismatched tokens.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["TOKENIZER_VERSION", "Bm25Index", "Tokenizer", "tokenize"]

_STALE = "STALE"
_IDS = "ids.json"
_TOKENIZER = "tokenizer.json"

# Bump whenever tokens change: a saved index built by another version is rebuilt.
TOKENIZER_VERSION = 2

# Hand-written splitting: bm25s takes one regex applied after lowercasing, which can
# neither see case boundaries nor yield a whole identifier and its parts together.
_WORD = re.compile(r"\w+(?:-\w+)*")  # an identifier; kebab-case kept as one word
_SEGMENT = re.compile(r"[^\W_]+")  # the letters and digits between underscores
# camelCase / PascalCase / acronym / digit boundaries: HTTPAdapter -> HTTP, Adapter.
_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_CACHE_LIMIT = 500_000


def _stemmer() -> Callable[[str], str] | None:
    try:
        import Stemmer  # PyStemmer: optional, improves recall on inflected words

        stem: Callable[[str], str] = Stemmer.Stemmer("english").stemWord
        return stem
    except ImportError:
        return None


def _parts(word: str) -> list[str]:
    """``word``'s sub-words, lowercased (non-ASCII runs are kept whole: no case rules)."""
    return [
        p.lower()
        for seg in _SEGMENT.findall(word)
        for p in (_PART.findall(seg) if seg.isascii() else (seg,))
    ]


class Tokenizer:
    """Identifier-aware BM25 tokens, the same for documents and queries.

    Every word is split at ``_``, ``-``, case changes (acronyms included) and
    digit boundaries; each sub-word of two characters or more that is not an
    English stopword is stemmed (when PyStemmer is installed), as bm25s does for
    prose. A word made of several sub-words also yields itself, lowercased and
    unstemmed (``parseURLString`` -> ``parseurlstring``, ``pars``, ``url``, ``string``).

    Args:
        stem: a one-word stemmer; default PyStemmer's English one when installed.
    """

    def __init__(self, stem: Callable[[str], str] | None = None) -> None:
        from bm25s.stopwords import STOPWORDS_EN

        self._stem = stem if stem is not None else _stemmer()
        self._stopwords = frozenset(STOPWORDS_EN)
        self._words: dict[str, tuple[str, ...]] = {}  # word -> tokens; words repeat a lot

    @property
    def identity(self) -> dict[str, Any]:
        """What decides the tokens: saved with an index, compared on load."""
        return {"version": TOKENIZER_VERSION, "stemmer": "english" if self._stem else None}

    def word(self, word: str) -> tuple[str, ...]:
        """The tokens of one word (see the class docstring)."""
        tokens = self._words.get(word)
        if tokens is None:
            parts = _parts(word)
            kept = [p for p in parts if len(p) > 1 and p not in self._stopwords]
            stemmed = [self._stem(p) for p in kept] if self._stem else kept
            tokens = tuple([word.lower(), *stemmed] if len(parts) > 1 else stemmed)
            if len(self._words) >= _CACHE_LIMIT:
                self._words.clear()
            self._words[word] = tokens
        return tokens

    def __call__(self, text: str) -> list[str]:
        """The tokens of ``text``, in order."""
        return [t for w in _WORD.findall(text) for t in self.word(w)]


def tokenize(text: str) -> list[str]:
    """The BM25 tokens of ``text`` (a fresh :class:`Tokenizer`; keep one to reuse its cache)."""
    return Tokenizer()(text)


class Bm25Index:
    """A persisted BM25 index for one collection.

    Args:
        folder: where the index files live (created on demand).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._retriever: Any = None
        self._ids: list[str] = []
        self._tokenizer = Tokenizer()
        self._lock = threading.RLock()

    def mark_stale(self) -> None:
        """Record that the collection is about to change (call before writing)."""
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / _STALE).touch()
            self._retriever = None

    def _tokenize(self, texts: list[str]) -> list[list[str]]:
        return [self._tokenizer(t) for t in texts]

    def _load(self) -> bool:
        if (self.folder / _STALE).exists() or not (self.folder / _IDS).is_file():
            return False
        import bm25s

        try:
            built_with = json.loads((self.folder / _TOKENIZER).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False  # saved before tokenizers were recorded, or damaged: rebuild
        if built_with != self._tokenizer.identity:
            return False
        try:
            self._ids = json.loads((self.folder / _IDS).read_text(encoding="utf-8"))
            self._retriever = (
                bm25s.BM25.load(str(self.folder / "bm25"), show_progress=False)
                if self._ids
                else None
            )
        except (OSError, ValueError):
            return False
        return True

    def rebuild(self, ids: list[str], texts: list[str]) -> None:
        """Index ``texts`` under ``ids`` and save the index.

        Args:
            ids: record ids, in the order of ``texts``.
            texts: the text to index for each id.
        """
        import bm25s

        with self._lock:
            self.mark_stale()
            retriever = None
            if ids:
                retriever = bm25s.BM25()
                retriever.index(self._tokenize(texts), show_progress=False)
                tmp = self.folder / "bm25.tmp"
                shutil.rmtree(tmp, ignore_errors=True)
                retriever.save(str(tmp), show_progress=False)
                shutil.rmtree(self.folder / "bm25", ignore_errors=True)
                tmp.rename(self.folder / "bm25")
            (self.folder / _IDS).write_text(json.dumps(ids), encoding="utf-8")
            (self.folder / _TOKENIZER).write_text(
                json.dumps(self._tokenizer.identity), encoding="utf-8"
            )
            (self.folder / _STALE).unlink(missing_ok=True)
            self._retriever, self._ids = retriever, list(ids)

    def ensure(self, expected: int, fetch: Callable[[], tuple[list[str], list[str]]]) -> None:
        """Load the saved index, rebuilding it when stale or out of step.

        Args:
            expected: the number of records the collection holds now.
            fetch: returns ``(ids, texts)`` of every record, for a rebuild.
        """
        with self._lock:
            if (self._retriever is None and not self._load()) or len(self._ids) != expected:
                self.rebuild(*fetch())

    def ranked(
        self, query: str, *, expected: int, fetch: Callable[[], tuple[list[str], list[str]]]
    ) -> list[tuple[str, float]]:
        """:meth:`ensure`, then :meth:`scores`, with no write in between.

        Args:
            query: the text to score the records against.
            expected: the number of records the collection holds now.
            fetch: returns ``(ids, texts)`` of every record, for a rebuild.

        Returns:
            ``(id, score)`` for every record with a positive score, best first.
        """
        with self._lock:
            self.ensure(expected, fetch)
            return self.scores(query)

    def scores(self, query: str) -> list[tuple[str, float]]:
        """``(id, score)`` for every record with a positive score, best first."""
        with self._lock:
            retriever, ids = self._retriever, self._ids
        if retriever is None or not ids:
            return []
        tokens = self._tokenize([query])[0]
        if not tokens:
            return []
        scores = retriever.get_scores(tokens)
        order = scores.argsort()[::-1]
        return [(ids[i], float(scores[i])) for i in order if scores[i] > 0]
