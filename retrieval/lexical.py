"""BM25 over a collection's chunks (bm25s), persisted beside the Chroma index.

bm25s indexes are immutable, so the index is rebuilt from Chroma when it is
stale: every mutation marks it stale first (so a crash leaves it stale, never
wrong), and a search rebuilds it when marked or when its size differs from the
collection's. One lock per index makes a rebuild, a mark and a search atomic
towards each other, so concurrent searches (threads of the async twins) neither
rebuild at once nor lose the index between building and scoring it.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["Bm25Index"]

_STALE = "STALE"
_IDS = "ids.json"


def _stemmer() -> Any:
    try:
        import Stemmer  # PyStemmer: optional, improves recall on inflected words

        return Stemmer.Stemmer("english").stemWords
    except ImportError:
        return None


class Bm25Index:
    """A persisted BM25 index for one collection.

    Args:
        folder: where the index files live (created on demand).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._retriever: Any = None
        self._ids: list[str] = []
        self._stem = _stemmer()
        self._lock = threading.RLock()

    def mark_stale(self) -> None:
        """Record that the collection is about to change (call before writing)."""
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / _STALE).touch()
            self._retriever = None

    def _tokenize(self, texts: list[str]) -> list[list[str]]:
        import bm25s

        tokens: list[list[str]] = bm25s.tokenize(
            texts, stopwords="en", stemmer=self._stem, return_ids=False, show_progress=False
        )
        return tokens

    def _load(self) -> bool:
        if (self.folder / _STALE).exists() or not (self.folder / _IDS).is_file():
            return False
        import bm25s

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
