"""Dense, BM25 and hybrid search over an :class:`~longdoc.retrieval.index.Index`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from longdoc.retrieval.models import Chunk, SearchHit
from longdoc.retrieval.packing import reciprocal_rank_fusion

if TYPE_CHECKING:
    from longdoc.retrieval.index import Index

__all__ = ["search"]

# Each ranker contributes this many candidates (at least) to the fusion.
_FUSION_DEPTH = 50


def search(
    index: Index,
    query: str,
    k: int,
    *,
    mode: str,
    doc_ids: Sequence[str] | None,
    path_glob: str | None,
    ordinal_range: tuple[int, int] | None,
    neighbours: int,
) -> list[SearchHit]:
    """See :meth:`Index.search`."""
    from longdoc.retrieval.records import _to_chunk

    if mode not in ("dense", "bm25", "hybrid"):
        raise ValueError(f"mode must be 'dense', 'bm25' or 'hybrid', not {mode!r}")
    if k <= 0 or not query.strip():
        return []
    where, allowed = index._where(doc_ids, path_glob, ordinal_range)
    if allowed is not None and not allowed:
        return []
    depth = k if mode != "hybrid" else max(_FUSION_DEPTH, 2 * k)
    dense: list[tuple[str, float, Chunk]] = []
    lexical: list[tuple[str, float, Chunk]] = []
    if mode in ("dense", "hybrid"):
        dense = _dense(index, query, depth, where, _to_chunk)
    if mode in ("bm25", "hybrid"):
        lexical = _bm25(index, query, depth, allowed, ordinal_range, _to_chunk)
    if mode == "hybrid":
        chunks = {i: c for i, _s, c in (*dense, *lexical)}
        fused = reciprocal_rank_fusion([[i for i, _s, _c in dense], [i for i, _s, _c in lexical]])
        ranked = [(i, s, chunks[i]) for i, s in fused[:k]]
    else:
        ranked = (dense or lexical)[:k]
    hits = [
        SearchHit(id=i, chunk=c, score=s, mode=mode, rank=r) for r, (i, s, c) in enumerate(ranked)
    ]
    return _expand(index, hits, neighbours, _to_chunk) if neighbours > 0 else hits


def _dense(index: Index, query: str, n: int, where: Any, to_chunk: Any) -> list[Any]:
    count = index.store.count()
    if not count:
        return []
    vec = index.store.embed([query])
    res = index.store.collection.query(
        query_embeddings=vec,
        n_results=min(n, count),
        where=where,
        include=["documents", "metadatas", "distances"],
    )
    return [
        (i, 1.0 - float(d), to_chunk(t or "", m))
        for i, t, m, d in zip(
            res["ids"][0],
            res["documents"][0],
            res["metadatas"][0],
            res["distances"][0],
            strict=False,
        )
    ]


def _bm25_fetch(index: Index) -> tuple[list[str], list[str]]:
    ids, texts = [], []
    for i, t, m in index.store.get():
        ids.append(i)
        header = m.get("header") or ""
        texts.append(f"{header}\n{t}" if header else (t or ""))
    return ids, texts


def _bm25(
    index: Index,
    query: str,
    n: int,
    allowed: set[str] | None,
    ordinal_range: tuple[int, int] | None,
    to_chunk: Any,
) -> list[Any]:
    index.bm25.ensure(index.store.count(), lambda: _bm25_fetch(index))
    scored = index.bm25.scores(query)
    out: list[Any] = []
    page = max(4 * n, 64)
    for start in range(0, len(scored), page):
        batch = scored[start : start + page]
        rows = {i: (t, m) for i, t, m in index.store.get(ids=[i for i, _s in batch])}
        for i, s in batch:
            if i not in rows:  # deleted since the index was built
                continue
            t, m = rows[i]
            if allowed is not None and m["doc_id"] not in allowed:
                continue
            if ordinal_range and not ordinal_range[0] <= int(m["ordinal"]) <= ordinal_range[1]:
                continue
            out.append((i, s, to_chunk(t or "", m)))
            if len(out) >= n:
                return out
    return out


def _expand(index: Index, hits: list[SearchHit], n: int, to_chunk: Any) -> list[SearchHit]:
    """Add up to ``n`` chunks before and after each hit, from the same document version."""
    have = {(h.chunk.doc_id, h.chunk.ordinal) for h in hits}
    wanted: list[tuple[int, str]] = []
    for pos, h in enumerate(hits):
        # Record ids are "<doc_id>::<hash16>::<ordinal>": neighbours share the prefix.
        prefix = h.id.rsplit("::", 1)[0]
        for d in range(1, n + 1):
            for o in (h.chunk.ordinal - d, h.chunk.ordinal + d):
                if o >= 0 and (h.chunk.doc_id, o) not in have:
                    have.add((h.chunk.doc_id, o))
                    wanted.append((pos, f"{prefix}::{o}"))
    rows = {i: (t, m) for i, t, m in index.store.get(ids=[i for _p, i in wanted])}
    out: list[SearchHit] = []
    for pos, h in enumerate(hits):
        out.append(h)
        extra = [
            (i, to_chunk(rows[i][0] or "", rows[i][1])) for p, i in wanted if p == pos and i in rows
        ]
        for i, c in sorted(extra, key=lambda ic: ic[1].ordinal):
            out.append(SearchHit(id=i, chunk=c, score=h.score, mode="neighbour", rank=h.rank))
    return out
