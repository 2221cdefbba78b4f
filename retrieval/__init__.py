"""Loading, chunking, embedding, the shared Chroma index and search."""

__all__: list[str] = []
