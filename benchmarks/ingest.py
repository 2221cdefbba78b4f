"""Ingest throughput on Moby Dick: raw encode vs our ingest vs llama-index's pipeline.

Prints embedding tokens per second for
  (a) raw ``SentenceTransformer.encode`` (torch) of our chunks,
  (b) our ``Index.ingest`` with the torch backend and with the int8 ONNX backend,
  (c) llama-index's ``IngestionPipeline`` (SentenceSplitter with the same chunk size
      and tokenizer, ``HuggingFaceEmbedding`` of the same model, ``ChromaVectorStore``),
then the ratios, the unchanged re-ingest speed-up and the peak RSS of our ingest
(each backend in a process of its own, so the figure is ours alone). A codebase row
follows: our ingest (torch) of ../shared/data/code/requests and of cobra + express, in
files and chunks per second. Then the zero-cost-embedder rows (the frameworks' own
throughput, longdoc vs llama-index, Moby Dick and all books, with a cProfile breakdown of
longdoc's time) and peak RSS for one book and a generated 100 MB folder.

Run: ``.venv/bin/python benchmarks/ingest.py [--codebase-only | --zero-only | --rss-only]
[--rss-mb N]``.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import SHARED_DATA, peak_rss_mib, require_data, temp_settings

BATCH = 64
# "auto" is the default (on this CPU torch-bf16); the others stay selectable.
BACKENDS = ("auto", "torch", "torch-bf16", "onnx", "onnx-int8", "onnx-int8-static")
ZERO_DIM = 384
CODEBASES = {"requests": ("code/requests",), "cobra + express": ("code/cobra", "code/express")}


def raw_encode(chunks) -> float:
    from longdoc.retrieval.embedding import get_embedder

    model = get_embedder("all-MiniLM-L6-v2", "torch").model  # type: ignore[attr-defined]
    texts = [c.embed_text for c in chunks]
    t0 = time.perf_counter()
    model.encode(texts, batch_size=BATCH, normalize_embeddings=True, show_progress_bar=False)
    return time.perf_counter() - t0


def ours(path, backend: str) -> tuple[float, int, float]:
    from longdoc.retrieval import Index

    index = Index(
        f"moby-{backend}",
        settings=temp_settings(),
        embedding_backend=backend,
        embed_batch_size=BATCH,
    )
    index.embedder.inner  # noqa: B018 - load (and for ONNX build) the model outside the timing
    first = index.ingest(path)
    t0 = time.perf_counter()
    again = index.ingest(path)
    second = time.perf_counter() - t0
    assert again.unchanged and not again.chunks_embedded
    return first.seconds, first.tokens_embedded, second


def ours_isolated(backend: str) -> dict:
    """Run :func:`ours` in a fresh process and return its figures and peak RSS."""
    out = subprocess.run(
        [sys.executable, __file__, "--ours", backend], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def llama_pipeline(text: str, chunk_size: int, overlap: int) -> tuple[float, int]:
    import chromadb
    from llama_index.core import Document
    from llama_index.core.ingestion import IngestionPipeline
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from longdoc.retrieval.embedding import get_embedder, resolve_model_path

    tok = get_embedder("all-MiniLM-L6-v2", "torch")
    folder = temp_settings().data_dir / "llama-chroma"
    collection = chromadb.PersistentClient(str(folder)).get_or_create_collection("moby")
    embed = HuggingFaceEmbedding(
        model_name=resolve_model_path("all-MiniLM-L6-v2"), embed_batch_size=BATCH
    )
    splitter = SentenceSplitter(
        chunk_size=chunk_size, chunk_overlap=overlap, tokenizer=lambda s: tok.tokenize(s)
    )
    pipeline = IngestionPipeline(
        transformations=[splitter, embed],
        vector_store=ChromaVectorStore(chroma_collection=collection),
    )
    t0 = time.perf_counter()
    nodes = pipeline.run(documents=[Document(text=text)])
    seconds = time.perf_counter() - t0
    tokens = sum(tok.count_tokens([n.get_content() for n in nodes]))
    return seconds, tokens


def codebase_rows() -> None:
    """Our ingest of each codebase in a fresh collection: files/s and chunks/s."""
    from longdoc.retrieval import Index

    print("\ncodebase ingest, longdoc [torch]", flush=True)
    print(f"  {'tree':<18}{'files':>7}{'chunks':>8}{'seconds':>9}{'files/s':>9}{'chunks/s':>10}")
    for n, (name, rels) in enumerate(CODEBASES.items()):
        paths = [SHARED_DATA / rel for rel in rels]
        if not all(p.exists() for p in paths):
            print(f"  {name}: skipped, {' or '.join(map(str, paths))} not found")
            continue
        index = Index(f"codebase-{n}", settings=temp_settings(), embed_batch_size=BATCH)
        index.embedder.inner  # noqa: B018 - load the model outside the timing
        report = index.ingest(paths)
        files, chunks, sec = len(report.added), report.chunks_embedded, report.seconds
        print(
            f"  {name:<18}{files:>7}{chunks:>8}{sec:>9.1f}{files / sec:>9.2f}{chunks / sec:>10.1f}",
            flush=True,
        )


# --- the framework's own cost: a zero-cost embedder -----------------------------------
class ZeroEmbedder:
    """Fixed unit vectors (hashed from the text) at ~0 cost; MiniLM's real tokenizer counts.

    Plugged into longdoc's Index (``embedder=``) and, as :func:`llama_zero_embedding`,
    into llama-index's pipeline: what remains is each framework's own work.
    """

    name = "zero-cost"
    backend = "torch"
    dimension = ZERO_DIM
    identity = "zero-cost-384"

    def __init__(self, model: str = "all-MiniLM-L6-v2") -> None:
        from tokenizers import Tokenizer

        from longdoc.retrieval.embedding import resolve_model_path
        from longdoc.retrieval.tokens import TokenCounter

        self._tok = Tokenizer.from_file(str(Path(resolve_model_path(model)) / "tokenizer.json"))
        self.token_counter = TokenCounter(self._tok)  # as the real embedders count
        self.max_tokens = 254

    def count_tokens(self, texts):
        return self.token_counter.count(texts)

    def tokenize(self, text):
        return self.token_counter.ids(text)

    def encode(self, texts, batch_size: int = 64):
        return zero_vectors(texts)


def zero_vectors(texts):
    """One fixed unit vector per text, seeded by its hash (no model)."""
    import numpy as np

    out = np.empty((len(texts), ZERO_DIM), dtype=np.float32)
    for i, t in enumerate(texts):
        seed = int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little")
        out[i] = np.random.default_rng(seed).standard_normal(ZERO_DIM, dtype=np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def llama_zero_embedding():
    """A llama-index ``BaseEmbedding`` giving the same vectors as :class:`ZeroEmbedder`."""
    from llama_index.core.base.embeddings.base import BaseEmbedding

    class _Zero(BaseEmbedding):
        def _get_query_embedding(self, query):
            return zero_vectors([query])[0].tolist()

        async def _aget_query_embedding(self, query):
            return self._get_query_embedding(query)

        def _get_text_embedding(self, text):
            return zero_vectors([text])[0].tolist()

        def _get_text_embeddings(self, texts):
            return zero_vectors(texts).tolist()

    return _Zero(model_name="zero-cost", embed_batch_size=BATCH)


def zero_longdoc(paths, tag: str, profile: bool = False):
    """longdoc's ingest with the zero-cost embedder: (seconds, chunks, tokens, profile)."""
    from longdoc.retrieval import Index

    settings = temp_settings()
    index = Index(f"zero-{tag}", settings=settings, embedder=ZeroEmbedder(), embed_batch_size=BATCH)
    prof = cProfile.Profile() if profile else None
    # Before 3.12 cProfile sees one thread: the producer (load, chunk, embed) gets its own;
    # from 3.12 one profiler sees every thread and a second one cannot start.
    if prof and sys.version_info < (3, 12):
        inner, produce = cProfile.Profile(), index._produce

        def profiled(items, put):
            inner.enable()
            try:
                produce(items, put)
            finally:
                inner.disable()

        index._produce = profiled  # type: ignore[method-assign]
    if prof:
        prof.enable()
    report = index.ingest(paths)
    if prof:
        prof.disable()
        prof = pstats.Stats(prof)
        if sys.version_info < (3, 12):
            prof.add(inner)
    return report.seconds, report.chunks_embedded, report.tokens_embedded, prof


