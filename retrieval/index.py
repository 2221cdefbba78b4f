"""The document index: ingest, list, read back, delete and search chunks.

Documents live as chunks in one Chroma collection (see :class:`Store`); a BM25
index (see :class:`Bm25Index`) is kept beside it. Each chunk id embeds the
document's content hash, so a changed document's new chunks are written next to
the old ones, and the old ones are deleted only afterwards: a crash in between
leaves the document readable, and the next ingest finishes the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import functools
import inspect
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from longdoc.errors import (
    DocumentNotFoundError,
    DocumentsNotFoundError,
    IncompleteDocumentError,
    UnknownLanguageError,
)
from longdoc.retrieval.models import (
    Chunk,
    DocumentInfo,
    IngestEvent,
    IngestReport,
    LoadedDocument,
    LoadIssue,
    Passage,
    SearchHit,
)
from longdoc.retrieval.records import (
    FILTERABLE,
    PENDING,
    VersionStats,
    chunk_from_record,
    chunk_id,
    chunk_metadata,
    document_info,
    document_version,
    in_version,
    is_pending,
    version_of,
    version_stats,
)
from longdoc.retrieval.search import Scope, Searcher, SearchMode

if TYPE_CHECKING:
    from longdoc.config import Settings
    from longdoc.retrieval.chunk_pool import Chunked, ChunkPool
    from longdoc.retrieval.chunking import Chunker
    from longdoc.retrieval.embedding import Embedder

__all__ = ["Index", "ProgressCallback", "SearchMode"]

DEFAULT_COLLECTION = "documents"


ProgressCallback = Callable[[IngestEvent], None]

WAITING = "waiting for another longdoc process that is writing this index"
_log = logging.getLogger(__name__)
_F = TypeVar("_F", bound=Callable[..., Any])


def _writer(method: _F) -> _F:
    """Run an index method inside :meth:`Index._writing` (its ``on_progress`` hears waits)."""
    signature = inspect.signature(method)

    @functools.wraps(method)
    def run(self: Index, *args: Any, **kwargs: Any) -> Any:
        emit = signature.bind(self, *args, **kwargs).arguments.get("on_progress")
        with self._writing(emit):
            return method(self, *args, **kwargs)

    return run  # type: ignore[return-value]


@contextlib.contextmanager
def _opening(settings: Settings, client: Any) -> Iterator[None]:
    """Processes opening one embedded Chroma take turns.

    Two processes creating a new data dir at once both create Chroma's tables ("table
    collections already exists"), and both may create the same collection.
    """
    if client is not None or settings.chroma_host:
        yield
        return
    from filelock import FileLock

    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    with FileLock(str(Path(settings.data_dir) / "chroma.open.lock")):
        yield


@dataclass
class _Write:
    """One Chroma write of the ingest pipeline: a group of one document's chunks."""

    doc: LoadedDocument
    seq: int
    total: int
    ids: list[str]
    texts: list[str]
    metas: list[dict[str, Any]]
    embed_texts: list[str]
    tokens: int
    terms: list[str] | None = None  # the chunks' BM25 terms, computed while chunking
    vectors: _Vectors | None = None
    lexical_written: bool = False  # its BM25 rows are written (by the producer)


@dataclass
class _Vectors:
    """Rows ``start:end`` of an embedding started for several writes at once."""

    wait: Callable[[], Any]  # waits for the whole embedding (once: it is cached)
    start: int
    end: int

    def get(self) -> Any:
        """The rows, once the embedding is done."""
        return self.wait()[self.start : self.end]


@dataclass
class _Done:
    """The end of one pipeline item: a skipped file, or a document to finish.

    ``later``: a second copy of a doc id in one run, planned only once the first is stored.
    """

    seq: int
    total: int
    doc: LoadedDocument | None = None
    issue: LoadIssue | None = None
    outcome: str = "added"
    publish: list[str] = field(default_factory=list)
    version: str | None = None
    later: bool = False


@dataclass
class _Run:
    """One ingest run as its items are written: the report, the listener, what was seen."""

    report: IngestReport
    emit: ProgressCallback
    seen: set[str]
    files_done: int = 0  # counted as they finish: documents may finish out of order


# A document's stored versions, and its chunking when it needs chunking (see Index._ahead).
_Ahead = tuple[dict[str, VersionStats], "Future[Chunked] | None"]
# One item of the ingest's look-ahead: position, total, the document (or what ends an
# item that needs no chunking), and the document's versions and chunking.
_Entry = tuple[int, int, "LoadedDocument | _Done", "_Ahead | None"]
_CHUNK_WORKERS = 4  # documents chunked at once by an ingest (at most one per core)


