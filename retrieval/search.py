"""Dense, BM25 and hybrid search over a store of chunk records and the BM25 index beside it.

:class:`Searcher` gets the parts it reads (the :class:`~longdoc.retrieval.store.Store`
and the :class:`~longdoc.retrieval.lexical.Bm25Index`) and a :class:`Scope` saying
which chunks may be returned; :class:`~longdoc.retrieval.index.Index` builds both,
so this module never needs the index.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from longdoc.retrieval.models import Chunk, SearchHit
from longdoc.retrieval.packing import reciprocal_rank_fusion
from longdoc.retrieval.records import chunk_from_record, sibling_id

if TYPE_CHECKING:
    from longdoc.retrieval.lexical import Bm25Index
    from longdoc.retrieval.store import Store

__all__ = ["Scope", "SearchMode", "Searcher"]

SearchMode = Literal["dense", "bm25", "hybrid"]

# Each ranker contributes this many candidates (at least) to the fusion.
_FUSION_DEPTH = 50

_Ranked = list[tuple[str, float, Chunk]]


@dataclass(frozen=True)
class Scope:
    """Which chunks a search may return.

    Attributes:
        doc_ids: only chunks of these documents; ``None``: every document; empty: none.
        ordinal_range: only chunks with ``lo <= ordinal <= hi``.
    """

    doc_ids: frozenset[str] | None = None
    ordinal_range: tuple[int, int] | None = None

    @property
    def empty(self) -> bool:
        """True when no chunk can match."""
        return self.doc_ids is not None and not self.doc_ids

    def where(self) -> dict[str, Any] | None:
        """The scope as a Chroma metadata filter (``None``: no filter)."""
        clauses: list[dict[str, Any]] = []
        if self.doc_ids:
            clauses.append({"doc_id": {"$in": sorted(self.doc_ids)}})
        if self.ordinal_range is not None:
            lo, hi = self.ordinal_range
            clauses += [{"ordinal": {"$gte": int(lo)}}, {"ordinal": {"$lte": int(hi)}}]
        return None if not clauses else clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def admits(self, metadata: Mapping[str, Any]) -> bool:
        """Whether the chunk stored with ``metadata`` is inside the scope."""
        if self.doc_ids is not None and metadata["doc_id"] not in self.doc_ids:
            return False
        r = self.ordinal_range
        return not r or r[0] <= int(metadata["ordinal"]) <= r[1]


class Searcher:
    """Dense, BM25 and hybrid search over chunk records.

    Args:
        store: the collection of chunk records (see :mod:`longdoc.retrieval.records`).
        bm25: the BM25 index kept beside it; rebuilt from ``store`` when out of step.
    """

    def __init__(self, store: Store, bm25: Bm25Index) -> None:
        self.store = store
        self.bm25 = bm25

    def search(
        self,
        query: str,
        k: int,
        *,
        mode: SearchMode = "hybrid",
        scope: Scope | None = None,
        neighbours: int = 0,
    ) -> list[SearchHit]:
        """Top-``k`` chunks for ``query`` within ``scope``.

        Args:
            query: the text to search for.
            k: how many hits (before neighbour expansion).
            mode: ``"dense"``, ``"bm25"`` or ``"hybrid"`` (RRF of both).
            scope: which chunks may be returned; default all.
            neighbours: also return this many chunks on each side of every hit.

        Returns:
            Hits best first; neighbours follow the hit they belong to.

        Raises:
            ValueError: an unknown ``mode``.
        """
        if mode not in ("dense", "bm25", "hybrid"):
            raise ValueError(f"mode must be 'dense', 'bm25' or 'hybrid', not {mode!r}")
        scope = scope or Scope()
        if k <= 0 or not query.strip() or scope.empty:
            return []
        depth = k if mode != "hybrid" else max(_FUSION_DEPTH, 2 * k)
        dense = self._dense(query, depth, scope) if mode in ("dense", "hybrid") else []
        lexical = self._bm25(query, depth, scope) if mode in ("bm25", "hybrid") else []
        if mode == "hybrid":
            chunks = {i: c for i, _s, c in (*dense, *lexical)}
            fused = reciprocal_rank_fusion(
                [[i for i, _s, _c in dense], [i for i, _s, _c in lexical]]
            )
            ranked = [(i, s, chunks[i]) for i, s in fused[:k]]
        else:
            ranked = (dense or lexical)[:k]
        hits = [
            SearchHit(id=i, chunk=c, score=s, mode=mode, rank=r)
            for r, (i, s, c) in enumerate(ranked)
        ]
        return self._expand(hits, neighbours) if neighbours > 0 else hits

    def _dense(self, query: str, n: int, scope: Scope) -> _Ranked:
        found = self.store.query(query, n, where=scope.where())
        return [(r.id, score, chunk_from_record(r.text, r.metadata)) for r, score in found]

    def _bm25_texts(self) -> tuple[list[str], list[str]]:
        ids, texts = [], []
        for i, t, m in self.store.get():
            ids.append(i)
            header = m.get("header") or ""
            texts.append(f"{header}\n{t}" if header else (t or ""))
        return ids, texts

    def _bm25(self, query: str, n: int, scope: Scope) -> _Ranked:
        scored = self.bm25.ranked(query, expected=self.store.count(), fetch=self._bm25_texts)
        out: _Ranked = []
        page = max(4 * n, 64)
        for start in range(0, len(scored), page):
            batch = scored[start : start + page]
            rows = {i: (t, m) for i, t, m in self.store.get(ids=[i for i, _s in batch])}
            for i, s in batch:
                if i not in rows:  # deleted since the index was built
                    continue
                t, m = rows[i]
                if not scope.admits(m):
                    continue
                out.append((i, s, chunk_from_record(t or "", m)))
                if len(out) >= n:
                    return out
        return out

    def _expand(self, hits: list[SearchHit], n: int) -> list[SearchHit]:
        """Add up to ``n`` chunks before and after each hit, from the same document version."""
        have = {(h.chunk.doc_id, h.chunk.ordinal) for h in hits}
        wanted: list[tuple[int, str]] = []
        for pos, h in enumerate(hits):
            for d in range(1, n + 1):
                for o in (h.chunk.ordinal - d, h.chunk.ordinal + d):
                    if o >= 0 and (h.chunk.doc_id, o) not in have:
                        have.add((h.chunk.doc_id, o))
                        wanted.append((pos, sibling_id(h.id, o)))
        rows = {i: (t, m) for i, t, m in self.store.get(ids=[i for _p, i in wanted])}
        out: list[SearchHit] = []
        for pos, h in enumerate(hits):
            out.append(h)
            extra = [
                (i, chunk_from_record(rows[i][0] or "", rows[i][1]))
                for p, i in wanted
                if p == pos and i in rows
            ]
            for i, c in sorted(extra, key=lambda ic: ic[1].ordinal):
                out.append(SearchHit(id=i, chunk=c, score=h.score, mode="neighbour", rank=h.rank))
        return out