def zero_llama(texts, tag: str):
    """llama-index's IngestionPipeline with the same splitter sizes, tokenizer and vectors."""
    import chromadb
    from llama_index.core import Document
    from llama_index.core.ingestion import IngestionPipeline
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from longdoc.config import load_settings

    zero = ZeroEmbedder()
    r = load_settings()
    folder = temp_settings().data_dir / f"llama-zero-{tag}"
    collection = chromadb.PersistentClient(str(folder)).get_or_create_collection("zero")
    splitter = SentenceSplitter(
        chunk_size=r.chunk_size, chunk_overlap=r.chunk_overlap, tokenizer=zero.tokenize
    )
    pipeline = IngestionPipeline(
        transformations=[splitter, llama_zero_embedding()],
        vector_store=ChromaVectorStore(chroma_collection=collection),
    )
    t0 = time.perf_counter()
    nodes = pipeline.run(documents=[Document(text=t) for t in texts])
    seconds = time.perf_counter() - t0
    return seconds, len(nodes), sum(zero.count_tokens([n.get_content() for n in nodes]))


# Where longdoc's own time goes: cumulative time of these functions (they nest: a row
# includes the rows of what it calls, e.g. chunking includes its token counting).
_BREAKDOWN = {
    "loading (read, decode, hash)": ("loading.py", "iter_documents"),
    # Chunking runs on pool threads (seen by cProfile from Python 3.12) and in processes.
    "chunking (all)": ("chunking.py", "chunk"),
    "  sentence splitting": ("splitting.py", "sentence_split"),
    "  one tokenization per text (spans)": ("tokens.py", "spans"),
    "  token counts of texts": ("tokens.py", "count"),
    "  BM25 terms (with the chunks)": ("lexical.py", "terms"),
    "waiting on chunking (threads, processes)": ("_base.py", "result"),
    "chunk metadata": ("records.py", "chunk_metadata"),
    "embedding (zero-cost)": ("ingest.py", "encode"),
    "Chroma upsert": ("store.py", "upsert"),
    "lexical index writes": ("lexical.py", "add"),
    "publish (pending flag)": ("index.py", "_publish"),
    "generation bumps": ("store.py", "bump_generation"),
    "version lookups": ("index.py", "_versions"),
    "write session (BM25 in step)": ("lexical.py", "writing"),
}


