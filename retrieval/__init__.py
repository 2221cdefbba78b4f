"""Loading, chunking, embedding, the shared Chroma index and search.

Names are exported lazily so ``import longdoc.retrieval`` loads neither torch
nor chromadb::

    from longdoc.retrieval import Index
    index = Index()                       # collection "documents" under the data dir
    index.ingest(["docs/"], prune=True)
    passages = index.retrieve("who is Captain Wentworth?", budget=2000)
"""

from __future__ import annotations

from longdoc._lazy import lazy_exports

__all__ = [
    "Bm25Index",
    "Chunk",
    "Chunker",
    "DocumentInfo",
    "DocumentNotFoundError",
    "EmbeddingModelMismatchError",
    "Index",
    "IndexBackendError",
    "IngestEvent",
    "IngestReport",
    "LoadIssue",
    "LoadedDocument",
    "Passage",
    "Record",
    "RetrievalError",
    "SearchHit",
    "SourceNotFoundError",
    "Store",
    "approx_tokens",
    "get_embedder",
    "load_file",
    "pack",
    "reciprocal_rank_fusion",
    "scan",
]

_WHERE = {
    "Bm25Index": "lexical",
    "Chunk": "models",
    "Chunker": "chunking",
    "DocumentInfo": "models",
    "DocumentNotFoundError": ".errors",
    "EmbeddingModelMismatchError": ".errors",
    "Index": "index",
    "IndexBackendError": ".errors",
    "IngestEvent": "models",
    "IngestReport": "models",
    "LoadIssue": "models",
    "LoadedDocument": "models",
    "Passage": "models",
    "Record": "models",
    "RetrievalError": ".errors",
    "SearchHit": "models",
    "SourceNotFoundError": ".errors",
    "Store": "store",
    "approx_tokens": "packing",
    "get_embedder": "embedding",
    "load_file": "loading",
    "pack": "packing",
    "reciprocal_rank_fusion": "packing",
    "scan": "loading",
}


__getattr__, __dir__ = lazy_exports(__name__, {k: f".{v}" for k, v in _WHERE.items()}, globals())
