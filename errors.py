"""The exception hierarchy of longdoc.

Every error the framework raises derives from :class:`LongdocError`, and every
error carries the data a caller needs to act on it (the numbers that did not
fit, the raw text that did not parse, the setting that was invalid) as
attributes, not only in its message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "ConfigError",
    "ContextWindowError",
    "GatewayError",
    "LocalServerError",
    "LongdocError",
    "ModelCallError",
    "StructuredOutputError",
]


class LongdocError(Exception):
    """Root of every error raised by longdoc.

    Args:
        message: what went wrong, for people.
        **data: the facts behind it, kept as attributes for programs.
    """

    def __init__(self, message: str = "", **data: Any) -> None:
        for name, value in data.items():
            setattr(self, name, value)
        super().__init__(message)


class ConfigError(LongdocError):
    """A setting is invalid.

    Attributes:
        problems: ``(setting name, message)`` pairs, one per invalid setting.
    """

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        lines = "\n".join(f"  {name}: {msg}" for name, msg in problems)
        super().__init__(f"invalid longdoc settings:\n{lines}", problems=list(problems))


class GatewayError(LongdocError):
    """Base class for errors raised by the LLM gateway."""


class ContextWindowError(GatewayError):
    """A prompt plus its requested output cannot fit the model's context window.

    Raised before anything is sent.

    Attributes:
        prompt_tokens: tokens in the prompt, counted by the gateway.
        max_output_tokens: tokens requested for the answer.
        context_window: the model's context window in tokens.
        stage: the ledger stage of the call.
    """

    def __init__(
        self, prompt_tokens: int, max_output_tokens: int, context_window: int, stage: str
    ) -> None:
        super().__init__(
            f"prompt of {prompt_tokens} tokens + {max_output_tokens} output tokens = "
            f"{prompt_tokens + max_output_tokens} exceeds the context window of "
            f"{context_window} tokens (stage {stage!r}); shorten the prompt or lower max_tokens",
            prompt_tokens=prompt_tokens,
            max_output_tokens=max_output_tokens,
            context_window=context_window,
            stage=stage,
        )


class ModelCallError(GatewayError):
    """A model call failed after all retries, or with an error that is not retried.

    Attributes:
        model: the litellm model string that was called.
        stage: the ledger stage of the call.
        attempts: how many requests were sent.
        status_code: the last HTTP status, when there was one.
    """

    def __init__(
        self, message: str, *, model: str, stage: str, attempts: int, status_code: int | None
    ) -> None:
        super().__init__(
            f"call to {model!r} (stage {stage!r}) failed after {attempts} attempt(s)"
            f"{f' with HTTP {status_code}' if status_code else ''}: {message}",
            model=model,
            stage=stage,
            attempts=attempts,
            status_code=status_code,
        )


class StructuredOutputError(GatewayError):
    """The model's answer did not validate against the requested schema, even after repair.

    Attributes:
        schema_name: name of the pydantic model that was asked for.
        raw_text: the model's last answer, verbatim.
        validation_error: the last validation message.
    """

    def __init__(self, schema_name: str, raw_text: str, validation_error: str) -> None:
        preview = raw_text if len(raw_text) <= 300 else raw_text[:300] + "..."
        super().__init__(
            f"model output is not a valid {schema_name} after one repair attempt: "
            f"{validation_error}\nraw output: {preview!r}",
            schema_name=schema_name,
            raw_text=raw_text,
            validation_error=validation_error,
        )


class LocalServerError(GatewayError):
    """The embedded llama.cpp server could not be started or is misconfigured.

    Attributes:
        gguf: the model file that was to be served, when known.
    """

    def __init__(self, message: str, gguf: str | None = None) -> None:
        super().__init__(message, gguf=gguf)
