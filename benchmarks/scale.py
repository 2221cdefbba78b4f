"""Scale: adding a document to a large index, hybrid search latency, two writer processes.

(a) One 5,000-token document (from ``examples/data/persuasion.txt``, embedded for
    real) is ingested into an index of 10k and of 100k chunks; printed: seconds from
    the start of the ingest until a hybrid search finds it, and the 100k / 10k ratio
    (target <= 1.5x). The existing chunks are random unit vectors with random text of
    the novel's words, written through the index's own write path (Chroma records
    and SQLite FTS5 rows together), so both halves of hybrid search hold them.
(b) Hybrid search p50 / p95 at 100k and 1M chunks (a size above ``--max-chunks`` is
    skipped, with the build time extrapolated from the sizes built), then its two
    halves alone at the fusion depth (dense: embed + HNSW query; lexical: the FTS5
    query plus reading its hits back from Chroma) and the FTS5 query by itself.
(c) Two writer processes vs one on the same embedded data dir: chunks per second and
    lost chunks (records counted afterwards against what the writers reported).

Timings on a shared machine are noisy: the ratios matter more than the seconds.

Run: ``.venv/bin/python benchmarks/scale.py [--quick] [--sizes 10000,100000]``.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, peak_rss_mib

TEXT = REPO / "examples" / "data" / "persuasion.txt"
BG_DOC_CHUNKS = 1000  # background chunks per background document
BG_WORDS = 60  # words per background chunk
BATCH = 5000  # background records per write
NEW_TOKENS = 5000
DIM = 384  # all-MiniLM-L6-v2


def _settings(data_dir: Path):  # -> longdoc.config.Settings
    from longdoc.config import load_settings

    return load_settings(data_dir=data_dir, chroma_host=None)


def _doc(doc_id: str, text: str):  # -> LoadedDocument
    from longdoc.retrieval.models import LoadedDocument

    digest = hashlib.sha256(text.encode()).hexdigest()
    return LoadedDocument(doc_id=doc_id, source=doc_id, text=text, content_hash=digest)


def new_document(text: str, count) -> str:
    """A slice of the novel of about ``NEW_TOKENS`` embedding tokens, from a chapter start."""
    start = text.index("Chapter 10") if "Chapter 10" in text else len(text) // 3
    chars = NEW_TOKENS * 4
    for _ in range(4):  # two or three rescalings land within a few percent
        tokens = count(text[start : start + chars])
        chars = int(chars * NEW_TOKENS / max(tokens, 1))
    return text[start : start + chars]


def fill(index, n: int, words: list[str], seed: int = 0) -> tuple[float, float, float]:
    """Write ``n`` background chunks (random unit vectors, random words).

    Written as the index writes an ingest (BM25 rows first, then Chroma, then the
    generation bump, inside its write session): the private calls are the ones
    ``Index._write_chunks`` makes, with the embeddings given instead of computed.

    Returns:
        ``(total, Chroma upsert, FTS5 rows)`` seconds.
    """
    import numpy as np

    from longdoc.retrieval.models import Chunk
    from longdoc.retrieval.records import chunk_metadata

    rng = random.Random(seed)
    vec_rng = np.random.default_rng(seed)
    t0, upsert, fts = time.perf_counter(), 0.0, 0.0
    with index._writing():
        for lo in range(0, n, BATCH):
            ids, texts, metas = [], [], []
            for i in range(lo, min(n, lo + BATCH)):
                d, o = divmod(i, BG_DOC_CHUNKS)
                body = " ".join(rng.choices(words, k=BG_WORDS))
                doc = _doc(f"bg-{d:05d}", "")
                chunk = Chunk(doc_id=doc.doc_id, source=doc.source, ordinal=o,
                              char_start=o * 400, char_end=o * 400 + len(body), text=body,
                              token_count=BG_WORDS)  # fmt: skip
                ids.append(f"{doc.doc_id}::{'0' * 16}::{o}")
                texts.append(body)
                total = min(BG_DOC_CHUNKS, n - d * BG_DOC_CHUNKS)
                metas.append(chunk_metadata(chunk, doc, doc_chunks=total, ingested_at=0.0,
                                            version="0" * 16))  # fmt: skip
            vecs = vec_rng.standard_normal((len(ids), DIM)).astype("float32")
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            t1 = time.perf_counter()
            index.bm25.add(ids, texts)
            t2 = time.perf_counter()
            index.store.upsert(ids, texts, metas, embeddings=vecs)
            upsert += time.perf_counter() - t2
            fts += t2 - t1
            index.store.bump_generation()
            index.bm25.bumped()
    return time.perf_counter() - t0, upsert, fts


def time_to_find(index, doc, query: str) -> tuple[float, float, float, float]:
    """``(total, embed, rest of ingest, search)`` seconds: ingest start to a search finding it.

    The embedding time is measured apart (it does not depend on the index size) by
    timing the index's own ``Store.embed`` calls.
    """
    spent = [0.0]
    embed = index.store.embed

    def timed(texts):  # wraps this index's embed calls only
        t = time.perf_counter()
        try:
            return embed(texts)
        finally:
            spent[0] += time.perf_counter() - t

    index.store.embed = timed
    try:
        t0 = time.perf_counter()
        index.ingest_documents([doc])
        t1 = time.perf_counter()
    finally:
        del index.store.embed
    for _ in range(100):
        hits = index.search(query, 10, mode="hybrid")
        if any(h.chunk.doc_id == doc.doc_id for h in hits):
            t2 = time.perf_counter()
            return t2 - t0, spent[0], t1 - t0 - spent[0], t2 - t1
    raise SystemExit(f"hybrid search never found {doc.doc_id} (query {query!r})")


def latency(search, queries: list[str]) -> tuple[float, float]:
    """p50 and p95 in milliseconds of ``search(query)`` over ``queries`` (after one warm-up)."""
    search(queries[0])
    times = []
    for q in queries:
        t0 = time.perf_counter()
        search(q)
        times.append((time.perf_counter() - t0) * 1000)
    cuts = statistics.quantiles(times, n=20)
    return statistics.median(times), cuts[18]


def latency_rows(index, queries: list[str]) -> None:
    """Print hybrid (k=10) latency, then each half alone at the fusion depth, then FTS5 alone."""
    from longdoc.retrieval.search import _FUSION_DEPTH

    page = max(4 * _FUSION_DEPTH, 64)  # the first page Searcher._bm25 asks FTS5 for
    rows = [
        ("hybrid", lambda q: index.search(q, 10, mode="hybrid")),
        ("  dense half", lambda q: index.search(q, _FUSION_DEPTH, mode="dense")),
        ("  lexical half", lambda q: index.search(q, _FUSION_DEPTH, mode="bm25")),
        ("    FTS5 query", lambda q: index.bm25.scores(q, limit=page)),
    ]
    for label, search in rows:
        p50, p95 = latency(search, queries)
        print(f"      {label:<15} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms", flush=True)


# --- (c) writer processes --------------------------------------------------------------
def _writer(data_dir: str, docs: list[tuple[str, str]], barrier, out) -> None:
    """One writer process: load the model, wait for the others, ingest one document per call."""
    from longdoc.retrieval import Index

    index = Index("scale-writers", settings=_settings(Path(data_dir)))
    index.embedder.inner  # noqa: B018 - load the model before the clock starts
    barrier.wait()
    start, chunks = time.time(), 0
    for doc_id, text in docs:
        chunks += index.ingest_documents([_doc(doc_id, text)]).chunks_embedded
    out.put((start, time.time(), chunks))


def writers(text: str, n_procs: int, n_docs: int, doc_chars: int) -> tuple[float, int, int]:
    """``(chunks/s, chunks reported, chunks stored)`` for ``n_procs`` writers of one data dir."""
    from longdoc.retrieval import Index

    data_dir = tempfile.mkdtemp(prefix="longdoc-scale-writers-")
    n_docs = min(n_docs, len(text) // doc_chars)  # whole pieces only: none empty
    pieces = [(f"w-{i:03d}", text[i * doc_chars : (i + 1) * doc_chars]) for i in range(n_docs)]
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(n_procs), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(data_dir, pieces[p::n_procs], barrier, out))
             for p in range(n_procs)]  # fmt: skip
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
        if p.exitcode:
            raise SystemExit(f"writer process exited with {p.exitcode}")
    reported = sum(r[2] for r in results)
    wall = max(r[1] for r in results) - min(r[0] for r in results)
    index = Index("scale-writers", settings=_settings(Path(data_dir)))
    listed = sum(d.chunks for d in index.list_documents())
    stored = index.store.count()
    index.search("Anne", 1, mode="bm25")  # brings the BM25 index in step if it is not
    (bm25,) = index.bm25._db().execute("SELECT count(*) FROM records").fetchone()
    if not (stored == listed == reported) or len(index.list_documents()) != n_docs:
        print(f"    MISMATCH: stored {stored}, listed {listed}, reported {reported}")
    print(f"    {n_procs} writer(s): {reported} chunks in {wall:.1f}s; Chroma holds {stored}, "
          f"documents list {listed}, BM25 rows {bm25}", flush=True)  # fmt: skip
    return reported / wall, reported, stored


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="index sizes for (a)")
    parser.add_argument("--latency-sizes", default="100000,1000000", help="index sizes for (b)")
    parser.add_argument("--max-chunks", type=int, default=200_000,
                        help="sizes above this are skipped (build time extrapolated)")  # fmt: skip
    parser.add_argument("--queries", type=int, default=50, help="searches per latency row")
    parser.add_argument("--writer-docs", type=int, default=30, help="documents for (c)")
    parser.add_argument("--repeat", type=int, default=3, help="documents added per size in (a)")
    parser.add_argument("--skip-writers", action="store_true", help="leave out (c)")
    parser.add_argument("--quick", action="store_true", help="sizes 1000,5000; a smoke run")
    args = parser.parse_args()
    if not TEXT.exists():
        print(f"benchmark skipped: {TEXT} not found")
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    lat_sizes = [int(s) for s in args.latency_sizes.split(",")]
    if args.quick:
        sizes, lat_sizes, args.writer_docs, args.queries = [1000, 5000], [5000, 20000], 8, 20
        args.max_chunks = min(args.max_chunks, 5000)
    text = TEXT.read_text(encoding="utf-8")
    words = re.findall(r"[A-Za-z']+", text)
    from longdoc.retrieval import Index

    data_dir = Path(tempfile.mkdtemp(prefix="longdoc-scale-"))
    settings = _settings(data_dir)
    print(f"text: {TEXT.name}; embedder: {settings.embedding_model} "
          f"({settings.embedding_backend}); background chunks: {BG_WORDS} random words and "
          f"random unit vectors; cpus: {os.cpu_count()}; data dir: {data_dir}",
          flush=True)  # fmt: skip
    probe = Index("scale-probe", settings=settings)
    probe.embedder.inner  # noqa: B018 - load the model outside every timing
    new = new_document(text, lambda t: probe.embedder.count_tokens([t])[0])
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", new) if len(s.split()) >= 12]
    query = sentences[len(sentences) // 2]
    print(f"new document: {len(new):,} chars, {probe.embedder.count_tokens([new])[0]:,} tokens; "
          f"query: {query[:70]!r}", flush=True)  # fmt: skip

    probe.ingest_documents([_doc("warm-up", new)])  # first-call costs (chunker, FTS5) untimed
    built: dict[int, tuple[Index, float]] = {}

    def build(n: int) -> Index:
        if n not in built:
            index = Index(f"scale-{n}", settings=settings, embedder=probe.embedder)
            seconds, upsert, fts = fill(index, n, words)
            index.search(query, 10, mode="hybrid")  # open HNSW and FTS5 before any timing
            built[n] = (index, seconds)
            print(f"  built {n:,} background chunks in {seconds:.1f}s "
                  f"({n / seconds:,.0f} chunks/s; Chroma upsert {upsert:.1f}s, "
                  f"FTS5 rows {fts:.1f}s)", flush=True)  # fmt: skip
        return built[n][0]

    print("\n(a) add one 5,000-token document: seconds until a hybrid search finds it", flush=True)
    found: dict[int, tuple[float, float]] = {}
    for n in sizes:
        index = build(n)
        runs = [time_to_find(index, _doc(f"new-{n}-{r}", new), query) for r in range(args.repeat)]
        total, embed, rest, search = (statistics.median(col) for col in zip(*runs, strict=True))
        found[n] = (total, rest + search)
        print(f"  {n:>9,} chunks: {total:6.2f}s  (embedding {embed:.2f}s, rest of ingest "
              f"{rest:.2f}s, search {search * 1000:.0f} ms; median of {args.repeat})",
              flush=True)  # fmt: skip
    lo, hi = min(sizes), max(sizes)
    ratio, index_ratio = (found[hi][i] / found[lo][i] for i in (0, 1))
    verdict = "met" if ratio <= 1.5 else "NOT met"
    print(f"  {hi:,} / {lo:,}: {ratio:.2f}x (target <= 1.5x: {verdict}); "
          f"without the embedding: {index_ratio:.2f}x")  # fmt: skip

    print("\n(b) hybrid search latency (k=10)", flush=True)
    queries = random.Random(1).sample(sentences, min(args.queries, len(sentences)))
    rate = None
    for n in lat_sizes:
        if n > args.max_chunks:
            if built:
                rate = max(m for m in built) / built[max(built)][1]
            hint = ""
            if rate:
                hint = f"; building would take ~{n / rate / 60:.1f} min at {rate:,.0f} chunks/s"
            print(f"  {n:>9,} chunks: skipped (above --max-chunks {args.max_chunks:,}{hint})")
            continue
        index = build(n)
        print(f"  {n:>9,} chunks:", flush=True)
        latency_rows(index, queries)
    built.clear()

    if args.skip_writers:
        return 0
    print("\n(c) writer processes on one embedded data dir (real embedding)", flush=True)
    doc_chars = 12_000  # about 15 chunks a document
    one = writers(text, 1, args.writer_docs, doc_chars)
    two = writers(text, 2, args.writer_docs, doc_chars)
    for label, (rate_c, reported, stored) in (("1 writer ", one), ("2 writers", two)):
        print(f"  {label}: {rate_c:6.1f} chunks/s, lost chunks: {reported - stored}")
    print(f"  2 writers / 1 writer: {two[0] / one[0]:.2f}x chunks/s (writers take turns)")
    print(f"\npeak RSS of this process: {peak_rss_mib():,.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
