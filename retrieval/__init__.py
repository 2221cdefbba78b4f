"""Loading, chunking and splitting, embedding, the shared Chroma index and search.

Names are exported lazily so ``import longdoc.retrieval`` loads neither torch
nor chromadb::

    from longdoc.retrieval import Index
    index = Index()                       # collection "documents" under the data dir
    index.ingest(["docs/"], prune=True)
    passages = index.retrieve("who is Captain Wentworth?", budget=2000)
    hits = await index.asearch("Captain Wentworth", 5)   # every method has an async twin
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
    "Scope",
    "SearchHit",
    "Searcher",
    "SourceNotFoundError",
    "Store",
    "approx_tokens",
    "get_embedder",
    "load_file",
    "longest_prefix",
    "pack",
    "reciprocal_rank_fusion",
    "scan",
    "split_to_budget",
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
    "Scope": "search",
    "SearchHit": "models",
    "Searcher": "search",
    "SourceNotFoundError": ".errors",
    "Store": "store",
    "approx_tokens": "packing",
    "get_embedder": "embedding",
    "load_file": "loading",
    "longest_prefix": "splitting",
    "pack": "packing",
    "reciprocal_rank_fusion": "packing",
    "scan": "loading",
    "split_to_budget": "splitting",
}


__getattr__, __dir__ = lazy_exports(__name__, {k: f".{v}" for k, v in _WHERE.items()}, globals())
