"""The overlapped ingest: same records as one item at a time, errors surface, events in order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from retrieval_support import write

from longdoc.config import load_settings
from longdoc.retrieval import Index
from longdoc.retrieval.models import IngestEvent
from longdoc.retrieval.pipeline import Pipeline
from longdoc.retrieval.store import Store

TOPICS = ["whales", "comets", "tulips", "ferries"]


def _prose(topic: str, paragraphs: int) -> str:
    return "\n\n".join(
        f"Note {i} on {topic}: the {topic} of section {i} differ from those of section "
        f"{i + 1} in size and origin, as record {i * 7} of the {topic} survey shows."
        for i in range(paragraphs)
    )


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    for n, topic in enumerate(TOPICS):
        write(folder / f"{topic}.txt", _prose(topic, 6 + 5 * n))
    write(folder / "binary.txt", b"\x00\x01\x02" * 200)  # a skipped file among the documents
    return folder


def _index(data: Path, depth: int) -> Index:
    index = Index(
        settings=load_settings(data_dir=data, chroma_host=None),
        chunk_size=40,
        chunk_overlap=4,
        embed_batch_size=2,
        ingest_write_chunks=8,  # writes of 8 chunks; embeddings across documents
    )
    index._pipeline_depth = depth
    return index


def _records(index: Index) -> dict[str, tuple[str | None, dict[str, Any]]]:
    rows = index.store.get()
    out = {}
    for i, t, m in rows:
        m.pop("ingested_at")
        out[i] = (t, m)
    return out


@pytest.mark.slow
def test_overlapped_ingest_stores_what_a_one_at_a_time_ingest_stores(
    docs: Path, tmp_path: Path
) -> None:
    events: dict[int, list[IngestEvent]] = {1: [], 8: []}
    reports = {}
    stored = {}
    for depth in (1, 8):
        index = _index(tmp_path / f"d{depth}", depth)
        reports[depth] = index.ingest(docs, on_progress=events[depth].append)
        stored[depth] = _records(index)
        lexical = index.search("survey record comets", 50, mode="bm25")
        assert {h.chunk.doc_id for h in lexical} >= {"docs/comets.txt"}
    assert stored[1] == stored[8] and len(stored[1]) == reports[1].chunks_embedded > 20
    assert not any(m.get("pending") for _t, m in stored[8].values())  # all published
    for depth in (1, 8):
        r = reports[depth]
        assert sorted(r.added) == sorted(f"docs/{t}.txt" for t in TOPICS)
        assert [i.path for i in r.issues if i.skipped] == [str(docs / "binary.txt")]
        stages = [e.stage for e in events[depth]]
        assert stages[0] == "scan" and stages[-1] == "done"
        files = [e for e in events[depth] if e.stage in ("file", "skip")]
        assert [e.files_done for e in files] == list(range(1, len(TOPICS) + 2))
        embedded = [e.chunks_embedded for e in events[depth] if e.stage == "embed"]
        assert embedded == sorted(embedded) and embedded[-1] == r.chunks_embedded

    # Documents go on as their chunks are ready: the same events, each document's in order.
    def stages(depth: int) -> list[tuple[str, str]]:
        return sorted((e.stage, e.path or "") for e in events[depth])

    assert stages(1) == stages(8)
    for path in {e.path for e in events[1]}:
        assert [e.stage for e in events[1] if e.path == path] == [
            e.stage for e in events[8] if e.path == path
        ]
    again = _index(tmp_path / "d8", 8).ingest(docs)
    assert sorted(again.unchanged) == sorted(reports[8].added) and not again.chunks_embedded


@pytest.mark.slow
def test_a_writer_error_is_the_ingest_error_and_nothing_is_half_visible(
    docs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = _index(tmp_path / "data", 8)
    real = Store.upsert
    calls: list[int] = []

    def failing(store: Store, ids: list[str], *args: Any, **kwargs: Any) -> None:
        calls.append(len(ids))
        if len(calls) == 4:  # in the middle of a document of several writes
            raise OSError("disk full")
        real(store, ids, *args, **kwargs)

    monkeypatch.setattr(Store, "upsert", failing)
    with pytest.raises(OSError, match="disk full"):
        index.ingest(docs)
    listed = {d.doc_id for d in index.list_documents()}
    assert listed and listed < {f"docs/{t}.txt" for t in TOPICS}
    for doc_id in listed:  # every listed document reads back whole
        assert index.get_document(doc_id).chunks == len(index.read_document(doc_id))
    hits = index.search("survey record", 100, mode="bm25")
    assert {h.chunk.doc_id for h in hits} <= listed  # the half-written one is not searchable
    monkeypatch.setattr(Store, "upsert", real)
    report = index.ingest(docs)
    assert {d.doc_id for d in index.list_documents()} == {f"docs/{t}.txt" for t in TOPICS}
    assert sorted(report.unchanged) == sorted(listed)


def test_pipeline_errors_reach_the_caller_and_a_consumer_error_stops_the_producer() -> None:
    def bad_producer(put: Any) -> None:
        put(1)
        raise ValueError("cannot read")

    got: list[int] = []
    with pytest.raises(ValueError, match="cannot read"):
        Pipeline(bad_producer, got.append, 1).run()
    assert got == [1]

    produced: list[int] = []

    def producer(put: Any) -> None:
        for i in range(1000):
            produced.append(i)
            put(i)

    def consumer(item: int) -> None:
        if item == 3:
            raise RuntimeError("writer failed")

    with pytest.raises(RuntimeError, match="writer failed"):
        Pipeline(producer, consumer, 2).run()
    assert len(produced) < 10  # stopped early, not run to the end


@pytest.mark.slow
def test_a_version_in_one_write_needs_no_publish_and_one_of_several_is_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "docs"
    write(folder / "short.txt", _prose("whales", 2))  # fits in one write of 8 chunks
    write(folder / "long.txt", _prose("comets", 30))  # several writes
    index = _index(tmp_path / "data", 1)
    real = Store.update_metadata
    updated: list[str] = []

    def counting(store: Store, ids: Any, metadatas: Any) -> None:
        updated.extend(ids)
        real(store, ids, metadatas)

    monkeypatch.setattr(Store, "update_metadata", counting)
    report = index.ingest(folder)
    assert sorted(report.added) == ["docs/long.txt", "docs/short.txt"]
    stored = _records(index)
    short = [i for i, (_t, m) in stored.items() if m["doc_id"] == "docs/short.txt"]
    long = [i for i, (_t, m) in stored.items() if m["doc_id"] == "docs/long.txt"]
    assert 1 < len(short) <= 8 < len(long)
    assert not any(m.get("pending") for _t, m in stored.values())  # all visible
    assert sorted(updated) == sorted(long)  # only the version of several writes is published
    assert {h.chunk.doc_id for h in index.search("whales survey", 20, mode="bm25")} >= {
        "docs/short.txt"
    }


def test_lexical_rows_written_in_bulk_keep_ids_and_terms_together(tmp_path: Path) -> None:
    from longdoc.retrieval.lexical import Bm25Index

    bm25 = Bm25Index(tmp_path)
    state = (0, 0)
    with bm25.writing(lambda: state, lambda: ([], [])):
        bm25.add(["d::v::0", "d::v::1", "d::v::2"], ["alpha beta", "gamma", "delta alpha"])
        bm25.remove(["d::v::2"])  # the highest rowid goes: the next rows take it again
        bm25.add(["e::v::0", "e::v::1"], ["epsilon", "zeta gamma"])
        bm25.add(["d::v::1"], ["omega"])  # replaced in place under its id
    assert dict(bm25.scores("alpha")).keys() == {"d::v::0"}
    assert dict(bm25.scores("gamma")).keys() == {"e::v::1"}
    assert dict(bm25.scores("omega")).keys() == {"d::v::1"}
    assert dict(bm25.scores("epsilon")).keys() == {"e::v::0"}
    assert not bm25.scores("delta")


def test_a_write_session_takes_rows_from_a_helper_thread_and_none_outside_it(
    tmp_path: Path,
) -> None:
    import threading

    from longdoc.retrieval.lexical import Bm25Index

    bm25 = Bm25Index(tmp_path)
    errors: list[BaseException] = []

    def helper() -> None:  # as the ingest's producer: the session's thread holds its lock
        try:
            bm25.add(["h::v::0"], ["helper words"])
        except BaseException as e:  # handed to the test's thread
            errors.append(e)

    with bm25.writing(lambda: (0, 0), lambda: ([], [])):
        bm25.add(["o::v::0"], ["owner words"])
        thread = threading.Thread(target=helper)
        thread.start()
        thread.join(60)
        assert not thread.is_alive() and not errors
    assert dict(bm25.scores("helper")).keys() == {"h::v::0"}
    assert dict(bm25.scores("words")).keys() == {"h::v::0", "o::v::0"}
    with pytest.raises(RuntimeError, match="writing"):
        bm25.add(["x::v::0"], ["outside"])
