"""The BM25 fast paths (token pruning, cut inside FTS5) rank as the plain query did.

Each test compares :meth:`Bm25Index.scores` with the query it replaced, run here on
the same real SQLite file: every query token OR-ed, ``records`` joined for every match.
"""

from __future__ import annotations

import itertools
import random
import sqlite3
from pathlib import Path

import pytest

from longdoc.retrieval import lexical
from longdoc.retrieval.lexical import Bm25Index

WORDS = [f"w{i:02d}" for i in range(40)]  # "w07" etc.: no stopword, no stem change
DOCS = 6
ROWS = 120


@pytest.fixture(autouse=True)
def _prune_small_indexes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Prune at any size here (in use only from 5,000 rows), so small corpora test it."""
    monkeypatch.setattr(lexical, "_PRUNE_MIN_ROWS", 0)


def _plain(
    index: Bm25Index,
    query: str,
    *,
    limit: int | None = None,
    offset: int = 0,
    doc_ids: list[str] | None = None,
) -> list[tuple[str, float]]:
    """The query before the fast paths: every token, records joined before the cut."""
    match = " OR ".join(f'"{t}"' for t in index._tokenizer(query))
    sql = (
        "SELECT r.id, bm25(terms) FROM terms JOIN records r ON r.rowid = terms.rowid "
        "WHERE terms MATCH ?"
    )
    params: list[object] = [match]
    if doc_ids is not None:
        sql += f" AND r.doc_id IN ({','.join('?' * len(doc_ids))})"
        params += sorted(doc_ids)
    sql += " ORDER BY bm25(terms), r.rowid LIMIT ? OFFSET ?"
    params += [-1 if limit is None else limit, offset]
    with sqlite3.connect(index.path) as db:
        return [(i, -float(s)) for i, s in db.execute(sql, params).fetchall()]


def _corpus(tmp_path: Path) -> Bm25Index:
    """Rows of random words; ``every`` is in all rows, ``most`` in about 70% of them."""
    rng = random.Random(7)
    ids, texts = [], []
    for n in range(ROWS):
        words = [*rng.choices(WORDS, k=rng.randint(5, 30)), "every"]
        if rng.random() < 0.7:
            words.append("most")
        ids.append(f"doc{n % DOCS}::{'0' * 16}::{n // DOCS}")
        texts.append(" ".join(words))
    index = Bm25Index(tmp_path / "bm25")
    index.rebuild(ids, texts)
    return index


def test_ranking_is_unchanged_when_no_token_is_ubiquitous(tmp_path: Path) -> None:
    index = _corpus(tmp_path)
    for query in ("w01 w02 w03", "w05 w05 w17 nowhere w30", "w39 w00 w11 w12 w13 w14 w15"):
        # Tokens no row holds add exactly 0.0 to every score: the result is bit-identical.
        assert index.scores(query) == _plain(index, query), query
        assert index.scores(query, limit=7, offset=3) == _plain(index, query, limit=7, offset=3)


def test_ubiquitous_tokens_change_scores_negligibly(tmp_path: Path) -> None:
    index = _corpus(tmp_path)
    for query in ("every w03 w09 most", "most w21", "w02 w04 w06 w08 every every"):
        new, old = index.scores(query), dict(_plain(index, query))
        assert new, query
        for i, score in new:
            assert abs(score - old[i]) < 1e-5, (query, i)  # clamped IDF: ~1e-6 a token
        # Only rows matched by ubiquitous tokens alone (scores ~1e-6) are left out...
        assert {i for i, s in old.items() if s > 1e-4} == {i for i, _s in new}, query
        # ...and the order differs only between rows whose old scores are that close.
        for (a, _), (b, _) in itertools.pairwise(new):
            assert old[a] >= old[b] - 1e-5, (query, a, b)


def test_a_query_of_ubiquitous_tokens_only_still_ranks(tmp_path: Path) -> None:
    index = _corpus(tmp_path)
    for query in ("every", "most every most"):
        found = index.scores(query, limit=10)
        assert len(found) == 10
        assert found == _plain(index, query, limit=10), query


def test_doc_filter_limit_and_offset(tmp_path: Path) -> None:
    index = _corpus(tmp_path)
    docs = ["doc1", "doc4"]
    query = "w10 w20 w30 every"
    whole = index.scores(query, doc_ids=docs)
    assert whole and {i.split("::")[0] for i, _s in whole} == set(docs)
    pages = [index.scores(query, limit=5, offset=o, doc_ids=docs) for o in range(0, 60, 5)]
    assert [hit for page in pages for hit in page] == whole  # pages tile the whole list
    assert [i for i, _s in whole] == [
        i for i, s in _plain(index, query, doc_ids=docs) if s > 1e-4
    ]  # the same rows as the plain query, in the same order (no ties at this size)
    assert index.scores(query, doc_ids=[]) == []
    assert index.scores(query, doc_ids=["no-such-doc"]) == []


def test_pruning_follows_another_connections_writes(tmp_path: Path) -> None:
    folder = tmp_path / "bm25"
    index = Bm25Index(folder)
    ids = [f"a::{'0' * 16}::{n}" for n in range(4)]
    index.rebuild(ids, ["alpha beta", "alpha", "alpha", "gamma"])
    # alpha is in 3 of 4 rows: left out, so only beta's row matches.
    assert [i for i, _s in index.scores("alpha beta")] == [ids[0]]
    more = [f"b::{'0' * 16}::{n}" for n in range(4)]
    texts = ["alpha beta", "alpha", "alpha", "gamma", "delta", "delta", "epsilon", "zeta"]
    Bm25Index(folder).rebuild([*ids, *more], texts)
    # Another connection wrote the file: 3 of 8 rows now, so alpha counts again.
    assert [i for i, _s in index.scores("alpha beta")] == ids[:3]


def test_a_small_index_keeps_every_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lexical, "_PRUNE_MIN_ROWS", 5_000)
    index = Bm25Index(tmp_path / "bm25")
    ids = [f"a::{'0' * 16}::{n}" for n in range(4)]
    index.rebuild(ids, ["alpha beta", "alpha", "alpha", "gamma"])
    # alpha is in 3 of 4 rows, yet under 5,000 rows it still counts: rank fusion sees them.
    assert [i for i, _s in index.scores("alpha beta")] == ids[:3]
