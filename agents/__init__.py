"""The LLM gateway, prompts and agent roles.

Names resolve lazily so that ``import longdoc.agents`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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


def __getattr__(name: str) -> Any:
    """Resolve a public name on first access (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'longdoc.agents' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
