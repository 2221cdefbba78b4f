"""Memory chat: turns answered from a hierarchical memory, and documents read into it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from longdoc._lazy import lazy_exports

# public name -> module that defines it
_LAZY: dict[str, str] = {
    "ChatReply": ".turn",
    "MemoryChat": ".session",
    "ReadReport": ".read",
    "Sitting": ".session",
    "build_read_graph": ".read",
    "build_turn_graph": ".turn",
    "open_memory": ".turn",
}

__all__ = [
    "ChatReply",
    "MemoryChat",
    "ReadReport",
    "Sitting",
    "build_read_graph",
    "build_turn_graph",
    "open_memory",
]

if TYPE_CHECKING:
    from longdoc.workflows.chat.read import ReadReport, build_read_graph
    from longdoc.workflows.chat.session import MemoryChat, Sitting
    from longdoc.workflows.chat.turn import ChatReply, build_turn_graph, open_memory


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
