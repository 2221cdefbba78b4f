"""The gateway to models and each method's roles (prompts and role calls together).

* ``gateway/``: the one door to models.
* ``chain``, ``reason``, ``writing``, ``memory``, ``baselines``: one module per method's roles.
* ``delimiters``: the rule that keeps document data inside its tags.

Names resolve lazily so that ``import longdoc.agents`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from longdoc._lazy import lazy_exports

# public name -> module that defines it
_LAZY: dict[str, str] = {
    "Completion": ".gateway.types",
    "Endpoint": ".gateway.endpoint",
    "Gateway": ".gateway.client",
    "Ledger": ".gateway.ledger",
    "LocalServer": ".gateway.local",
    "Message": ".gateway.types",
    "Messages": ".gateway.types",
    "ResponseCache": ".gateway.cache",
    "StageUsage": ".gateway.ledger",
    "TokenCounter": ".gateway.tokens",
    "Usage": ".gateway.ledger",
    "default_gguf": ".gateway.local",
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
    "StageUsage",
    "TokenCounter",
    "Usage",
    "default_gguf",
]

if TYPE_CHECKING:
    from longdoc.agents.gateway import Gateway
    from longdoc.agents.gateway.cache import ResponseCache
    from longdoc.agents.gateway.endpoint import Endpoint
    from longdoc.agents.gateway.ledger import Ledger, StageUsage, Usage
    from longdoc.agents.gateway.local import LocalServer, default_gguf
    from longdoc.agents.gateway.tokens import TokenCounter
    from longdoc.agents.gateway.types import Completion, Message, Messages


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
