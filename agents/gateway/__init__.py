"""The gateway: the one door to models.

Endpoint resolution, the embedded server, cache, retry, ledger, structured output and
token counting.

Names resolve lazily so that importing the gateway does not load litellm.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from longdoc._lazy import lazy_exports

# public name -> module that defines it
_LAZY: dict[str, str] = {
    "BackendReply": ".backend",
    "Completion": ".types",
    "Counter": ".backend",
    "Endpoint": ".endpoint",
    "Gateway": ".client",
    "Ledger": ".ledger",
    "LocalServer": ".local",
    "Message": ".types",
    "Messages": ".types",
    "ModelBackend": ".backend",
    "ResponseCache": ".cache",
    "StageUsage": ".ledger",
    "TokenCounter": ".tokens",
    "Usage": ".ledger",
    "default_gguf": ".local",
    "quiet_litellm": "._litellm",
}

__all__ = [
    "BackendReply",
    "Completion",
    "Counter",
    "Endpoint",
    "Gateway",
    "Ledger",
    "LocalServer",
    "Message",
    "Messages",
    "ModelBackend",
    "ResponseCache",
    "StageUsage",
    "TokenCounter",
    "Usage",
    "default_gguf",
    "quiet_litellm",
]

if TYPE_CHECKING:
    from longdoc.agents.gateway._litellm import quiet_litellm
    from longdoc.agents.gateway.backend import BackendReply, Counter, ModelBackend
    from longdoc.agents.gateway.cache import ResponseCache
    from longdoc.agents.gateway.client import Gateway
    from longdoc.agents.gateway.endpoint import Endpoint
    from longdoc.agents.gateway.ledger import Ledger, StageUsage, Usage
    from longdoc.agents.gateway.local import LocalServer, default_gguf
    from longdoc.agents.gateway.tokens import TokenCounter
    from longdoc.agents.gateway.types import Completion, Message, Messages


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
