"""Dense, BM25 and hybrid search over a store of chunk records and the BM25 index beside it.

:class:`Searcher` gets the parts it reads (the :class:`~longdoc.retrieval.store.Store`
and the :class:`~longdoc.retrieval.lexical.Bm25Index`) and a :class:`Scope` saying
which chunks may be returned; :class:`~longdoc.retrieval.index.Index` builds both,
so this module never needs the index. :meth:`Searcher.find_symbol` looks definitions up
by the qualified names code chunks carry in their ``symbol`` metadata.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from longdoc.retrieval.models import Chunk, SearchHit
from longdoc.retrieval.packing import reciprocal_rank_fusion
from longdoc.retrieval.records import (
    chunk_from_record,
    current_versions,
    is_pending,
    sibling_id,
    version_of,
)

if TYPE_CHECKING:
    from longdoc.retrieval.lexical import Bm25Index
    from longdoc.retrieval.store import Store

__all__ = ["Scope", "SearchMode", "Searcher", "symbol_match"]

SearchMode = Literal["dense", "bm25", "hybrid"]

# Each ranker contributes this many candidates (at least) to the fusion.
_FUSION_DEPTH = 50

_Ranked = list[tuple[str, float, Chunk]]
# One definition found by name: (tier, doc_id, symbol) -> its parts as (ordinal, record id).
_Groups = dict[tuple[int, str, str], list[tuple[int, str]]]
# A symbol hit's score by match tier: exact, exact ignoring case, suffix, suffix ignoring case.
_TIER_SCORES = (1.0, 0.75, 0.5, 0.25)


@dataclass(frozen=True)
class Scope:
    """Which chunks a search may return.

    Attributes:
        doc_ids: only chunks of these documents; ``None``: every document; empty: none.
        ordinal_range: only chunks with ``lo <= ordinal <= hi``.
        languages: only code chunks of these languages (their ``language`` metadata);
            ``None``: any chunk; empty: none.
    """

    doc_ids: frozenset[str] | None = None
    ordinal_range: tuple[int, int] | None = None
    languages: frozenset[str] | None = None

    @property
    def empty(self) -> bool:
        """True when no chunk can match."""
        return (self.doc_ids is not None and not self.doc_ids) or (
            self.languages is not None and not self.languages
        )

    def where(self) -> dict[str, Any] | None:
        """The scope as a Chroma metadata filter (``None``: no filter)."""
        clauses: list[dict[str, Any]] = []
        if self.doc_ids:
            clauses.append({"doc_id": {"$in": sorted(self.doc_ids)}})
        if self.ordinal_range is not None:
            lo, hi = self.ordinal_range
            clauses += [{"ordinal": {"$gte": int(lo)}}, {"ordinal": {"$lte": int(hi)}}]
        if self.languages:
            clauses.append({"language": {"$in": sorted(self.languages)}})
        return None if not clauses else clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def admits(self, metadata: Mapping[str, Any]) -> bool:
        """Whether the chunk stored with ``metadata`` is inside the scope (and published)."""
        if is_pending(metadata):
            return False
        if self.doc_ids is not None and metadata["doc_id"] not in self.doc_ids:
            return False
        if self.languages is not None and metadata.get("language") not in self.languages:
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
        # Chunks of a version still being written are dropped here rather than by a Chroma
        # filter, so a search costs the same as before when nothing is pending (the usual case).
        want = n
        while True:
            found = self.store.query(query, want, where=scope.where())
            kept = [
                (r.id, score, chunk_from_record(r.text, r.metadata))
                for r, score in found
                if not is_pending(r.metadata)
            ]
            if len(kept) >= n or len(found) < want:
                return kept[:n]
            want *= 2

    def lexical_texts(self) -> tuple[list[str], list[str]]:
        """``(ids, texts)`` of every record as BM25 indexes them (for a rebuild)."""
        from longdoc.retrieval.lexical import lexical_text

        ids, texts = [], []
        for i, t, m in self.store.get():
            ids.append(i)
            texts.append(lexical_text(t, m))
        return ids, texts

    def _bm25(self, query: str, n: int, scope: Scope) -> _Ranked:
        out: _Ranked = []
        page = max(4 * n, 64)
        self.bm25.ensure(self.store.state, self.lexical_texts)
        for start in itertools.count(0, page):
            batch = self.bm25.scores(query, limit=page, offset=start, doc_ids=scope.doc_ids)
            rows = {i: (t, m) for i, t, m in self.store.get(ids=[i for i, _s in batch])}
            for i, s in batch:
                if i not in rows:  # not (or no longer) in Chroma: a crashed or running writer's
                    continue
                t, m = rows[i]
                if not scope.admits(m):
                    continue
                out.append((i, s, chunk_from_record(t or "", m)))
                if len(out) >= n:
                    return out
            if len(batch) < page:
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
                if p == pos and i in rows and not is_pending(rows[i][1])
            ]
            for i, c in sorted(extra, key=lambda ic: ic[1].ordinal):
                out.append(SearchHit(id=i, chunk=c, score=h.score, mode="neighbour", rank=h.rank))
        return out

    # --- symbols -------------------------------------------------------------------------
    def find_symbol(
        self, name: str, k: int, *, scope: Scope | None = None, query: str | None = None
    ) -> list[SearchHit]:
        """Chunks of the definitions named ``name`` (see :func:`symbol_match`).

        Chroma has no suffix filter on metadata, so one metadata-only get (filtered
        by the scope) reads the symbols and they are matched here. Only each
        document's current version is read.

        Args:
            name: a symbol name, bare (``register``) or qualified (``Blueprint.register``).
            k: how many definitions; every chunk of each comes back, in order.
            scope: which chunks may be returned; default all.
            query: rank the definitions found by this text (hybrid) instead of by
                match quality.

        Returns:
            Hits of mode ``"symbol"``: definitions best first (exact matches, then
            case-insensitive ones, then suffix matches), the parts of one definition
            in document order and sharing its rank.
        """
        scope = scope or Scope()
        name = name.strip()
        if k <= 0 or not name or scope.empty:
            return []
        rows = [(i, m) for i, _t, m in self.store.get(where=scope.where(), include_documents=False)]
        current = current_versions(rows)
        groups: _Groups = {}
        for i, m in rows:
            names = f"{m.get('symbol') or ''} {m.get('members') or ''}"
            found = symbol_match(names, name)
            if found is None or is_pending(m) or current.get(m["doc_id"]) != version_of(m):
                continue
            groups.setdefault((found[0], m["doc_id"], found[1]), []).append((int(m["ordinal"]), i))
        order = sorted(groups, key=lambda g: (g[0], g[1], min(groups[g])))
        scores = {g: _TIER_SCORES[g[0]] for g in order}
        if query and query.strip() and len(order) > 1:
            scores = self._rank_groups(query, groups, scope)
            order.sort(key=lambda g: -scores[g])  # stable: ties keep the match order
        chosen = order[:k]
        ids = [i for g in chosen for _o, i in groups[g]]
        texts = {i: (t or "", m) for i, t, m in self.store.get(ids=ids)}
        hits: list[SearchHit] = []
        for rank, g in enumerate(chosen):
            for _o, i in sorted(groups[g]):
                if i in texts:  # deleted since the get above
                    chunk = chunk_from_record(*texts[i])
                    hits.append(
                        SearchHit(id=i, chunk=chunk, score=scores[g], mode="symbol", rank=rank)
                    )
        return hits

    def _rank_groups(
        self, query: str, groups: _Groups, scope: Scope
    ) -> dict[tuple[int, str, str], float]:
        """Each definition's best fused (dense + BM25) score for ``query``, 0 when unranked."""
        owner = {i: g for g, parts in groups.items() for _o, i in parts}
        docs = Scope(
            doc_ids=frozenset(g[1] for g in groups),
            ordinal_range=scope.ordinal_range,
            languages=scope.languages,
        )
        depth = max(_FUSION_DEPTH, 4 * len(owner))
        dense = [i for i, _s, _c in self._dense(query, depth, docs) if i in owner]
        lexical = [
            i
            for i, _s in self.bm25.ranked(
                query, state=self.store.state, fetch=self.lexical_texts, doc_ids=docs.doc_ids
            )
            if i in owner
        ]
        scores = dict.fromkeys(groups, 0.0)
        for i, s in reciprocal_rank_fusion([dense, lexical]):
            scores[owner[i]] = max(scores[owner[i]], s)
        return scores


def symbol_match(symbols: str, name: str) -> tuple[int, str] | None:
    """How well ``name`` names one of ``symbols`` (qualified names joined by whitespace).

    Tiers, best first: 0 an exact match, 1 exact ignoring case, 2 a suffix at a
    ``.`` boundary (``register`` names ``Blueprint.register``; ``ster`` does not),
    3 such a suffix ignoring case.

    Returns:
        ``(tier, the symbol matched)`` for the best match, or ``None``.
    """
    low, tail, low_tail = name.lower(), "." + name, "." + name.lower()
    best: tuple[int, str] | None = None
    for sym in symbols.split():
        s_low = sym.lower()
        tiers = (sym == name, s_low == low, sym.endswith(tail), s_low.endswith(low_tail))
        tier = next((t for t, hit in enumerate(tiers) if hit), None)
        if tier is not None and (best is None or tier < best[0]):
            best = (tier, sym)
    return best