class Index:
    """Chunks of documents in a Chroma collection, with dense, BM25 and hybrid search.

    Every public method has an async twin (``aingest``, ``asearch``, ``aretrieve``,
    ``afind_symbol``, ``alist_documents``, ``aread_document``, ``adelete_document``...)
    that runs it in a worker thread with :func:`asyncio.to_thread`, so an event loop is
    never blocked by Chroma, the embedder or BM25. Concurrent calls on one index are
    safe; BM25 rebuilds are serialised.

    Args:
        collection: the Chroma collection name.
        settings: settings (data dir, Chroma host, chunking, embedding); default
            :func:`~longdoc.config.load_settings`.
        embedder: an embedder to use instead of the one the settings name.
        client: a Chroma client to use instead of the one the settings describe.
        **overrides: settings fields (``chunk_size=...``) for this index only.
    """

    def __init__(
        self,
        collection: str = DEFAULT_COLLECTION,
        *,
        settings: Settings | None = None,
        embedder: Embedder | None = None,
        client: Any = None,
        **overrides: Any,
    ) -> None:
        from longdoc.config import load_settings, with_overrides
        from longdoc.retrieval.embedding import LazyEmbedder
        from longdoc.retrieval.lexical import Bm25Index
        from longdoc.retrieval.store import Store, make_client

        self.settings = with_overrides(settings or load_settings(), **overrides)
        self.retrieval = self.settings  # chunking and embedding knobs live in the one Settings
        self.embedder = embedder or LazyEmbedder(
            self.settings.embedding_model,
            self.retrieval.embedding_backend,
            self.settings.data_dir,
            self.settings.embedding_device,
            self.settings.embedding_process,
        )
        where = "client"
        with _opening(self.settings, client):
            if client is None:
                client, where = make_client(self.settings)
            self.store = Store(
                client,
                collection,
                self.embedder,
                self.retrieval.embed_batch_size,
                filterable=FILTERABLE,
            )
        self.location = where
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", where).strip("_") or "default"
        self.bm25 = Bm25Index(Path(self.settings.data_dir) / "bm25" / slug / collection)
        self.searcher = Searcher(self.store, self.bm25)
        # Embedded Chroma is single-process: writers of one data dir take turns. A server
        # serialises writes itself (and its clients may be on other machines).
        self._file_lock: Any = None
        self._unflagged: tuple[object, set[str]] | None = None  # see _write_chunks
        if where != "client" and not self.settings.chroma_host:
            from filelock import FileLock

            self._file_lock = FileLock(str(self.bm25.folder / "write.lock"))
        self._chunker: Chunker | None = None
        self._pipeline_depth = 4  # ingest items chunked and embedded ahead of the writes

    @property
    def collection(self) -> str:
        """The collection name."""
        return self.store.name

    @property
    def chunker(self) -> Chunker:
        """The chunker, sized by the settings and the embedder's limit."""
        if self._chunker is None:
            from longdoc.retrieval.chunking import Chunker

            r = self.retrieval
            # A picklable counter lets chunking run in worker processes (see chunk_pool).
            counter = getattr(self.embedder, "token_counter", None)
            self._chunker = Chunker(
                counter.count if counter else self.embedder.count_tokens,
                self.embedder.max_tokens,
                r.chunk_size,
                r.chunk_overlap,
                r.code_chunk_lines,
                spans=counter.spans if counter else None,
            )
        return self._chunker

    # --- ingest ------------------------------------------------------------------------
    @_writer
    def ingest(
        self,
        paths: Sequence[Path | str] | Path | str,
        *,
        prune: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> IngestReport:
        """Load, chunk, embed and store files and folders; skip unchanged documents.

        Args:
            paths: files and folders.
            prune: remove documents whose file is gone from an ingested folder.
            on_progress: called with an :class:`IngestEvent` as work proceeds.

        Returns:
            What was added, updated, skipped, removed, and the problems met.

        Raises:
            SourceNotFoundError: a path does not exist (nothing is ingested).
        """
        from longdoc.retrieval.loading import iter_documents, scan

        t0 = time.perf_counter()
        paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
        found = scan(paths, self.retrieval.max_file_bytes)
        report = IngestReport(issues=list(found.issues))
        emit = on_progress or (lambda _e: None)
        total = len(found.files)
        emit(IngestEvent(stage="scan", files_total=total, message=f"{total} file(s)"))
        seen: set[str] = set()
        items = ((i, total, item) for i, item in enumerate(iter_documents(found)))
        self._run_pipeline(items, report, emit, seen)
        if prune:
            roots = [Path(p).resolve() for p in paths if Path(p).is_dir()]
            self._prune(roots, seen, report, emit)
        report.seconds = time.perf_counter() - t0
        emit(
            IngestEvent(
                stage="done",
                files_done=total,
                files_total=total,
                chunks_embedded=report.chunks_embedded,
            )
        )
        return report

    @_writer
    def ingest_documents(
        self, docs: Iterable[LoadedDocument], on_progress: ProgressCallback | None = None
    ) -> IngestReport:
        """Store documents already in memory (same rules as :meth:`ingest`)."""
        t0 = time.perf_counter()
        docs = list(docs)
        report = IngestReport()
        emit = on_progress or (lambda _e: None)
        self._run_pipeline(((i, len(docs), d) for i, d in enumerate(docs)), report, emit, set())
        report.seconds = time.perf_counter() - t0
        return report

    def ingest_text(
        self, text: str, doc_id: str, *, source: str | None = None, language: str | None = None
    ) -> IngestReport:
        """Store one text under ``doc_id`` (code when ``language`` is given)."""
        import hashlib

        doc = LoadedDocument(
            doc_id=doc_id,
            source=source or doc_id,
            text=text,
            kind="code" if language else "prose",
            language=language,
            content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        )
        return self.ingest_documents([doc])

    def _versions(self, doc_id: str) -> dict[str, VersionStats]:
        rows = self.store.get(where={"doc_id": doc_id}, include_documents=False)
        return version_stats((i, m) for i, _t, m in rows).get(doc_id, {})

    # --- the ingest pipeline: plan, chunk and embed ahead; write in order here -----------
    def _run_pipeline(
        self,
        items: Iterable[tuple[int, int, LoadedDocument | LoadIssue]],
        report: IngestReport,
        emit: ProgressCallback,
        seen: set[str],
    ) -> None:
        """Ingest ``(position, total, document or issue)`` items.

        A producer thread loads, chunks and embeds (batches of about ``_embed_tokens``
        tokens, across documents) up to ``_pipeline_depth`` items ahead; this thread,
        which holds the writer locks, writes them in order with the same protocol as
        one at a time (BM25 rows, then Chroma, pending until the version is complete),
        reports and emits. An error on either side is raised here, nothing left half
        visible: unpublished chunks stay pending.
        """
        from longdoc.retrieval.pipeline import Pipeline

        pipe: Pipeline[_Write | _Done] = Pipeline(
            lambda put: self._produce(items, put, lambda: pipe.starving),
            functools.partial(self._apply, run=_Run(report, emit, seen)),
            self._pipeline_depth,
        )
        pipe.run()

    @property
    def _embed_tokens(self) -> int:
        # The old batch of 4 embedding batches of full chunks, counted in tokens.
        return self.retrieval.embed_batch_size * 4 * self.chunker.chunk_size

    def _produce(
        self,
        items: Iterable[tuple[int, int, LoadedDocument | LoadIssue]],
        put: Callable[[_Write | _Done], None],
        starving: Callable[[], bool] = lambda: False,
    ) -> None:
        """Plan, embed and hand on every item; ``starving`` says the writer has nothing left.

        Writes are embedded in batches of :attr:`_embed_tokens`. A document's are also
        handed on as soon as it is planned when the writer would otherwise wait, and
        whatever is planned before the producer waits for chunks (measured on an H200: a
        small book, chunked at 0.35 s, waited 0.5 s unembedded for the next book's chunks,
        which could not even be read while a Chroma write held the GIL).
        """
        buffer: list[_Write | _Done] = []
        tokens = 0

        def flush() -> None:
            nonlocal tokens
            self._flush(buffer, put)
            tokens = 0

        # Documents are chunked a few ahead, on threads and, in a large run, in worker
        # processes (see chunk_pool); plans, embeds and writes stay in order.
        from longdoc.retrieval.chunk_pool import ChunkPool

        workers = max(1, min(_CHUNK_WORKERS, os.cpu_count() or 1))
        keep = self.retrieval.chunk_workers_idle_s
        with ChunkPool(self.chunker, workers, self.bm25.tokenizer, keep_warm=keep) as pool:
            for seq, total, item, ahead in self._lookahead(items, pool, 2 * workers, flush):
                if isinstance(item, _Done):
                    buffer.append(item)
                    continue
                for step in self._plan(item, seq, total, ahead):
                    buffer.append(step)
                    tokens += step.tokens if isinstance(step, _Write) else 0
                    if tokens >= self._embed_tokens:
                        flush()
                if buffer and starving():
                    flush()
            flush()

    def _lookahead(
        self,
        items: Iterable[tuple[int, int, LoadedDocument | LoadIssue]],
        pool: ChunkPool,
        depth: int,
        before_wait: Callable[[], None] = lambda: None,
    ) -> Iterator[_Entry]:
        """``items``, each document's chunking started up to ``depth`` items ahead.

        A document goes on as soon as its chunks are ready, before those still being
        chunked: a large one does not hold up the writes of the small ones after it.
        Every other item keeps its place (see :func:`_ready_entries`). With the
        ``ingest_order`` setting ``given``, nothing passes anything. ``before_wait`` is
        called before each wait for chunks.
        """
        passing = self.retrieval.ingest_order == "ready"
        planned: set[str] = set()
        window: list[_Entry] = []
        for seq, total, item in items:
            if isinstance(item, LoadIssue):
                window.append((seq, total, _Done(seq, total, issue=item), None))
            elif item.doc_id in planned:  # its first copy may not be stored yet: plan it there
                window.append((seq, total, _Done(seq, total, doc=item, later=True), None))
            else:
                planned.add(item.doc_id)
                window.append((seq, total, item, self._ahead(item, pool)))
            yield from _ready_entries(
                window, wait=len(window) > depth, passing=passing, before_wait=before_wait
            )
        while window:
            yield from _ready_entries(window, wait=True, passing=passing, before_wait=before_wait)

    def _ahead(self, doc: LoadedDocument, pool: ChunkPool | None) -> _Ahead:
        """``doc``'s stored versions, and its chunking started on ``pool`` when it is needed."""
        versions = self._versions(doc.doc_id)
        current = versions.get(document_version(doc.content_hash, self.chunker.signature))
        if (current and current.complete) or pool is None:
            return versions, None
        return versions, pool.submit(doc)

    def _flush(self, buffer: list[_Write | _Done], put: Callable[[_Write | _Done], None]) -> None:
        """Start embedding the buffered writes in one call, then hand every item on in order.

        Each write's BM25 rows are written here, before it is handed on (so still before
        its Chroma records): SQLite writes them without the GIL while the writer's
        Chroma writes hold it, instead of after them in the writer's thread.
        """
        writes = [w for w in buffer if isinstance(w, _Write)]
        if writes:  # on a GPU it runs while the writes before these are made
            wait = functools.cache(
                self.store.start_embed([t for w in writes for t in w.embed_texts])
            )
            at = 0
            for w in writes:
                w.vectors, at = _Vectors(wait, at, at + len(w.ids)), at + len(w.ids)
        for item in buffer:
            if isinstance(item, _Write):
                self._write_lexical(item.ids, item.texts, item.metas, item.terms)
                item.lexical_written = True
            put(item)
        buffer.clear()

    def _plan(
        self, doc: LoadedDocument, seq: int, total: int, ahead: _Ahead | None = None
    ) -> Iterator[_Write | _Done]:
        """The writes that store ``doc`` (none when unchanged), then what finishes it.

        ``ahead``: its versions and chunking, from :meth:`_ahead`; default: done here.
        """
        versions, chunking = ahead or self._ahead(doc, None)
        version = document_version(doc.content_hash, self.chunker.signature)
        current = versions.get(version)
        if current and current.complete:
            if len(versions) == 1:
                yield _Done(seq, total, doc=doc, outcome="unchanged")
            else:  # a replace was interrupted: only the other versions' deletion is left
                yield _Done(seq, total, doc=doc, outcome="updated", version=version)
            return
        chunks, terms = chunking.result() if chunking else (self.chunker.chunk(doc), None)
        # An interrupted ingest of this very version resumes: its stored chunks are kept.
        stored: set[str] = current.ids if current else set()
        now = float(current.meta["ingested_at"]) if current else time.time()
        keep = [i for i, c in enumerate(chunks) if chunk_id(c, version) not in stored]
        todo = [chunks[i] for i in keep]
        todo_terms = [terms[i] for i in keep] if terms is not None else None
        # Large writes: Chroma's and SQLite's cost per chunk falls with the batch (256 -> 4,096
        # chunks cut Moby Dick's Chroma time 2.3 s -> 1.6 s), and one write needs no publish.
        step = min(self.retrieval.ingest_write_chunks, self.store.max_batch)
        for i in range(0, len(todo), step):
            batch = todo[i : i + step]
            yield _Write(
                doc=doc,
                seq=seq,
                total=total,
                ids=[chunk_id(c, version) for c in batch],
                texts=[c.text for c in batch],
                metas=[
                    {
                        **chunk_metadata(
                            c, doc, doc_chunks=len(chunks), ingested_at=now, version=version
                        ),
                        PENDING: True,  # hidden from every reader until all are stored
                    }
                    for c in batch
                ],
                embed_texts=[c.embed_text for c in batch],
                tokens=sum(c.token_count for c in batch),
                terms=todo_terms[i : i + step] if todo_terms is not None else None,
            )
        outcome = "updated" if versions and set(versions) != {version} else "added"
        publish = [chunk_id(c, version) for c in sorted(chunks, key=lambda c: c.ordinal)]
        yield _Done(seq, total, doc=doc, outcome=outcome, publish=publish, version=version)

    def _apply(self, item: _Write | _Done, run: _Run) -> None:
        """Write, report and emit one item of the pipeline (in the caller's thread)."""
        report, emit = run.report, run.emit
        if isinstance(item, _Write):
            self._write_chunks(
                item.ids,
                item.texts,
                item.metas,
                embed_texts=item.embed_texts,
                vectors=item.vectors.get if item.vectors else None,
                terms=item.terms,
                lexical_written=item.lexical_written,
            )
            report.chunks_embedded += len(item.ids)
            report.tokens_embedded += item.tokens
            emit(
                IngestEvent(
                    stage="embed",
                    files_done=run.files_done,
                    files_total=item.total,
                    chunks_embedded=report.chunks_embedded,
                    path=item.doc.source,
                )
            )
            return
        if item.issue is not None:
            report.issues.append(item.issue)
            run.seen.add(str(Path(item.issue.path).resolve()))
            run.files_done += 1
            emit(
                IngestEvent(
                    stage="skip",
                    files_done=run.files_done,
                    files_total=item.total,
                    path=item.issue.path,
                    message=item.issue.reason,
                )
            )
            return
        assert item.doc is not None
        if item.later:  # a second copy of one doc id: planned now that the first is stored
            for step in self._plan(item.doc, item.seq, item.total):
                self._apply(step, run)
            return
        self._finish(item, run)

    def _finish(self, item: _Done, run: _Run) -> None:
        doc, report = item.doc, run.report
        assert doc is not None
        run.seen.add(doc.source)
        report.issues.extend(
            LoadIssue(path=doc.source, reason=w, skipped=False) for w in doc.warnings
        )
        unflagged, self._unflagged = self._unflagged, None
        if item.publish and not (
            unflagged is not None
            and unflagged[0] is self.bm25._session  # written in this very write session
            and set(item.publish) <= unflagged[1]
        ):
            self._publish(item.publish)
        if item.version is not None:  # only now that the new version is complete does the old go
            self._delete_other_versions(doc.doc_id, item.version)
        getattr(report, item.outcome).append(doc.doc_id)
        run.files_done += 1
        run.emit(
            IngestEvent(
                stage="file",
                files_done=run.files_done,
                files_total=item.total,
                path=doc.source,
                chunks_embedded=report.chunks_embedded,
            )
        )

    def _publish(self, ids: list[str]) -> None:
        """Make a fully stored version visible: drop the pending flag of its chunks (``ids``).

        Chunk 0 goes last: :meth:`list_documents` reads only chunk 0, so once it is
        published every chunk is.
        """
        cleared: dict[str, Any] = {PENDING: None}  # None deletes the key (Chroma merges updates)
        self.store.update_metadata(ids[1:], [cleared] * (len(ids) - 1))
        self.store.update_metadata(ids[:1], [cleared])

    def _delete_other_versions(self, doc_id: str, version: str) -> None:
        # By id, which names the version: records older than versions have no
        # ``doc_version`` for a filter to test, and no metadata or text need be read.
        ids = self.store.ids(where={"doc_id": doc_id})
        self._delete_records([i for i in ids if not in_version(i, doc_id, version)])

    # --- writing: Chroma and BM25 together ---------------------------------------------
    @contextlib.contextmanager
    def _writing(self, emit: ProgressCallback | None = None) -> Iterator[None]:
        """Hold the writer lock (embedded Chroma) and a BM25 write session."""
        lexical = self.bm25.writing(self.store.state, self.searcher.lexical_texts)
        with self._lock_writers(emit), lexical:
            yield

    @contextlib.contextmanager
    def _lock_writers(self, emit: ProgressCallback | None) -> Iterator[None]:
        if self._file_lock is None:
            yield
            return
        from filelock import Timeout

        try:
            self._file_lock.acquire(timeout=0)
        except Timeout:
            _log.info("%s (%s)", WAITING, self._file_lock.lock_file)
            if emit is not None:
                emit(IngestEvent(stage="wait", message=WAITING))
            self._file_lock.acquire()
        try:
            yield
        finally:
            self._file_lock.release()

    def _write_chunks(
        self,
        ids: list[str],
        texts: list[str],
        metadatas: list[dict[str, Any]],
        embed_texts: list[str],
        vectors: Any = None,
        terms: list[str] | None = None,
        lexical_written: bool = False,
    ) -> None:
        """Write chunk records: BM25 rows first, so a crash leaves extra rows, never missing.

        ``vectors`` are the embeddings of ``embed_texts`` when already computed, or a
        function waiting for them (called once the BM25 rows are written, so those writes
        run while the embedding finishes); ``terms`` the chunks' BM25 terms (see
        :meth:`Bm25Index.add`); ``lexical_written``: the BM25 rows are already written
        (see :meth:`_flush`). A whole
        version in one Chroma write is stored without the pending flag (so :meth:`_finish`
        need not publish it): that write is atomic (one SQL statement appends it to
        Chroma's log, one transaction applies it), so it is seen entirely or not at all.
        """
        whole = len(ids) == int(metadatas[0]["doc_chunks"]) <= self.store.max_batch
        if whole:
            metadatas = [{k: v for k, v in m.items() if k != PENDING} for m in metadatas]
        if not lexical_written:
            self._write_lexical(ids, texts, metadatas, terms)
        if callable(vectors):
            vectors = vectors()
        self.store.upsert(ids, texts, metadatas, embeddings=vectors, embed_texts=embed_texts)
        self.store.bump_generation()
        self.bm25.bumped()
        if whole:
            self._unflagged = (self.bm25._session, set(ids))

    def _write_lexical(
        self,
        ids: list[str],
        texts: list[str],
        metadatas: list[dict[str, Any]],
        terms: list[str] | None = None,
    ) -> None:
        """Write the BM25 rows of chunk records about to be written to Chroma."""
        from longdoc.retrieval.lexical import lexical_text

        self.bm25.add(
            ids, [lexical_text(t, m) for t, m in zip(texts, metadatas, strict=True)], terms
        )

    def _delete_records(self, ids: list[str]) -> None:
        """Delete chunk records: from Chroma first, then their BM25 rows."""
        if not ids:
            return
        self.store.delete(ids=ids)
        self.store.bump_generation()
        self.bm25.bumped()
        self.bm25.remove(ids)

    def _prune(
        self, roots: list[Path], seen: set[str], report: IngestReport, emit: ProgressCallback
    ) -> None:
        # Half-written documents too: list_documents() hides them, so a killed ingest's
        # chunks would otherwise stay forever once their file is gone.
        sources = {**self._pending_sources(), **{d.doc_id: d.source for d in self.list_documents()}}
        for doc_id, source in sorted(sources.items()):
            src = Path(source)
            inside = any(root == src or root in src.parents for root in roots)
            if inside and str(src) not in seen:
                self.delete_document(doc_id)
                report.removed.append(doc_id)
                emit(IngestEvent(stage="prune", path=source, message=doc_id))

    def _pending_sources(self) -> dict[str, str]:
        """``doc_id -> source`` of every version still pending (being written, or killed)."""
        rows = self.store.get(where={PENDING: True}, include_documents=False)
        return {str(m["doc_id"]): str(m["source"]) for _i, _t, m in rows}

    # --- documents ---------------------------------------------------------------------
    def list_documents(self) -> list[DocumentInfo]:
        """Every stored document (its latest complete version), sorted by id.

        A document whose only version is still being written (or whose ingest was
        killed) is not listed; reading it raises :class:`IncompleteDocumentError`.
        """
        latest: dict[str, DocumentInfo] = {}
        for _id, _t, m in self.store.get(where={"ordinal": 0}, include_documents=False):
            if is_pending(m):  # being written, or its ingest was killed: not a document yet
                continue
            info = document_info(m)
            if info.doc_id not in latest or info.ingested_at > latest[info.doc_id].ingested_at:
                latest[info.doc_id] = info
        return sorted(latest.values(), key=lambda d: d.doc_id)

    def get_document(self, doc_id: str) -> DocumentInfo:
        """What the index knows about ``doc_id``.

        Raises:
            DocumentNotFoundError: no such document.
            IncompleteDocumentError: its only version is incomplete (an ingest was interrupted).
        """
        return document_info(self._current(doc_id).meta)

    def _current(self, doc_id: str) -> VersionStats:
        versions = self._versions(doc_id)
        if not versions:
            raise DocumentNotFoundError(doc_id, self.collection)
        # The newest complete version; none complete: refused, never read in part.
        best = max(versions.values(), key=lambda v: v.rank)
        if not best.complete:
            raise IncompleteDocumentError(doc_id, best.count, int(best.meta["doc_chunks"]))
        return best

    def read_document(self, doc_id: str) -> list[Chunk]:
        """The chunks of ``doc_id`` (its newest complete version) in order.

        Raises:
            DocumentNotFoundError: no such document.
            IncompleteDocumentError: its only version is incomplete (an ingest was interrupted).
        """
        version = version_of(self._current(doc_id).meta)
        rows = self.store.get(where={"doc_id": doc_id})
        chunks = [chunk_from_record(t or "", m) for _i, t, m in rows if version_of(m) == version]
        return sorted(chunks, key=lambda c: c.ordinal)

    def document_text(self, doc_id: str) -> str:
        """The document's text rebuilt from its chunks' offsets.

        Overlaps are read once; a gap between chunks (whitespace the chunker
        dropped at a boundary) becomes one newline, so paragraphs stay apart.

        Raises:
            DocumentNotFoundError: no such document.
            IncompleteDocumentError: its only version is incomplete (an ingest was interrupted).
        """
        parts: list[str] = []
        end = 0
        for chunk in self.read_document(doc_id):
            if chunk.char_start > end:
                parts.append("\n")
            elif chunk.char_start < end:
                parts.append(chunk.text[end - chunk.char_start :])
                end = max(end, chunk.char_end)
                continue
            parts.append(chunk.text)
            end = chunk.char_end
        return "".join(parts)

    @_writer
    def delete_document(self, doc_id: str) -> int:
        """Delete every chunk of ``doc_id``; return how many were deleted.

        Raises:
            DocumentNotFoundError: no such document.
        """
        ids = self.store.ids(where={"doc_id": doc_id})
        if not ids:
            raise DocumentNotFoundError(doc_id, self.collection)
        self._delete_records(ids)
        return len(ids)

    # --- search ------------------------------------------------------------------------
    def search(
        self,
        query: str,
        k: int = 5,
        *,
        mode: SearchMode = "hybrid",
        doc_ids: Sequence[str] | None = None,
        path_glob: str | None = None,
        ordinal_range: tuple[int, int] | None = None,
        neighbours: int = 0,
        languages: Sequence[str] | None = None,
        paths: Sequence[str] | None = None,
    ) -> list[SearchHit]:
        """Top-``k`` chunks for ``query``.

        Args:
            query: the text to search for.
            k: how many hits (before neighbour expansion).
            mode: ``"dense"`` (embeddings), ``"bm25"`` (lexical) or ``"hybrid"`` (RRF of both).
            doc_ids: only these documents.
            path_glob: only documents whose source path or id matches this glob (none
                matching: no hits).
            ordinal_range: only chunks with ``lo <= ordinal <= hi``.
            neighbours: also return this many chunks on each side of every hit.
            languages: only code chunks of these languages (``"python"``, ``"go"``...).
            paths: only documents whose id or source path matches one of these
                fnmatch globs (``src/*.py``, ``**/test_*``; ``*`` also crosses ``/``).

        Returns:
            Hits best first; neighbours follow the hit they belong to.

        Raises:
            DocumentsNotFoundError: a glob of ``paths`` matches no document (all named).
            UnknownLanguageError: a language no code is loaded as.
        """
        scope = self._scope(doc_ids, path_glob, ordinal_range, languages, paths)
        return self.searcher.search(query, k, mode=mode, scope=scope, neighbours=neighbours)

    def find_symbol(
        self,
        name: str,
        *,
        k: int = 20,
        doc_ids: Sequence[str] | None = None,
        languages: Sequence[str] | None = None,
        paths: Sequence[str] | None = None,
        query: str | None = None,
    ) -> list[SearchHit]:
        """The chunks of the definitions named ``name``, by their ``symbol`` metadata.

        Exact matches come first (case-sensitive, then ignoring case), then suffix
        matches at a ``.`` boundary: ``register`` and ``Blueprint.register`` both find
        ``Blueprint.register``; ``ster`` finds nothing.

        Args:
            name: a bare or qualified symbol name.
            k: how many definitions; every chunk of each comes back, in document order.
            doc_ids: only these documents.
            languages: only code of these languages.
            paths: only documents matching one of these globs (as :meth:`search`).
            query: rank the definitions found by this text (hybrid search) instead.

        Returns:
            Hits of mode ``"symbol"``; the parts of one definition share its rank.

        Raises:
            DocumentsNotFoundError: a glob of ``paths`` matches no document.
            UnknownLanguageError: a language no code is loaded as.
        """
        scope = self._scope(doc_ids, None, None, languages, paths)
        return self.searcher.find_symbol(name, k, scope=scope, query=query)

    def retrieve(
        self,
        query: str,
        budget: int,
        *,
        count_tokens: Callable[[str], int] | None = None,
        k: int | None = None,
        languages: Sequence[str] | None = None,
        paths: Sequence[str] | None = None,
        **search_args: Any,
    ) -> list[Passage]:
        """Search, then pack the best hits into ``budget`` tokens in document order.

        Args:
            query: the text to search for.
            budget: tokens the passages may hold together.
            count_tokens: the caller's token counter; default a 4-characters estimate.
            k: hits to consider; default enough to fill the budget.
            languages: only code chunks of these languages (as :meth:`search`).
            paths: only documents matching one of these globs (as :meth:`search`).
            **search_args: passed to :meth:`search` (``mode``, ``doc_ids``, ``neighbours``...).

        Returns:
            Passages (merged adjacent chunks) within the budget.

        Raises:
            DocumentsNotFoundError: a glob of ``paths`` matches no document.
            UnknownLanguageError: a language no code is loaded as.
        """
        from longdoc.retrieval.packing import pack

        k = k or max(5, budget // (self.retrieval.chunk_size // 2) + 5)
        hits = self.search(query, k, languages=languages, paths=paths, **search_args)
        return pack(hits, budget, count_tokens)

    # --- async twins --------------------------------------------------------------------
    # Chroma, the embedder and BM25 block; each twin runs its sync method in a worker
    # thread (asyncio.to_thread) so the event loop keeps serving other tasks meanwhile.

    async def aingest(
        self,
        paths: Sequence[Path | str] | Path | str,
        *,
        prune: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> IngestReport:
        """:meth:`ingest`, run in a worker thread so the event loop is not blocked.

        ``on_progress`` is called in that worker thread: hand events to the loop with
        ``loop.call_soon_threadsafe`` when the callback touches loop objects.
        """
        return await asyncio.to_thread(self.ingest, paths, prune=prune, on_progress=on_progress)

    async def aingest_documents(
        self, docs: Iterable[LoadedDocument], on_progress: ProgressCallback | None = None
    ) -> IngestReport:
        """:meth:`ingest_documents` in a worker thread (``on_progress`` is called there)."""
        return await asyncio.to_thread(self.ingest_documents, docs, on_progress)

    async def aingest_text(
        self, text: str, doc_id: str, *, source: str | None = None, language: str | None = None
    ) -> IngestReport:
        """:meth:`ingest_text` in a worker thread."""
        return await asyncio.to_thread(
            self.ingest_text, text, doc_id, source=source, language=language
        )

    async def alist_documents(self) -> list[DocumentInfo]:
        """:meth:`list_documents` in a worker thread."""
        return await asyncio.to_thread(self.list_documents)

    async def aget_document(self, doc_id: str) -> DocumentInfo:
        """:meth:`get_document` in a worker thread (raises :class:`DocumentNotFoundError`)."""
        return await asyncio.to_thread(self.get_document, doc_id)

    async def aread_document(self, doc_id: str) -> list[Chunk]:
        """:meth:`read_document` in a worker thread (raises :class:`DocumentNotFoundError`)."""
        return await asyncio.to_thread(self.read_document, doc_id)

    async def adocument_text(self, doc_id: str) -> str:
        """:meth:`document_text` in a worker thread (raises :class:`DocumentNotFoundError`)."""
        return await asyncio.to_thread(self.document_text, doc_id)

    async def adelete_document(self, doc_id: str) -> int:
        """:meth:`delete_document` in a worker thread (raises :class:`DocumentNotFoundError`)."""
        return await asyncio.to_thread(self.delete_document, doc_id)

    async def asearch(
        self,
        query: str,
        k: int = 5,
        *,
        mode: SearchMode = "hybrid",
        doc_ids: Sequence[str] | None = None,
        path_glob: str | None = None,
        ordinal_range: tuple[int, int] | None = None,
        neighbours: int = 0,
        languages: Sequence[str] | None = None,
        paths: Sequence[str] | None = None,
    ) -> list[SearchHit]:
        """:meth:`search` in a worker thread (same arguments, same hits)."""
        return await asyncio.to_thread(
            self.search,
            query,
            k,
            mode=mode,
            doc_ids=doc_ids,
            path_glob=path_glob,
            ordinal_range=ordinal_range,
            neighbours=neighbours,
            languages=languages,
            paths=paths,
        )

    async def afind_symbol(
        self,
        name: str,
        *,
        k: int = 20,
        doc_ids: Sequence[str] | None = None,
        languages: Sequence[str] | None = None,
        paths: Sequence[str] | None = None,
        query: str | None = None,
    ) -> list[SearchHit]:
        """:meth:`find_symbol` in a worker thread (same arguments, same hits)."""
        return await asyncio.to_thread(
            self.find_symbol,
            name,
            k=k,
            doc_ids=doc_ids,
            languages=languages,
            paths=paths,
            query=query,
        )

    async def aretrieve(
        self,
        query: str,
        budget: int,
        *,
        count_tokens: Callable[[str], int] | None = None,
        k: int | None = None,
        languages: Sequence[str] | None = None,
        paths: Sequence[str] | None = None,
        **search_args: Any,
    ) -> list[Passage]:
        """:meth:`retrieve` in a worker thread (``count_tokens`` is called there)."""
        return await asyncio.to_thread(
            self.retrieve,
            query,
            budget,
            count_tokens=count_tokens,
            k=k,
            languages=languages,
            paths=paths,
            **search_args,
        )

    def _scope(
        self,
        doc_ids: Sequence[str] | None,
        path_glob: str | None,
        ordinal_range: tuple[int, int] | None,
        languages: Sequence[str] | None = None,
        paths: Sequence[str] | None = None,
    ) -> Scope:
        """The chunks a search may return.

        That is ``doc_ids``, intersected with the documents matching ``path_glob`` and
        with those matching any of ``paths``, in ``languages``.

        Raises:
            DocumentsNotFoundError: a glob of ``paths`` matches no document.
            UnknownLanguageError: a language no code is loaded as.
        """
        allowed = set(doc_ids) if doc_ids is not None else None
        if path_glob or paths:
            docs = self.list_documents()
            if path_glob:
                matching = {d.doc_id for d in docs if _matches(d, path_glob)}
                allowed = matching if allowed is None else allowed & matching
            if paths:
                allowed = self._path_matches(docs, paths, allowed)
        return Scope(
            doc_ids=None if allowed is None else frozenset(allowed),
            ordinal_range=None
            if ordinal_range is None
            else (int(ordinal_range[0]), int(ordinal_range[1])),
            languages=None if languages is None else _languages(languages),
        )

    def _path_matches(
        self, docs: list[DocumentInfo], globs: Sequence[str], allowed: set[str] | None
    ) -> set[str]:
        """``allowed`` narrowed to the documents matching any of ``globs``."""
        matching: set[str] = set()
        missing: list[str] = []
        for glob in globs:
            found = {d.doc_id for d in docs if _matches(d, glob)}
            if not found:
                missing.append(glob)
            matching |= found
        if missing:  # a mistyped glob would otherwise read as "nothing relevant"
            raise DocumentsNotFoundError(missing, self.collection)
        return matching if allowed is None else allowed & matching


def _ready_entries(
    window: list[_Entry],
    *,
    wait: bool,
    passing: bool = True,
    before_wait: Callable[[], None] = lambda: None,
) -> Iterator[_Entry]:
    """Take from ``window`` (in order) the entries that may go now, and yield them.

    The first entry goes when it is not a document; otherwise any document whose
    chunking is done (or not needed) goes, or with ``passing`` off only the first.
    Only documents pass one another, so the second copy of a doc id (an item that is
    not a document) still follows its first. With ``wait``, blocks until at least one
    entry goes, calling ``before_wait`` first.
    """
    while window:
        if not isinstance(window[0][2], LoadedDocument):
            yield window.pop(0)
            wait = False
            continue
        may_go = window if passing else window[:1]
        chunking = [e[3][1] if e[3] else None for e in may_go]
        ready = next(
            (
                i
                for i, (e, f) in enumerate(zip(may_go, chunking, strict=True))
                if isinstance(e[2], LoadedDocument) and (f is None or f.done())
            ),
            None,
        )
        if ready is not None:
            yield window.pop(ready)
            wait = False
        elif wait:  # only on what may go: a done future behind the first would not wake it
            before_wait()
            _wait_for_chunks([f for f in chunking if f is not None])
        else:
            return


def _wait_for_chunks(futures: list[Future[Chunked]]) -> None:
    """Block until one of ``futures`` (documents being chunked) is done."""
    from concurrent.futures import FIRST_COMPLETED
    from concurrent.futures import wait as wait_any

    wait_any(futures, return_when=FIRST_COMPLETED)


def _matches(doc: DocumentInfo, glob: str) -> bool:
    """Whether ``doc``'s source path or id matches the fnmatch ``glob``."""
    return fnmatch.fnmatch(doc.source, glob) or fnmatch.fnmatch(doc.doc_id, glob)


def _languages(names: Sequence[str]) -> frozenset[str]:
    """``names`` lowercased, each checked against the languages code is loaded as."""
    from longdoc.retrieval.loading import CODE_LANGUAGES

    known = sorted(set(CODE_LANGUAGES.values()))
    chosen = frozenset(n.strip().lower() for n in names)
    for name in sorted(chosen):
        if name not in known:
            raise UnknownLanguageError(name, known)
    return chosen
