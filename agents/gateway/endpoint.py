"""Where calls go: the model, base URL, key and token counter resolved from settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from longdoc.agents.gateway.backend import Counter, ModelBackend
from longdoc.agents.gateway.tokens import TokenCounter
from longdoc.config import Settings

__all__ = ["Endpoint"]


@dataclass(frozen=True)
class Endpoint:
    """Where and how calls go, resolved once per gateway.

    Attributes:
        litellm_model: the model string handed to litellm.
        api_base: the OpenAI-compatible base URL, or None for hosted providers.
        api_key: the key sent, or None.
        model_id: identity of the weights, used in cache keys.
        counter: the token counter for this model.
        backend: an in-process backend that replaces the HTTP call, if any.
        replicas: every replica's base URL when there are several (calls then go
            through litellm's Router); empty for one server.
    """

    litellm_model: str
    api_base: str | None
    api_key: str | None
    model_id: str
    counter: Counter
    backend: ModelBackend | None = None
    replicas: tuple[str, ...] = ()


def _resolve_endpoint(settings: Settings) -> Endpoint:
    key = settings.api_key.get_secret_value() if settings.api_key else None
    timeout = min(settings.request_timeout, 30.0)
    if settings.is_local:
        from longdoc.agents.gateway.local import get_local_server

        server = get_local_server(
            settings.gguf,
            slots=settings.max_concurrency,
            slot_context=settings.context_window,
            threads=settings.local_threads,
            data_dir=settings.data_dir,
        )
        model = f"openai/{server.alias}"
        counter = TokenCounter(model, server.address, kind="llamacpp", timeout=timeout)
        return Endpoint(model, server.api_base, key or "sk-local", server.model_id, counter)
    model = settings.model
    bases = settings.api_bases
    base = bases[0] if bases else None
    if base is None:
        return Endpoint(model, None, key, model, TokenCounter(model))
    root = base[: -len("/v1")] if base.endswith("/v1") else base
    served_name = model.split("/", 1)[1] if "/" in model else model
    kind: Literal["vllm"] | None = "vllm" if model.startswith("hosted_vllm/") else None
    counter = TokenCounter(model, root, server_model=served_name, kind=kind, timeout=timeout)
    # Keys for OpenAI-compatible servers that need none: litellm's openai client insists.
    if len(bases) == 1:
        return Endpoint(model, base, key or "sk-none", f"{model}@{base}", counter)
    # Replicas serve one model: one cache identity for all; tokens are counted on the
    # first (its tokenizer is theirs; when it is down the counter falls back, with a warning).
    model_id = f"{model}@{','.join(sorted(bases))}"
    return Endpoint(model, base, key or "sk-none", model_id, counter, replicas=bases)