def print_breakdown(prof, total: float) -> None:
    stats = prof
    cum: dict[str, float] = {}
    for (file, _line, func), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        for label, (f, fn) in _BREAKDOWN.items():
            if file.endswith(f) and func == fn:
                cum[label] = cum.get(label, 0.0) + ct
    print(
        f"  longdoc's own time (cProfile, cumulative; {total:.2f}s wall under the profiler; "
        "two threads overlap, so rows may add up to more than 100%)"
    )
    for label in _BREAKDOWN:
        t = cum.get(label, 0.0)
        print(f"    {label:<38}{t:>8.2f}s {100 * t / total:>5.1f}%")


def zero_rows(repeats: int = 3) -> None:
    """The zero-cost-embedder rows: longdoc vs llama-index on Moby Dick and on all books.

    Both run once untimed first (imports, the splitter's sentence model), then alternate
    ``repeats`` times; the median and the spread are printed.
    """
    import statistics

    books = require_data("books/moby_dick.txt") / "books"
    corpora = {"Moby Dick": [books / "moby_dick.txt"], "all books": sorted(books.glob("*.txt"))}
    zero_longdoc(corpora["Moby Dick"], "warm")
    zero_llama([(books / "moby_dick.txt").read_text(encoding="utf-8")], "warm")
    print(f"\nzero-cost embedder: the frameworks' own throughput (median of {repeats})", flush=True)
    print(f"  {'corpus':<12}{'pipeline':<14}{'chunks':>8}{'seconds':>9}{'tokens/s':>11}   spread")
    for n, (name, paths) in enumerate(corpora.items()):
        texts = [p.read_text(encoding="utf-8") for p in paths]
        rates: dict[str, list[float]] = {"longdoc": [], "llama-index": []}
        runs: dict[str, list[tuple[float, int]]] = {"longdoc": [], "llama-index": []}
        for r in range(repeats):
            s, c, t, _ = zero_longdoc(paths, f"{n}-{r}")
            rates["longdoc"].append(t / s)
            runs["longdoc"].append((s, c))
            ls, lc, lt = zero_llama(texts, f"{n}-{r}")
            rates["llama-index"].append(lt / ls)
            runs["llama-index"].append((ls, lc))
        for i, (label, got) in enumerate(rates.items()):
            med = statistics.median(got)
            secs = statistics.median(x for x, _ in runs[label])
            print(
                f"  {name if i == 0 else '':<12}{label:<14}{runs[label][0][1]:>8}{secs:>9.2f}"
                f"{med:>11,.0f}   {min(got):,.0f}-{max(got):,.0f}"
            )
        ratio = statistics.median(rates["longdoc"]) / statistics.median(rates["llama-index"])
        print(f"  {'':<12}longdoc/llama-index tokens/s = {ratio:.2f} (target >= 2)", flush=True)
    s, _c, _t, prof = zero_longdoc(corpora["all books"], "profiled", profile=True)
    print_breakdown(prof, s)


