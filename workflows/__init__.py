"""LangGraph workflows composing agents, memory and retrieval."""

__all__: list[str] = []
