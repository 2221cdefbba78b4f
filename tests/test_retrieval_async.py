"""The index's async twins: same results as the sync methods, the work off the event loop."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from retrieval_support import COOKING, SHIPS, write

from longdoc.errors import DocumentNotFoundError, SourceNotFoundError
from longdoc.retrieval import Index, IngestEvent, LoadedDocument, SearchHit
from longdoc.retrieval.store import Store

pytestmark = pytest.mark.slow

T = TypeVar("T")

ANIMALS = "The cheetah is the fastest land animal and hunts antelope on the savanna. "


@pytest.fixture
def store_threads(monkeypatch: pytest.MonkeyPatch) -> set[int]:
    """Ids of the threads that read or wrote Chroma (the real store, only watched)."""
    seen: set[int] = set()
    for name in ("get", "upsert", "query", "delete", "count"):
        real = getattr(Store, name)

        def watched(self: Store, *args: Any, _real: Any = real, **kwargs: Any) -> Any:
            seen.add(threading.get_ident())
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(Store, name, watched)
    return seen


def _doc(text: str, doc_id: str) -> LoadedDocument:
    digest = hashlib.sha256(text.encode()).hexdigest()
    return LoadedDocument(doc_id=doc_id, source=doc_id, text=text, content_hash=digest)


def test_every_async_twin_matches_its_sync_method_off_the_loop(
    tmp_path: Path, store_threads: set[int]
) -> None:
    index = Index("async-twins", chunk_size=40, chunk_overlap=0)
    write(tmp_path / "docs" / "ships.txt", SHIPS * 4)
    events: list[tuple[IngestEvent, int]] = []

    async def twin(call: Awaitable[T]) -> T:
        """Await one twin; it must have used Chroma, and never on the loop's thread."""
        store_threads.clear()
        result = await call
        assert store_threads and threading.get_ident() not in store_threads
        return result

    async def scenario() -> int:
        def progress(e: IngestEvent) -> None:
            events.append((e, threading.get_ident()))

        report = await twin(index.aingest(tmp_path / "docs", on_progress=progress))
        assert report.added == ["docs/ships.txt"] and report.chunks_embedded >= 2
        with pytest.raises(SourceNotFoundError, match="no-such-dir"):
            await index.aingest(tmp_path / "no-such-dir")
        assert (await twin(index.aingest_text(COOKING * 3, "cooking"))).added == ["cooking"]
        docs = await twin(index.aingest_documents([_doc(ANIMALS * 2, "animals")]))
        assert docs.added == ["animals"]

        listed = await twin(index.alist_documents())
        assert listed == index.list_documents()
        assert [d.doc_id for d in listed] == ["animals", "cooking", "docs/ships.txt"]
        info = await twin(index.aget_document("cooking"))
        assert info == index.get_document("cooking")
        chunks = await twin(index.aread_document("docs/ships.txt"))
        assert chunks == index.read_document("docs/ships.txt") and len(chunks) >= 2
        assert await twin(index.adocument_text("cooking")) == index.document_text("cooking")
        for mode in ("dense", "bm25", "hybrid"):
            hits = await twin(index.asearch("Captain Ahab whaling", 2, mode=mode, neighbours=1))
            assert hits == index.search("Captain Ahab whaling", 2, mode=mode, neighbours=1)
            assert hits[0].chunk.doc_id == "docs/ships.txt", mode
        scoped = await twin(index.asearch("bread", 5, path_glob="cook*", ordinal_range=(0, 0)))
        assert {(h.chunk.doc_id, h.chunk.ordinal) for h in scoped} == {("cooking", 0)}
        passages = await twin(index.aretrieve("Pequod", 200, count_tokens=len, mode="bm25"))
        assert passages == index.retrieve("Pequod", 200, count_tokens=len, mode="bm25")
        assert passages and sum(p.token_count for p in passages) <= 200

        assert await twin(index.adelete_document("cooking")) == info.chunks
        for missing in (index.aget_document, index.aread_document, index.adelete_document):
            with pytest.raises(DocumentNotFoundError, match="cooking"):
                await missing("cooking")
        return threading.get_ident()

    loop_thread = asyncio.run(scenario())
    assert events[-1][0].stage == "done" and {e.stage for e, _t in events} >= {"scan", "embed"}
    assert all(t != loop_thread for _e, t in events)  # on_progress runs in the worker


def test_async_calls_run_while_the_loop_serves_other_tasks(tmp_path: Path) -> None:
    index = Index("async-loop", chunk_size=40, chunk_overlap=0)
    index.ingest_text(SHIPS * 3, "ships")

    async def scenario() -> None:
        ingesting = threading.Event()
        loop_saw_it = threading.Event()
        loop = asyncio.get_running_loop()

        def progress(e: IngestEvent) -> None:
            if e.stage == "embed" and not ingesting.is_set():
                ingesting.set()
                loop.call_soon_threadsafe(loop_saw_it.set)
                # Ingest waits for the loop: it only proceeds if the loop is free.
                assert loop_saw_it.wait(timeout=60), "the event loop was blocked by aingest"

        ingest = asyncio.create_task(
            index.aingest_documents([_doc(COOKING * 3, "cooking")], on_progress=progress)
        )
        searches = [index.asearch("Pequod Ahab", 1, mode="bm25") for _ in range(4)]
        report, *results = await asyncio.gather(ingest, *searches)
        assert report.added == ["cooking"] and loop_saw_it.is_set()
        assert all(r and r[0].chunk.doc_id == "ships" for r in results)

    asyncio.run(scenario())


def test_concurrent_searches_on_a_stale_bm25_index_agree() -> None:
    index = Index("async-bm25", chunk_size=40, chunk_overlap=0)
    index.ingest_text(SHIPS * 3, "ships")
    index.ingest_text(COOKING * 3, "cooking")
    expected = index.search("sourdough starter", 3, mode="bm25")
    index.bm25.mark_stale()  # every search below finds it stale and may rebuild it

    async def scenario() -> list[list[SearchHit]]:
        searches = [index.asearch("sourdough starter", 3, mode="bm25") for _ in range(6)]
        return list(await asyncio.gather(*searches))

    results = asyncio.run(scenario())
    assert expected and all(r == expected for r in results)
