"""The ingest's overlap: warm chunking processes, documents written as their chunks are
ready, and embeddings started before they are needed.

Each must store what the plain path stores; what changes is only when work happens.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pytest
from retrieval_support import write

from longdoc.config import load_settings
from longdoc.retrieval import Index, chunk_pool
from longdoc.retrieval import index as index_module
from longdoc.retrieval.embedding import Embedder, LazyEmbedder, get_embedder, start_encode
from longdoc.retrieval.index import _Done, _ready_entries
from longdoc.retrieval.models import LoadedDocument

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return get_embedder("all-MiniLM-L6-v2", "torch")


def _doc(doc_id: str, text: str = "Some words. More words.") -> LoadedDocument:
    digest = hashlib.sha256(text.encode()).hexdigest()
    return LoadedDocument(doc_id=doc_id, source=doc_id, text=text, content_hash=digest)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def _kept() -> list[int]:
    return [w.proc.pid for kept in chunk_pool._WARM._idle.values() for w, _t in kept]


def test_a_ready_document_goes_before_one_still_chunking_and_nothing_else_moves() -> None:
    big, small, again = _doc("big.txt"), _doc("small.txt"), _doc("big.txt")
    chunking: Future[object] = Future()
    done: Future[object] = Future()
    done.set_result(([], None))
    window = [
        (0, 4, big, ({}, chunking)),
        (1, 4, small, ({}, done)),
        (2, 4, _Done(2, 4, doc=again, later=True), None),  # big.txt's second copy
        (3, 4, _doc("stored.txt"), ({}, None)),  # unchanged: nothing to chunk
    ]
    first = [e[2] for e in _ready_entries(window, wait=False)]
    # small and stored pass big; big's second copy may not pass big itself.
    assert [d.doc_id for d in first if isinstance(d, LoadedDocument)] == ["small.txt", "stored.txt"]
    assert [e[0] for e in window] == [0, 2]
    chunking.set_result(([], None))
    rest = list(_ready_entries(window, wait=True))
    assert [e[0] for e in rest] == [0, 2] and not window


def test_in_the_given_order_nothing_passes() -> None:
    chunking: Future[object] = Future()
    done: Future[object] = Future()
    done.set_result(([], None))
    window = [(0, 2, _doc("big.txt"), ({}, chunking)), (1, 2, _doc("small.txt"), ({}, done))]
    assert list(_ready_entries(window, wait=False, passing=False)) == [] and len(window) == 2
    chunking.set_result(([], None))
    rest = list(_ready_entries(window, wait=False, passing=False))
    assert [e[0] for e in rest] == [0, 1] and not window


def test_in_the_given_order_waiting_is_for_the_first_document(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chunking: Future[object] = Future()
    done: Future[object] = Future()
    done.set_result(([], None))
    window = [(0, 2, _doc("big.txt"), ({}, chunking)), (1, 2, _doc("small.txt"), ({}, done))]
    waited: list[list[Future[object]]] = []

    def wait_for(futures: list[Future[object]]) -> None:
        waited.append(futures)
        chunking.set_result(([], None))  # the first document's chunks come

    monkeypatch.setattr(index_module, "_wait_for_chunks", wait_for)
    assert [e[0] for e in _ready_entries(window, wait=True, passing=False)] == [0, 1]
    assert waited == [[chunking]]  # not small.txt's: done already, it would not block


def test_waiting_blocks_until_a_document_is_chunked() -> None:
    chunking: Future[object] = Future()
    window = [(0, 1, _doc("a.txt"), ({}, chunking))]
    assert list(_ready_entries(window, wait=False)) == [] and len(window) == 1
    from threading import Thread

    Thread(target=chunking.set_result, args=(([], None),)).start()  # settled elsewhere
    assert [e[0] for e in _ready_entries(window, wait=True)] == [0]


@pytest.fixture
def docs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Three small files, and an ingest that chunks in worker processes from the start."""
    monkeypatch.setattr(chunk_pool, "PROCESS_AFTER_CHARS", 0)
    folder = tmp_path / "docs"
    for k in range(3):
        lines = (f"Part {i} of file {k}: region {i} had {i * k} wells." for i in range(40))
        write(folder / f"f{k}.txt", "\n\n".join(lines))
    return folder


def _until(done: Callable[[], bool]) -> bool:
    """Whether ``done()`` comes true within a minute (a poll with a deadline, not a sleep)."""
    deadline = time.monotonic() + 60
    while not done() and time.monotonic() < deadline:
        time.sleep(0.05)
    return done()


