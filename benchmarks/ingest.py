"""Ingest throughput on Moby Dick: raw encode vs our ingest vs llama-index's pipeline.

Prints embedding tokens per second for
  (a) raw ``SentenceTransformer.encode`` (torch) of our chunks,
  (b) our ``Index.ingest`` with the torch backend and with the int8 ONNX backend,
  (c) llama-index's ``IngestionPipeline`` (SentenceSplitter with the same chunk size
      and tokenizer, ``HuggingFaceEmbedding`` of the same model, ``ChromaVectorStore``),
then the ratios, the unchanged re-ingest speed-up and the peak RSS of our ingest
(each backend in a process of its own, so the figure is ours alone). A codebase row
follows: our ingest (torch) of ../shared/data/code/requests and of cobra + express, in
files and chunks per second.

Run: ``.venv/bin/python benchmarks/ingest.py [--codebase-only]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from _common import SHARED_DATA, peak_rss_mib, require_data, temp_settings

BATCH = 64
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codebase-only", action="store_true", help="only the codebase row")
    if not parser.parse_args().codebase_only:
        if (SHARED_DATA / "books" / "moby_dick.txt").exists():
            moby()
        else:  # the codebase row may still run
            print(f"Moby Dick rows skipped: {SHARED_DATA / 'books' / 'moby_dick.txt'} not found")
    codebase_rows()
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
    for backend in ("torch", "onnx-int8"):
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
    for backend in ("torch", "onnx-int8"):
        rb = rates[f"(b) longdoc ingest [{backend}]"]
        print(
            f"  [{backend}] (b)/(a) = {rb / ra:.2f}   (b)/(c) = {rb / rc:.2f}   "
            f"re-ingest unchanged: {reingest[backend]:.0f}x faster   "
            f"peak RSS {rss[backend]:,.0f} MiB (target < 2,048)"
        )
    print(f"  (c)/(a) = {rc / ra:.2f}")
    print(f"peak RSS of this process (all three pipelines): {peak_rss_mib():,.0f} MiB")


if __name__ == "__main__":
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
