"""``ingest --prune`` and half-written documents (issue 16, section 1).

An ingest stopped after some of a document's chunks were written leaves them flagged
pending (hidden from every reader). While its file is there, the next ingest resumes
it; once its file is gone, ``--prune`` removes its chunks from Chroma and from the
lexical index, as it does for complete documents.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from retrieval_support import write

from longdoc.cli import main
from longdoc.config import load_settings
from longdoc.retrieval import Index
from longdoc.retrieval.store import Store

pytestmark = pytest.mark.slow  # the real embedder


class _Killed(BaseException):
    """Stands for SIGKILL: no ``except Exception`` in longdoc catches it."""


def _prose(topic: str, paragraphs: int) -> str:
    return "\n\n".join(
        f"Note {i} on {topic}: the {topic} of section {i} differ in size and origin, "
        f"as record {i * 7} of the {topic} survey shows near station {i}."
        for i in range(paragraphs)
    )


def _ingest_stopped_at_write(index: Index, docs: Path, n: int, mp: pytest.MonkeyPatch) -> None:
    """Ingest ``docs``, stopped as its ``n``-th Chroma write begins (earlier ones stored)."""
    real, calls = Store.upsert, [0]

    def upsert(store: Store, *args: Any, **kwargs: Any) -> None:
        calls[0] += 1
        if calls[0] == n:
            raise _Killed
        real(store, *args, **kwargs)

    with mp.context() as m:
        m.setattr(Store, "upsert", upsert)
        with pytest.raises(_Killed):
            index.ingest([docs])


def _rows(index: Index, doc_id: str) -> tuple[int, int]:
    """Records of ``doc_id`` in Chroma, and in the lexical index's SQLite file."""
    chroma = len(list(index.store.get(where={"doc_id": doc_id}, include_documents=False)))
    with closing(sqlite3.connect(index.bm25.path)) as db:
        query = "SELECT count(*) FROM records WHERE doc_id = ?"
        (lexical,) = db.execute(query, (doc_id,)).fetchone()
    return chroma, int(lexical)


def test_prune_resumes_a_half_written_document_and_removes_one_whose_file_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LONGDOC_CHUNK_SIZE", "40")  # small chunks, 4 per Chroma write
    monkeypatch.setenv("LONGDOC_CHUNK_OVERLAP", "4")
    monkeypatch.setenv("LONGDOC_EMBED_BATCH_SIZE", "1")
    monkeypatch.setenv("LONGDOC_INGEST_WRITE_CHUNKS", "4")
    index = Index(settings=load_settings())
    docs = tmp_path / "docs"
    write(docs / "a.txt", _prose("whales", 2))
    index.ingest([docs])
    [a_id] = [d.doc_id for d in index.list_documents()]
    write(docs / "b.txt", _prose("comets", 10))  # several writes
    _ingest_stopped_at_write(index, docs, 2, monkeypatch)  # a unchanged: b half written
    b_id = a_id.replace("a.txt", "b.txt")
    assert [d.doc_id for d in index.list_documents()] == [a_id]
    stored, lexical = _rows(index, b_id)
    assert 0 < stored <= lexical  # hidden, but stored (BM25 rows first: maybe more)

    # The file is still there: the pruning ingest resumes it rather than removing it.
    report = index.ingest([docs], prune=True)
    b = index.get_document(b_id)
    assert (report.removed, report.added) == ([], [b_id])
    assert report.chunks_embedded == b.chunks - stored  # only the chunks not stored yet
    assert _rows(index, b_id) == (b.chunks, b.chunks)

    write(docs / "c.txt", _prose("tulips", 10))
    _ingest_stopped_at_write(index, docs, 2, monkeypatch)  # a, b unchanged: c half written
    c_id = a_id.replace("a.txt", "c.txt")
    assert c_id not in [d.doc_id for d in index.list_documents()]
    stored, lexical = _rows(index, c_id)
    assert 0 < stored < lexical  # the stopped write had written its BM25 rows

    (docs / "c.txt").unlink()
    assert main(["ingest", str(docs), "--prune"]) == 0
    assert _rows(index, c_id) == (0, 0)  # gone from Chroma and from the lexical index
    assert [d.doc_id for d in index.list_documents()] == [a_id, b_id]
    assert index.store.count() == sum(d.chunks for d in index.list_documents())
    assert _rows(index, b_id) == (b.chunks, b.chunks)