def test_chunking_processes_are_kept_warm_for_the_next_ingest_and_stopped_after(
    embedder: Embedder, tmp_path: Path, docs: Path
) -> None:
    def ingest(run: int, idle: float) -> dict[str, str]:
        settings = load_settings(
            data_dir=tmp_path / f"d{run}", chroma_host=None, chunk_workers_idle_s=idle
        )
        index = Index(settings=settings, embedder=embedder, chunk_size=40, chunk_overlap=4)
        assert len(index.ingest(docs).added) == 3
        return {i: t or "" for i, t, _m in index.store.get()}

    first = ingest(0, 60.0)
    kept = _kept()
    assert kept and all(_alive(p) for p in kept)
    assert ingest(1, 60.0) == first and _kept() == kept  # the same processes did the work
    assert ingest(2, 0.0) == first and not _kept()  # taken, then stopped at once
    assert _until(lambda: not any(_alive(p) for p in kept))
    ingest(3, 0.2)  # kept 0.2 s: a timer stops them
    kept = _kept()
    assert kept and _until(lambda: not _kept() and not any(_alive(p) for p in kept))


def test_a_pool_with_other_chunking_starts_its_own_processes(
    embedder: Embedder, tmp_path: Path, docs: Path
) -> None:
    kept: dict[int, list[int]] = {}
    for size in (40, 60):  # another chunk size: another chunker, other workers
        settings = load_settings(data_dir=tmp_path / f"s{size}", chroma_host=None)
        Index(settings=settings, embedder=embedder, chunk_size=size).ingest(docs)
        kept[size] = _kept()
    assert set(kept[40]) < set(kept[60])  # both sets kept, neither one used for the other
    chunk_pool.close_warm_workers()
    assert not _kept()


def test_a_started_encode_gives_the_encode_vectors(embedder: Embedder) -> None:
    texts = ["whales and ships", "a quiet garden", "", "x " * 300]
    want = embedder.encode(texts, 2)
    wait = start_encode(embedder, texts, 2)
    assert np.allclose(wait(), want, atol=1e-6)
    lazy = LazyEmbedder("all-MiniLM-L6-v2", "torch")
    assert np.allclose(lazy.start_encode(texts, 2)(), want, atol=1e-6)

    class Plain:  # an embedder of a user's with encode only
        def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
            return np.full((len(texts), 3), float(os.getpid()), dtype=np.float32)

    got = start_encode(Plain(), ["a", "b"])()  # type: ignore[arg-type]
    assert got.shape == (2, 3) and float(got[0, 0]) == os.getpid()


class _Recording:
    """The real embedder, logging when each embedding starts and when its vectors are taken."""

    def __init__(self, inner: Embedder, log: list[str]) -> None:
        self.inner, self.log = inner, log

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def start_encode(self, texts: list[str], batch_size: int = 64) -> Callable[[], np.ndarray]:
        self.log.append(f"embed {len(texts)}")
        vectors = self.inner.encode(texts, batch_size)

        def wait() -> np.ndarray:
            self.log.append("vectors taken")
            return vectors

        return wait


