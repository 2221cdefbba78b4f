"""Hierarchical memory: a compact running summary plus a vector store of episodes."""

__all__: list[str] = []
