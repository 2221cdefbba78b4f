"""longdoc: LLMs over documents far longer than their context window.

Importing ``longdoc`` is cheap: the public names below resolve on first use,
so torch, chromadb and litellm load only when a feature needs them.

Example:
    >>> import longdoc
    >>> gw = longdoc.Gateway()            # the embedded model by default
    >>> gw.complete("Say hello").text      # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from longdoc._lazy import lazy_exports

__version__ = "0.1.0"

# public name -> module that defines it (relative to this package)
_LAZY: dict[str, str] = {
    "Settings": ".config",
    "load_settings": ".config",
    "Gateway": ".agents.gateway",
    "Completion": ".agents.gateway.types",
    "Usage": ".agents.gateway.ledger",
    "StageUsage": ".agents.gateway.ledger",
    "LongdocError": ".errors",
    "ConfigError": ".errors",
    "GatewayError": ".errors",
    "ContextWindowError": ".errors",
    "ModelCallError": ".errors",
    "StructuredOutputError": ".errors",
    "LocalServerError": ".errors",
    "ask": ".api",
    "aask": ".api",
    "astream_ask": ".api",
    "summarize": ".api",
    "ChainOfAgents": ".workflows.chain",
    "StrategyResult": ".workflows.results",
    "ProgressEvent": ".workflows.base",
    "ScriptedModel": ".testing",
    "HierarchicalMemory": ".memory.hierarchical",
    "MemoryChat": ".workflows.chat",
    "open_memory": ".workflows.chat",
    "write": ".api",
    "awrite": ".api",
    "astream_write": ".api",
    "LongWriter": ".workflows.writing",
    "WritingResult": ".workflows.writing",
    "SectionMemory": ".workflows.writing",
    "RetrieveThenReason": ".workflows.reason",
    "Citation": ".workflows.reason",
}

__all__ = [
    "ChainOfAgents",
    "Citation",
    "Completion",
    "ConfigError",
    "ContextWindowError",
    "Gateway",
    "GatewayError",
    "HierarchicalMemory",
    "LocalServerError",
    "LongWriter",
    "LongdocError",
    "MemoryChat",
    "ModelCallError",
    "ProgressEvent",
    "RetrieveThenReason",
    "ScriptedModel",
    "SectionMemory",
    "Settings",
    "StageUsage",
    "StrategyResult",
    "StructuredOutputError",
    "Usage",
    "WritingResult",
    "__version__",
    "aask",
    "ask",
    "astream_ask",
    "astream_write",
    "awrite",
    "load_settings",
    "open_memory",
    "summarize",
    "write",
]

if TYPE_CHECKING:
    from longdoc.agents.gateway import Gateway
    from longdoc.agents.gateway.ledger import StageUsage, Usage
    from longdoc.agents.gateway.types import Completion
    from longdoc.api import aask, ask, astream_ask, astream_write, awrite, summarize, write
    from longdoc.config import Settings, load_settings
    from longdoc.errors import (
        ConfigError,
        ContextWindowError,
        GatewayError,
        LocalServerError,
        LongdocError,
        ModelCallError,
        StructuredOutputError,
    )
    from longdoc.memory.hierarchical import HierarchicalMemory
    from longdoc.testing.scripted import ScriptedModel
    from longdoc.workflows.base import ProgressEvent
    from longdoc.workflows.chain.graph import ChainOfAgents
    from longdoc.workflows.chat.session import MemoryChat
    from longdoc.workflows.chat.turn import open_memory
    from longdoc.workflows.reason.graph import RetrieveThenReason
    from longdoc.workflows.reason.verify import Citation
    from longdoc.workflows.results import StrategyResult
    from longdoc.workflows.writing.graph import LongWriter
    from longdoc.workflows.writing.memory import SectionMemory
    from longdoc.workflows.writing.result import WritingResult


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