def test_an_idle_writer_gets_a_planned_document_at_once(
    embedder: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Far under the batch of embedding tokens: without the idle writer's hand-off, the
    # first document would wait, unembedded, for the second one's chunks.
    first = write(tmp_path / "docs" / "a.txt", "A first short document. " * 20)
    second = write(tmp_path / "docs" / "b.txt", "A second short document. " * 20)
    log: list[str] = []
    settings = load_settings(data_dir=tmp_path / "data", chroma_host=None, ingest_order="given")
    index = Index(settings=settings, embedder=_Recording(embedder, log))  # type: ignore[arg-type]
    original = index.chunker.chunk
    embedded_first = threading.Event()

    def chunk(doc: LoadedDocument) -> list[object]:
        if doc.doc_id.endswith("b.txt"):  # not ready until the first is being embedded
            assert embedded_first.wait(60), "the first document was held back"
        return original(doc)  # type: ignore[return-value]

    monkeypatch.setattr(index.chunker, "chunk", chunk)
    index._apply = _after(index._apply, lambda: embedded_first.set())  # type: ignore[method-assign]
    report = index.ingest([first, second])
    assert len(report.added) == 2
    assert log[:2] == [log[0], "vectors taken"] and log[0].startswith("embed ")
    assert log.count("vectors taken") == 2  # two embeddings: the documents went one by one


def _after(method: Callable[..., None], then: Callable[[], None]) -> Callable[..., None]:
    def wrapped(*args: object, **kwargs: object) -> None:
        method(*args, **kwargs)
        then()

    return wrapped


def test_bm25_rows_are_written_while_the_vectors_finish(
    embedder: Embedder, tmp_path: Path, docs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log: list[str] = []
    settings = load_settings(data_dir=tmp_path / "data", chroma_host=None)
    index = Index(settings=settings, embedder=_Recording(embedder, log))  # type: ignore[arg-type]
    add = index.bm25.add
    monkeypatch.setattr(index.bm25, "add", lambda *a, **k: (log.append("bm25 rows"), add(*a, **k)))
    index.ingest(docs)
    writes = [e for e in log if not e.startswith("embed ")]
    assert writes.count("bm25 rows") == 3 and "vectors taken" in writes  # one write a file
    # Each embedding's vectors are taken after the BM25 rows of the write that needs them
    # (writes sharing an embedding take them once).
    assert writes[0] == "bm25 rows"
    assert all(a == "bm25 rows" for a, b in itertools.pairwise(writes) if b == "vectors taken")
    assert index.search("wells", k=1, mode="bm25")  # the rows are there to be found


def test_the_next_writes_bm25_rows_go_in_while_chroma_writes_the_one_before(
    embedder: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The producer writes BM25 rows (SQLite, without the GIL) while the writer is in a
    # Chroma write (which holds it): the first document's Chroma write waits here until
    # the second's BM25 rows are in, which never happens if the writer writes them itself.
    first = write(tmp_path / "docs" / "a.txt", "A first short document about whales. " * 20)
    second = write(tmp_path / "docs" / "b.txt", "A second short document about ships. " * 20)
    settings = load_settings(data_dir=tmp_path / "data", chroma_host=None, ingest_order="given")
    index = Index(settings=settings, embedder=embedder)
    second_rows = threading.Event()
    add, upsert = index.bm25.add, index.store.upsert

    def bm25_add(ids: list[str], *args: object, **kwargs: object) -> None:
        add(ids, *args, **kwargs)  # type: ignore[arg-type]
        if "b.txt" in ids[0]:
            second_rows.set()

    waited: list[bool] = []

    def chroma_upsert(ids: list[str], *args: object, **kwargs: object) -> None:
        if "a.txt" in ids[0]:
            waited.append(second_rows.wait(60))
        upsert(ids, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(index.bm25, "add", bm25_add)
    monkeypatch.setattr(index.store, "upsert", chroma_upsert)
    report = index.ingest([first, second])
    assert waited == [True], "the second document's BM25 rows waited for the first's Chroma write"
    assert len(report.added) == 2
    found = {h.chunk.doc_id for h in index.search("ships", k=5, mode="bm25")}
    assert len(found) == 1 and found.pop().endswith("b.txt")


def test_a_planned_document_is_embedded_before_the_producer_waits_for_chunks(
    embedder: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The writer is kept busy with the first document, so the second one, once planned,
    # is not handed on for an idle writer; the third one's chunks are not ready until the
    # second is embedded. Without the hand-off before the producer waits for chunks, the
    # second would wait, unembedded, for the third's chunks (as a book did on an H200).
    paths = [
        write(tmp_path / "docs" / f"{name}.txt", f"A {name} short document. " * 20)
        for name in ("first", "second", "third")
    ]
    log: list[str] = []
    settings = load_settings(data_dir=tmp_path / "data", chroma_host=None, ingest_order="given")
    index = Index(settings=settings, embedder=_Recording(embedder, log))  # type: ignore[arg-type]
    second_embedded = threading.Event()
    chunk, apply, start = index.chunker.chunk, index._apply, index.store.start_embed

    def start_embed(texts: list[str]) -> Callable[[], np.ndarray]:
        wait = start(texts)
        if sum(e.startswith("embed") for e in log) == 2:
            second_embedded.set()
        return wait

    def chunk_third_late(doc: LoadedDocument) -> list[object]:
        if doc.doc_id.endswith("third.txt"):
            assert second_embedded.wait(60), "the second document waited for these chunks"
        return chunk(doc)  # type: ignore[return-value]

    first: list[object] = []

    def busy_first(item: object, run: object) -> None:
        if not first:  # the writer is busy with the first write until the second is embedded
            first.append(item)
            assert second_embedded.wait(60), "the second document waited for the third's chunks"
        apply(item, run)  # type: ignore[arg-type]

    monkeypatch.setattr(index.store, "start_embed", start_embed)
    monkeypatch.setattr(index.chunker, "chunk", chunk_third_late)
    monkeypatch.setattr(index, "_apply", busy_first)
    report = index.ingest(paths)
    assert len(report.added) == 3
    assert sum(e.startswith("embed") for e in log) == 3  # one embedding a document
