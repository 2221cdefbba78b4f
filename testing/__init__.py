"""Test doubles for tests, benchmarks and users' own tests: no model, no network.

* :class:`ScriptedModel`: a deterministic in-process model behind the real gateway.
* ``fake_openai``: a real HTTP server speaking the OpenAI protocol, scripted.
* ``reader`` / ``writer``: scripted models that speak the chain's and the writer's prompts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from longdoc._lazy import lazy_exports

# public name -> module that defines it
_LAZY: dict[str, str] = {
    "ScriptedCall": ".scripted",
    "ScriptedModel": ".scripted",
    "count_word_tokens": ".scripted",
}

__all__ = [
    "ScriptedCall",
    "ScriptedModel",
    "count_word_tokens",
]

if TYPE_CHECKING:
    from longdoc.testing.scripted import ScriptedCall, ScriptedModel, count_word_tokens


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