def _watch_workers() -> list[float]:
    """Peak RSS (MiB) of each chunking worker process, read as the pool closes them."""
    from longdoc.retrieval.chunk_pool import ChunkPool

    peaks: list[float] = []
    close = ChunkPool.close

    def closing(pool: ChunkPool) -> None:
        for pid in pool.workers:
            status = Path(f"/proc/{pid}/status")
            lines = status.read_text().splitlines() if status.exists() else []
            peaks.extend(int(x.split()[1]) / 1024 for x in lines if x.startswith("VmHWM:"))
        close(pool)

    ChunkPool.close = closing  # type: ignore[method-assign]
    return peaks


def make_folder(folder: Path, megabytes: float) -> Path:
    """``megabytes`` of text: copies of the shared books, each copy edited so none dedupes."""
    books = sorted((require_data("books/moby_dick.txt") / "books").glob("*.txt"))
    texts = [b.read_text(encoding="utf-8") for b in books]
    folder.mkdir(parents=True, exist_ok=True)
    size, n = 0, 0
    while size < megabytes * 1_000_000:
        text = f"Copy {n}.\n\n" + texts[n % len(texts)].replace(" the ", f" the{n % 7} ", n + 1)
        (folder / f"copy-{n:04d}.txt").write_text(text, encoding="utf-8")
        size, n = size + len(text.encode()), n + 1
    return folder


def rss_row(megabytes: float) -> None:
    """Peak RSS of longdoc's ingest (zero-cost embedder), each corpus in a fresh process."""
    print("\npeak RSS of longdoc ingest (zero-cost embedder; target < 2,048 MiB)", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="longdoc-rss-"))
    try:
        corpora = {
            "Moby Dick": require_data("books/moby_dick.txt") / "books" / "moby_dick.txt",
            f"{megabytes:g} MB folder": make_folder(tmp / "folder", megabytes),
        }
        for name, path in corpora.items():
            out = subprocess.run(
                [sys.executable, __file__, "--rss-of", str(path)],
                capture_output=True,
                text=True,
                check=True,
            )
            got = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"  {name:<16}{got['chunks']:>9} chunks {got['seconds']:>8.1f}s "
                f"{got['chunks'] / got['seconds']:>7.0f} chunks/s  "
                f"peak RSS {got['rss_mib']:>7,.0f} MiB"
                + "".join(f" + worker {w:,.0f} MiB" for w in got["workers_mib"]),
                flush=True,
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codebase-only", action="store_true", help="only the codebase row")
    parser.add_argument("--zero-only", action="store_true", help="only the zero-cost rows")
    parser.add_argument("--rss-only", action="store_true", help="only the peak RSS row")
    parser.add_argument("--rss-mb", type=float, default=100, help="the RSS row's folder size")
    args = parser.parse_args()
    if args.zero_only or args.rss_only:
        zero_rows() if args.zero_only else None
        rss_row(args.rss_mb)
        return 0
    if not args.codebase_only:
        if (SHARED_DATA / "books" / "moby_dick.txt").exists():
            moby()
        else:  # the codebase row may still run
            print(f"Moby Dick rows skipped: {SHARED_DATA / 'books' / 'moby_dick.txt'} not found")
    codebase_rows()
    if (SHARED_DATA / "books" / "moby_dick.txt").exists():
        zero_rows()
        rss_row(args.rss_mb)
    return 0


