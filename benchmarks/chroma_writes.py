"""What one embedded Chroma write costs, by what the records carry: the ingest's floor.

An ingest's Chroma writes run one after another (one writer per collection) and hold
the GIL, so their sum bounds the ingest however fast the embedder is (on an H200 they
were 1.3-1.5 s of a 2.05 s four-book ingest, the raw encode 1.2-1.6 s). This writes
the same chunks of ``--books`` (real MiniLM vectors: random ones cost HNSW far more),
into fresh embedded collections, in the ingest's write size, once per layout:
  ids + vectors; + the filter keys; + the packed metadata; + the text (longdoc's
  layout, every byte a reader needs); the text as a Chroma document instead (its
  full-text index).
Each layout runs ``--repeats`` times, interleaved; printed: median seconds, ms per
chunk and the ratio to longdoc's layout. Measured on 2 cores (4,394 chunks, 1.36 s
in longdoc's layout): ids and vectors 0.33x, the filter keys 0.1x, the packed metadata
(395 characters a chunk) 0.3x, the text (973) 0.25x; on an H200 host 1.49 s, against
1.62 s for the raw fp16 encode of the same chunks. Tried and not worth it: a Chroma
schema leaving the packed and text keys unindexed (1.38 s vs 1.38 s), the packed value
a third shorter (1.37 s vs 1.39 s).

Run: ``python benchmarks/chroma_writes.py [--books DIR] [--chunks N] [--repeats N]
[--model DIR] [--device cuda]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED_DATA, require_data

# layout name -> (which parts of longdoc's metadata to keep, the text as a document)
LAYOUTS: dict[str, tuple[frozenset[str], bool]] = {
    "ids + vectors": (frozenset(), False),
    "+ filter keys": (frozenset({"keys"}), False),
    "+ packed metadata": (frozenset({"keys", "packed"}), False),
    "+ text (longdoc's layout)": (frozenset({"keys", "packed", "text"}), False),
    "text as a Chroma document": (frozenset({"keys", "packed"}), True),
}


def records(
    books: list[Path], limit: int, model: str, device: str
) -> tuple[list[str], list[dict[str, Any]], Any, int]:
    """Ids, encoded metadata (longdoc's layout) and vectors of the books' first chunks,
    and the ingest's write size (its setting, capped by Chroma's batch limit, as there)."""
    from longdoc.config import load_settings
    from longdoc.retrieval import Index, load_file
    from longdoc.retrieval.models import LoadedDocument
    from longdoc.retrieval.records import chunk_id, chunk_metadata, document_version

    settings = load_settings(
        data_dir=Path(tempfile.mkdtemp()), embedding_model=model, embedding_device=device
    )
    index = Index("probe", settings=settings)
    ids, metas, texts = [], [], []
    for path in books:
        doc = load_file(path)
        if not isinstance(doc, LoadedDocument):
            continue
        chunks = index.chunker.chunk(doc)
        version = document_version(doc.content_hash, index.chunker.signature)
        now = time.time()
        for c in chunks:
            meta = chunk_metadata(c, doc, doc_chunks=len(chunks), ingested_at=now, version=version)
            ids.append(chunk_id(c, version))
            metas.append(index.store._encode(meta, c.text))
            texts.append(c.embed_text)
    ids, metas, texts = ids[:limit], metas[:limit], texts[:limit]
    print(f"embedding {len(texts):,} chunks for the vectors...", flush=True)
    step = min(settings.ingest_write_chunks, index.store.max_batch)
    return ids, metas, index.store.embed(texts), step


def write_once(
    layout: str, ids: list[str], metas: list[dict[str, Any]], vectors: Any, step: int
) -> float:
    """Seconds of writing every record, ``step`` a write, to a fresh collection."""
    import chromadb

    from longdoc.retrieval.store import PACKED_KEY, TEXT_KEY

    keep, as_document = LAYOUTS[layout]
    client = chromadb.PersistentClient(path=tempfile.mkdtemp(prefix="chroma-writes-"))
    col = client.create_collection(
        "writes", configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
    )
    wanted = {PACKED_KEY: "packed" in keep, TEXT_KEY: "text" in keep}
    rows = [{k: v for k, v in m.items() if wanted.get(k, "keys" in keep)} or None for m in metas]
    seconds = 0.0
    for i in range(0, len(ids), step):
        part: dict[str, Any] = {"ids": ids[i : i + step], "embeddings": vectors[i : i + step]}
        if keep:
            part["metadatas"] = rows[i : i + step]
        if as_document:
            part["documents"] = [m[TEXT_KEY] for m in metas[i : i + step]]
        t0 = time.perf_counter()
        col.upsert(**part)
        seconds += time.perf_counter() - t0
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--books", type=Path, default=SHARED_DATA / "books")
    parser.add_argument("--chunks", type=int, default=4500, help="at most this many chunks")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default="all-MiniLM-L6-v2", help="model name or folder")
    parser.add_argument("--device", default="auto", help="where the vectors are made")
    args = parser.parse_args()
    require_data(args.books.name, root=args.books.parent)
    books = sorted(args.books.glob("*.txt"), key=lambda p: p.stat().st_size)
    ids, metas, vectors, step = records(books, args.chunks, args.model, args.device)
    times: dict[str, list[float]] = {name: [] for name in LAYOUTS}
    for _ in range(args.repeats):  # interleaved: the machine's drift hits every layout alike
        for name in LAYOUTS:
            times[name].append(write_once(name, ids, metas, vectors, step))
    base = statistics.median(times["+ text (longdoc's layout)"])
    print(f"\n{len(ids):,} chunks, one embedded Chroma collection each, writes of {step:,}")
    for name, secs in times.items():
        med = statistics.median(secs)
        print(
            f"  {name:<28}{med:>7.3f} s  {1000 * med / len(ids):>6.3f} ms/chunk  "
            f"{med / base:>5.2f}x   (min {min(secs):.3f}, max {max(secs):.3f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
