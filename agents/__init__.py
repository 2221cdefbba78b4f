"""The LLM gateway, prompts and agent roles.

Names resolve lazily so that ``import longdoc.agents`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from longdoc._lazy import lazy_exports

_LAZY: dict[str, str] = {
    "Gateway": ".gateway",
    "Endpoint": ".gateway",
    "Completion": ".types",
    "Message": ".types",
    "Messages": ".types",
    "Ledger": ".ledger",
    "Usage": ".ledger",
    "StageUsage": ".ledger",
    "ResponseCache": ".cache",
    "ScriptedModel": ".scripted",
    "TokenCounter": ".tokens",
    "LocalServer": ".local_server",
    "default_gguf": ".local_server",
}

__all__ = [
    "Completion",
    "Endpoint",
    "Gateway",
    "Ledger",
    "LocalServer",
    "Message",
    "Messages",
    "ResponseCache",
    "ScriptedModel",
    "StageUsage",
    "TokenCounter",
    "Usage",
    "default_gguf",
]

if TYPE_CHECKING:
    from longdoc.agents.cache import ResponseCache
    from longdoc.agents.gateway import Endpoint, Gateway
    from longdoc.agents.ledger import Ledger, StageUsage, Usage
    from longdoc.agents.local_server import LocalServer, default_gguf
    from longdoc.agents.scripted import ScriptedModel
    from longdoc.agents.tokens import TokenCounter
    from longdoc.agents.types import Completion, Message, Messages


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
