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
    "RetrievalError": ".errors",
    "SourceNotFoundError": ".errors",
    "DocumentNotFoundError": ".errors",
    "DocumentsNotFoundError": ".errors",
    "EmbeddingModelMismatchError": ".errors",
    "IndexBackendError": ".errors",
    "ReasonerOutputError": ".errors",
    "BudgetError": ".errors",
    "EmptyDocumentError": ".errors",
    "CandidateOffsetError": ".errors",
    "MemorySessionError": ".errors",
    "StrategyOptionError": ".errors",
    "MissingExtraError": ".errors",
    "BatchInputError": ".errors",
    "CodeMapError": ".errors",
    "UnknownLanguageError": ".errors",
    "ask": ".api",
    "aask": ".api",
    "astream_ask": ".api",
    "aroute": ".api",
    "ask_many": ".api",
    "aask_many": ".api",
    "astream_many": ".api",
    "BatchItem": ".workflows.batch",
    "BatchItemResult": ".workflows.batch",
    "BatchError": ".workflows.batch",
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
    "code_map": ".api",
    "acode_map": ".api",
    "astream_code_map": ".api",
    "CodeMap": ".workflows.codemap",
    "CodeMapResult": ".workflows.codemap",
    "LongWriter": ".workflows.writing",
    "WritingResult": ".workflows.writing",
    "SectionMemory": ".workflows.writing",
    "RetrieveThenReason": ".workflows.reason",
    "Citation": ".workflows.reason",
    "asummarize": ".api",
    "AskResult": ".workflows.results",
    "AutoResult": ".workflows.results",
    "Route": ".workflows.results",
    "AutoOptions": ".workflows.options",
    "ChainResult": ".workflows.results",
    "ReasonResult": ".workflows.results",
    "RagResult": ".workflows.results",
    "VanillaResult": ".workflows.results",
    "StrategyOptions": ".workflows.options",
    "ChainOptions": ".workflows.options",
    "ReasonOptions": ".workflows.options",
    "RagOptions": ".workflows.options",
    "VanillaOptions": ".workflows.options",
    "DocumentText": ".workflows.sources",
    "from_path": ".workflows.sources",
    "from_text": ".workflows.sources",
}

__all__ = [
    "AskResult",
    "AutoOptions",
    "AutoResult",
    "BatchError",
    "BatchInputError",
    "BatchItem",
    "BatchItemResult",
    "BudgetError",
    "CandidateOffsetError",
    "ChainOfAgents",
    "ChainOptions",
    "ChainResult",
    "Citation",
    "CodeMap",
    "CodeMapError",
    "CodeMapResult",
    "Completion",
    "ConfigError",
    "ContextWindowError",
    "DocumentNotFoundError",
    "DocumentText",
    "DocumentsNotFoundError",
    "EmbeddingModelMismatchError",
    "EmptyDocumentError",
    "Gateway",
    "GatewayError",
    "HierarchicalMemory",
    "IndexBackendError",
    "LocalServerError",
    "LongWriter",
    "LongdocError",
    "MemoryChat",
    "MemorySessionError",
    "MissingExtraError",
    "ModelCallError",
    "ProgressEvent",
    "RagOptions",
    "RagResult",
    "ReasonOptions",
    "ReasonResult",
    "ReasonerOutputError",
    "RetrievalError",
    "RetrieveThenReason",
    "Route",
    "ScriptedModel",
    "SectionMemory",
    "Settings",
    "SourceNotFoundError",
    "StageUsage",
    "StrategyOptionError",
    "StrategyOptions",
    "StrategyResult",
    "StructuredOutputError",
    "UnknownLanguageError",
    "Usage",
    "VanillaOptions",
    "VanillaResult",
    "WritingResult",
    "__version__",
    "aask",
    "aask_many",
    "acode_map",
    "aroute",
    "ask",
    "ask_many",
    "astream_ask",
    "astream_code_map",
    "astream_many",
    "astream_write",
    "asummarize",
    "awrite",
    "code_map",
    "from_path",
    "from_text",
    "load_settings",
    "open_memory",
    "summarize",
    "write",
]

if TYPE_CHECKING:
    from longdoc.agents.gateway import Gateway
    from longdoc.agents.gateway.ledger import StageUsage, Usage
    from longdoc.agents.gateway.types import Completion
    from longdoc.api import (
        aask,
        aask_many,
        acode_map,
        aroute,
        ask,
        ask_many,
        astream_ask,
        astream_code_map,
        astream_many,
        astream_write,
        asummarize,
        awrite,
        code_map,
        summarize,
        write,
    )
    from longdoc.config import Settings, load_settings
    from longdoc.errors import (
        BatchInputError,
        BudgetError,
        CandidateOffsetError,
        CodeMapError,
        ConfigError,
        ContextWindowError,
        DocumentNotFoundError,
        DocumentsNotFoundError,
        EmbeddingModelMismatchError,
        EmptyDocumentError,
        GatewayError,
        IndexBackendError,
        LocalServerError,
        LongdocError,
        MemorySessionError,
        MissingExtraError,
        ModelCallError,
        ReasonerOutputError,
        RetrievalError,
        SourceNotFoundError,
        StrategyOptionError,
        StructuredOutputError,
        UnknownLanguageError,
    )
    from longdoc.memory.hierarchical import HierarchicalMemory
    from longdoc.testing.scripted import ScriptedModel
    from longdoc.workflows.base import ProgressEvent
    from longdoc.workflows.batch import BatchError, BatchItem, BatchItemResult
    from longdoc.workflows.chain.graph import ChainOfAgents
    from longdoc.workflows.chat.session import MemoryChat
    from longdoc.workflows.chat.turn import open_memory
    from longdoc.workflows.codemap.graph import CodeMap
    from longdoc.workflows.codemap.result import CodeMapResult
    from longdoc.workflows.options import (
        AutoOptions,
        ChainOptions,
        RagOptions,
        ReasonOptions,
        StrategyOptions,
        VanillaOptions,
    )
    from longdoc.workflows.reason.graph import RetrieveThenReason
    from longdoc.workflows.reason.verify import Citation
    from longdoc.workflows.results import (
        AskResult,
        AutoResult,
        ChainResult,
        RagResult,
        ReasonResult,
        Route,
        StrategyResult,
        VanillaResult,
    )
    from longdoc.workflows.sources import DocumentText, from_path, from_text
    from longdoc.workflows.writing.graph import LongWriter
    from longdoc.workflows.writing.memory import SectionMemory
    from longdoc.workflows.writing.result import WritingResult


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