def moby() -> None:
    """The Moby Dick rows: (a), (b) and (c) and their ratios."""
    data = require_data("books/moby_dick.txt")
    path = data / "books" / "moby_dick.txt"
    from longdoc.retrieval import Index, load_file

    index = Index("probe", settings=temp_settings())
    doc = load_file(path)
    chunks = index.chunker.chunk(doc)  # type: ignore[arg-type]
    tokens = sum(c.token_count for c in chunks)
    print(
        f"Moby Dick: {len(doc.text):,} chars, {len(chunks)} chunks, {tokens:,} tokens", flush=True
    )
    rates: dict[str, float] = {}
    a = raw_encode(chunks)
    rates["(a) raw SentenceTransformer.encode"] = tokens / a
    print(f"  (a) {a:.1f}s", flush=True)
    reingest, rss = {}, {}
    for backend in BACKENDS:
        got = ours_isolated(backend)
        seconds, again = got["seconds"], got["again"]
        rates[f"(b) longdoc ingest [{backend}]"] = got["tokens"] / seconds
        reingest[backend] = seconds / again
        rss[backend] = got["rss_mib"]
        print(
            f"  (b) {backend}: {seconds:.1f}s, unchanged re-ingest {again:.2f}s, "
            f"peak RSS {got['rss_mib']:,.0f} MiB",
            flush=True,
        )
    r = index.retrieval
    c, n = llama_pipeline(doc.text, r.chunk_size, r.chunk_overlap)  # type: ignore[union-attr]
    rates["(c) llama-index IngestionPipeline"] = n / c
    print(f"  (c) {c:.1f}s", flush=True)
    print("\nembedding tokens per second")
    for name, rate in rates.items():
        print(f"  {name:<40} {rate:>9,.0f}")
    ra, rc = rates["(a) raw SentenceTransformer.encode"], rates["(c) llama-index IngestionPipeline"]
    for backend in BACKENDS:
        rb = rates[f"(b) longdoc ingest [{backend}]"]
        print(
            f"  [{backend}] (b)/(a) = {rb / ra:.2f}   (b)/(c) = {rb / rc:.2f}   "
            f"re-ingest unchanged: {reingest[backend]:.0f}x faster   "
            f"peak RSS {rss[backend]:,.0f} MiB (target < 2,048)"
        )
    print(f"  (c)/(a) = {rc / ra:.2f}")
    print(f"peak RSS of this process (all three pipelines): {peak_rss_mib():,.0f} MiB")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--rss-of":
        workers = _watch_workers()
        s, c, _t, _ = zero_longdoc(Path(sys.argv[2]), "rss")
        got = {"seconds": s, "chunks": c, "rss_mib": peak_rss_mib(), "workers_mib": workers}
        print(json.dumps(got))
        sys.exit(0)
    if len(sys.argv) == 3 and sys.argv[1] == "--ours":
        book = require_data("books/moby_dick.txt") / "books" / "moby_dick.txt"
        seconds, tokens, again = ours(Path(book), sys.argv[2])
        print(
            json.dumps(
                {"seconds": seconds, "tokens": tokens, "again": again, "rss_mib": peak_rss_mib()}
            )
        )
        sys.exit(0)
    sys.exit(main())
