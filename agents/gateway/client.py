"""The LLM gateway: the one door through which every agent and workflow reaches a model.

Async first (``acomplete``, ``astructured``, ``acount_messages``), with sync
wrappers for scripts (``complete``, ``structured``, ``count_messages``) that run
on a private event loop thread, so they also work inside Jupyter.

What every call gets:

* the model resolved from settings: ``local`` starts the embedded llama.cpp
  server once per process; ``hosted_vllm/<name>`` goes to ``api_base``; any
  other litellm string passes through untouched;
* a window check before sending (:class:`~longdoc.errors.ContextWindowError`);
* one concurrency bound per gateway (``max_concurrency`` requests in flight,
  whichever event loops and threads the calls come from);
* an explicit timeout and tenacity retries with jittered exponential backoff on
  timeouts, connection errors, 429 (honouring ``Retry-After``), 5xx, a 200 whose
  body is cut short, and an empty reply (or one cut off by the length limit where
  a whole one is required): at most ``retries`` retries and ``retry_budget_seconds``
  of waiting; an unusable reply never leaves the gateway, so it is never cached;
* the persistent response cache at temperature 0, and the usage ledger;
* for ``local``, decoding parameters that keep the small embedded model from
  looping (``local_repeat_penalty``, ``local_dry_multiplier``), sent per call.

Only transport and model errors become :class:`~longdoc.errors.ModelCallError`;
a programming error (a ``TypeError`` from a bad parameter...) propagates as itself.
litellm's process-wide settings stay the user's: ``drop_params`` goes per call.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from pydantic import BaseModel
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from longdoc._portal import Portal
from longdoc.agents.gateway._litellm import litellm
from longdoc.agents.gateway.backend import BackendReply, ModelBackend
from longdoc.agents.gateway.bound import ConcurrencyBound
from longdoc.agents.gateway.cache import ResponseCache, cache_key
from longdoc.agents.gateway.endpoint import Endpoint, _resolve_endpoint
from longdoc.agents.gateway.ledger import Ledger, Usage
from longdoc.agents.gateway.replicas import ReplicaPool, replica_of_error
from longdoc.agents.gateway.retry import (
    BackoffBudget,
    IncompleteReply,
    RetryWait,
    connection_failure,
    is_timeout,
    is_transient,
    programming_error_in,
    status_code_of,
)
from longdoc.agents.gateway.structured import (
    ParseFailure,
    parse_model,
    repair_messages,
    response_format,
    with_schema,
)
from longdoc.agents.gateway.types import Completion, Messages, as_messages
from longdoc.config import Settings, load_settings
from longdoc.errors import (
    ContextWindowError,
    IncompleteReplyError,
    ModelCallError,
    ModelConnectionError,
    ReplicasUnreachableError,
    StructuredOutputError,
    TruncatedOutputError,
)

__all__ = ["Gateway", "local_decoding"]

T = TypeVar("T", bound=BaseModel)

_log = logging.getLogger(__name__)


R = TypeVar("R")


def local_decoding(settings: Settings) -> dict[str, float]:
    """The llama.cpp sampling parameters sent with every call to the ``local`` model.

    Greedy decoding makes the small embedded model loop (see ``local_repeat_penalty``
    in :class:`~longdoc.config.Settings` for the measurement); llama.cpp's server
    reads these from the body of an OpenAI chat request.
    """
    return {
        "repeat_penalty": settings.local_repeat_penalty,
        "dry_multiplier": settings.local_dry_multiplier,
    }


def _unusable(text: str, finish_reason: str | None, require_complete: bool) -> bool:
    """Whether a reply is no answer: empty, or cut short by the length limit where that matters."""
    return not text.strip() or (require_complete and finish_reason == "length")


_CUT = "the reply was cut off by the length limit before it ended; answer shorter"


def _parse_whole(reply: Completion, model: type[T]) -> T:
    """Validate a structured reply; one cut off by the length limit is refused unread."""
    if reply.finish_reason == "length":
        raise ParseFailure(_CUT)
    return parse_model(reply.text, model)


class Gateway:
    """One client for every model call of a process or workflow.

    Args:
        settings: validated settings; None reads them from the environment.
        cache: override ``settings.cache`` for this gateway.
        backend: answer calls in-process instead of over HTTP (tests, benchmarks);
            ``settings.model`` is then ignored.

    Example:
        >>> gw = Gateway()
        >>> gw.complete("Name a colour.", max_tokens=8).text  # doctest: +SKIP
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        cache: bool | None = None,
        backend: ModelBackend | None = None,
    ) -> None:
        self.settings = settings or load_settings()
        self._backend = backend
        self.ledger = Ledger()
        self._cache_on = self.settings.cache if cache is None else cache
        self._cache: ResponseCache | None = None
        self._endpoint: Endpoint | None = None
        self._endpoint_lock = threading.Lock()
        self._replicas: ReplicaPool | None = None  # built on first use with several replicas
        # One bound for every loop and thread that calls this gateway (see bound.py); the
        # per-replica limit is the pool's, inside it.
        self._bound = ConcurrencyBound(self.settings.max_concurrency)
        self._portal: Portal | None = None
        self._portal_lock = threading.Lock()
        # Replaceable so tests can record backoff waits instead of sleeping.
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    # --- resolution -------------------------------------------------------------------
    @property
    def endpoint(self) -> Endpoint:
        """The resolved endpoint (starts the embedded server on first use)."""
        with self._endpoint_lock:
            if self._endpoint is None and self._backend is not None:
                b = self._backend
                self._endpoint = Endpoint(b.model_id, None, None, b.model_id, b, b)
            elif self._endpoint is None:
                self._endpoint = _resolve_endpoint(self.settings)
            return self._endpoint

    @property
    def context_window(self) -> int:
        """The model's context window in tokens."""
        return self.settings.context_window

    @property
    def cache(self) -> ResponseCache | None:
        """The response cache, or None when caching is off."""
        if self._cache_on and self._cache is None:
            self._cache = ResponseCache.for_settings(self.settings)
        return self._cache if self._cache_on else None

    def usage(self) -> Usage:
        """A snapshot of the usage ledger."""
        return self.ledger.snapshot()

    # --- token counting ---------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        """Tokens in ``text`` by the model's tokenizer (see :mod:`longdoc.agents.tokens`)."""
        return self.endpoint.counter.count(text)

    def count_messages(self, messages: Messages) -> int:
        """Tokens of a chat prompt, chat template included."""
        return self.endpoint.counter.count_messages(messages)

    async def acount_tokens(self, text: str) -> int:
        """Async :meth:`count_tokens` (the HTTP call runs off the event loop)."""
        return await asyncio.to_thread(self.count_tokens, text)

    async def acount_messages(self, messages: Messages) -> int:
        """Async :meth:`count_messages`."""
        return await asyncio.to_thread(self.count_messages, messages)

    # --- completion ---------------------------------------------------------------------
    async def acomplete(
        self,
        prompt: str | Messages,
        *,
        system: str | None = None,
        stage: str = "default",
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: list[str] | None = None,
        cache: bool | None = None,
        prompt_tokens_at_most: int | None = None,
        require_complete: bool = False,
        cache_cut: bool = True,
        **params: Any,
    ) -> Completion:
        """Complete a prompt or chat.

        Args:
            prompt: a user prompt or a list of chat messages.
            system: a system message, with a string prompt only.
            stage: the ledger label (e.g. ``"worker"``).
            max_tokens: output cap; default ``settings.max_output_tokens``.
            temperature: default ``settings.temperature``.
            stop: stop sequences.
            cache: override the cache for this call; only temperature 0 is cached.
            prompt_tokens_at_most: an upper bound on the prompt's tokens that the caller
                has already proven (e.g. a part split to an exact budget). When it shows
                the call fits, the gateway skips counting the prompt itself: on a served
                model that count is an HTTP round trip per call.
            require_complete: a reply cut off by the length limit (``finish_reason``
                "length") is retried like a failure, not returned (structured output
                sets it). An empty reply is retried always.
            cache_cut: store a reply cut off by the length limit in the cache; structured
                calls do not (a cut reply is repaired, never an answer: replayed from the
                cache it would fail the same way without asking the model again).
            **params: other OpenAI parameters (``response_format``, ``seed``...).

        Returns:
            The completion.

        Raises:
            ContextWindowError: the prompt plus ``max_tokens`` cannot fit; nothing sent.
            ModelCallError: the call failed after retries or with a non-retried error;
                :class:`~longdoc.errors.ModelConnectionError` when nothing answered at
                the URL, :class:`~longdoc.errors.IncompleteReplyError` when every reply
                was empty (or cut off, with ``require_complete``).
        """
        messages = as_messages(prompt, system)
        endpoint = self._endpoint or await self._aendpoint()
        max_tokens = max_tokens or self.settings.max_output_tokens
        temperature = self.settings.temperature if temperature is None else temperature
        prompt_tokens: int | None = None
        bound = prompt_tokens_at_most
        if bound is None or bound + max_tokens > self.context_window:
            prompt_tokens = await self.acount_messages(messages)
            if prompt_tokens + max_tokens > self.context_window:
                raise ContextWindowError(prompt_tokens, max_tokens, self.context_window, stage)
        call = {"max_tokens": max_tokens, "temperature": temperature, **params}
        if stop:
            call["stop"] = stop
        if self.settings.is_local and endpoint.backend is None:
            # In ``call``, so the cache key holds them: a temperature-0 call stays cached.
            call["extra_body"] = {**local_decoding(self.settings), **call.get("extra_body", {})}
        use_cache = (self._cache_on if cache is None else cache) and temperature == 0
        key = cache_key(endpoint.model_id, messages, call) if use_cache else None
        store = self.cache if use_cache else None
        if store is not None and key is not None:
            hit = await asyncio.to_thread(store.get, key)
            # An unusable reply stored before it was refused (an older version) is no answer.
            if hit is not None and _unusable(hit.text, hit.finish_reason, require_complete):
                hit = None
            if hit is not None:
                self.ledger.record_call(
                    stage,
                    prompt_tokens=0,
                    completion_tokens=0,
                    seconds=0.0,
                    requests=0,
                    cached=True,
                )
                return hit.model_copy(update={"cached": True, "attempts": 0})
        completion = await self._send(
            endpoint,
            messages,
            call,
            stage,
            prompt_tokens,
            require_complete=require_complete,
            prompt_bound=prompt_tokens or prompt_tokens_at_most,
        )
        keep = cache_cut or completion.finish_reason != "length"
        if store is not None and key is not None and keep:
            await asyncio.to_thread(store.put, key, completion)
        return completion

    async def _aendpoint(self) -> Endpoint:
        # The first resolution may start the local server: keep it off the event loop.
        return await asyncio.to_thread(lambda: self.endpoint)

    async def _send(
        self,
        endpoint: Endpoint,
        messages: Messages,
        call: dict[str, Any],
        stage: str,
        counted_prompt_tokens: int | None,
        *,
        require_complete: bool = False,
        prompt_bound: int | None = None,
    ) -> Completion:
        """Send with bounded concurrency and retries; record the ledger."""
        started = time.perf_counter()
        attempts = 0
        unreachable: set[str] = set()  # replicas this call could not connect to
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.settings.retries + 1)
            | BackoffBudget(self.settings.retry_budget_seconds),
            wait=RetryWait(initial=0.5, maximum=self.settings.retry_max_wait),
            retry=retry_if_exception(is_transient),
            before_sleep=self._log_retry(endpoint, stage, messages, prompt_bound),
            reraise=True,
            sleep=self._sleep,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    # The slot is held per attempt, not across backoff waits.
                    async with self._bound:
                        reply = await self._attempt(endpoint, messages, call, unreachable)
                    if _unusable(reply.text, reply.finish_reason, require_complete):
                        raise IncompleteReply(reply.finish_reason, reply.text)
        except Exception as e:
            seconds = time.perf_counter() - started
            self.ledger.record_failure(stage, requests=attempts, seconds=seconds)
            bug = programming_error_in(e)
            if bug is e:
                raise
            if bug is not None:  # litellm's wrapper around it adds nothing
                raise bug from None
            raise self._failure(e, endpoint, stage, attempts, unreachable) from e
        seconds = time.perf_counter() - started
        prompt_tokens = reply.prompt_tokens or counted_prompt_tokens
        if not prompt_tokens:  # a server that reports no usage, and a call not counted before
            prompt_tokens = await self.acount_messages(messages)
        completion_tokens = reply.completion_tokens
        self.ledger.record_call(
            stage,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            seconds=seconds,
            requests=attempts,
            cached=False,
        )
        return Completion(
            text=reply.text,
            model=endpoint.litellm_model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            finish_reason=reply.finish_reason,
            attempts=attempts,
            seconds=seconds,
        )

    def _failure(
        self, e: Exception, endpoint: Endpoint, stage: str, attempts: int, unreachable: set[str]
    ) -> ModelCallError:
        """The typed error of a call that failed on the wire or at the model.

        ``unreachable`` holds the replicas this call could not connect to: when they and
        the replicas cooling down are all of them, the error names every replica.
        """
        model = endpoint.litellm_model
        if isinstance(e, IncompleteReply):
            return IncompleteReplyError(
                e.finish_reason, e.text, model=model, stage=stage, attempts=attempts
            )
        reason = connection_failure(e)
        if reason is not None and endpoint.replicas and self._replicas is not None:
            down = unreachable | self._replicas.cooling()
            if down.issuperset(endpoint.replicas):
                return ReplicasUnreachableError(
                    endpoint.replicas, reason, model=model, stage=stage, attempts=attempts
                )
        if reason is not None:
            url = replica_of_error(e) or endpoint.api_base or model
            return ModelConnectionError(url, reason, model=model, stage=stage, attempts=attempts)
        return ModelCallError(
            str(e).strip() or type(e).__name__,
            model=model,
            stage=stage,
            attempts=attempts,
            status_code=status_code_of(e),
        )

    def _log_retry(
        self, endpoint: Endpoint, stage: str, messages: Messages, prompt_bound: int | None
    ) -> Callable[[RetryCallState], Awaitable[None]]:
        """Tenacity's before_sleep: say what is retried, and what a timed-out resend costs."""

        async def log(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            if error is None:
                return
            wait = state.upcoming_sleep
            if is_timeout(error):
                tokens = prompt_bound or await self.acount_messages(messages)
                _log.warning(
                    "%s (stage %r) timed out after %.1f s; retry %d in %.1f s resends a prompt "
                    "of %d tokens",
                    endpoint.litellm_model,
                    stage,
                    self.settings.request_timeout,
                    state.attempt_number,
                    wait,
                    tokens,
                )
            else:
                _log.info(
                    "%s (stage %r) failed (%s); retry %d in %.1f s",
                    endpoint.litellm_model,
                    stage,
                    str(error).strip().splitlines()[0][:200] if str(error).strip() else "",
                    state.attempt_number,
                    wait,
                )

        return log

    async def _attempt(
        self,
        endpoint: Endpoint,
        messages: Messages,
        call: dict[str, Any],
        unreachable: set[str],
    ) -> BackendReply:
        """One request; with several replicas, on a free slot of one, counted against it.

        Waiting for a replica's slot is no attempt: it is not retried nor timed out.
        """
        if not endpoint.replicas:
            return await self._request(endpoint, messages, call)
        async with self._replica_pool(endpoint).slot() as url:
            try:
                reply = await self._request(endpoint, messages, call, replica=url)
            except Exception as e:
                self.ledger.record_replica(url, failed=True)
                if connection_failure(e) is not None:
                    unreachable.add(url)
                raise
        self.ledger.record_replica(url, failed=False)
        return reply

    def _replica_pool(self, endpoint: Endpoint) -> ReplicaPool:
        with self._endpoint_lock:
            if self._replicas is None:
                self._replicas = ReplicaPool(endpoint, self.settings)
            return self._replicas

    async def _request(
        self,
        endpoint: Endpoint,
        messages: Messages,
        call: dict[str, Any],
        replica: str | None = None,
    ) -> BackendReply:
        """One request: to the in-process backend, or over HTTP through litellm.

        With several replicas the request goes through litellm's Router, to the
        deployment ``replica`` (its id is its URL), so the Router benches it if it fails.
        """
        if endpoint.backend is not None:
            return await endpoint.backend.acomplete(messages, call)
        common: dict[str, Any] = {
            "messages": messages,
            "timeout": self.settings.request_timeout,
            "num_retries": 0,  # tenacity retries, not litellm
            "max_retries": 0,  # nor the openai client underneath
            "drop_params": True,  # a provider that lacks a parameter ignores it, not fails
            **call,
        }
        if replica is not None:
            router = self._replica_pool(endpoint).router
            response = await router.acompletion(model=replica, **common)
        else:
            response = await litellm().acompletion(
                model=endpoint.litellm_model,
                api_base=endpoint.api_base,
                api_key=endpoint.api_key,
                **common,
            )
        choice = response.choices[0]
        usage = getattr(response, "usage", None)
        return BackendReply(
            text=choice.message.content or "",
            prompt_tokens=getattr(usage, "prompt_tokens", None) or 0,
            completion_tokens=getattr(usage, "completion_tokens", None) or 0,
            finish_reason=getattr(choice, "finish_reason", None) or "stop",
            replica=replica,
        )

    # --- structured output -------------------------------------------------------------
    def _server_side_schema(self) -> bool:
        mode = self.settings.structured_mode
        if mode == "auto":
            return self.settings.is_local or self.settings.model.startswith("hosted_vllm/")
        return mode == "json_schema"

    async def astructured(
        self,
        prompt: str | Messages,
        response_model: type[T],
        *,
        system: str | None = None,
        stage: str = "default",
        **kwargs: Any,
    ) -> T:
        """Ask for a pydantic model and return a validated instance.

        The schema goes into the system message, and, for servers that support
        it (vLLM, llama.cpp), also into ``response_format`` so decoding is
        constrained. An answer that does not validate gets one repair call
        showing the model its answer and the error; so does one cut off by the
        length limit (never parsed: a cut object may still validate, without what
        was cut; not retried as it is: a model cuts the same answer the same way).
        An empty reply is retried (see :meth:`acomplete`).

        Raises:
            StructuredOutputError: still invalid after the repair, with the raw text;
                :class:`~longdoc.errors.TruncatedOutputError` (with ``finish_reason``)
                when the repair was cut off too.
        """
        messages = with_schema(as_messages(prompt, system), response_model)
        if self._server_side_schema():
            kwargs.setdefault("response_format", response_format(response_model))
        first = await self.acomplete(messages, stage=stage, cache_cut=False, **kwargs)
        try:
            return _parse_whole(first, response_model)
        except ParseFailure as e:
            retry_messages = repair_messages(messages, first.text, str(e))
        second = await self.acomplete(
            retry_messages, stage=f"{stage}:repair", cache_cut=False, **kwargs
        )
        try:
            return _parse_whole(second, response_model)
        except ParseFailure as e:
            name = response_model.__name__
            if second.finish_reason == "length":
                raise TruncatedOutputError(name, second.text, str(e)) from e
            raise StructuredOutputError(name, second.text, str(e)) from e

    # --- sync wrappers ------------------------------------------------------------------
    def _run(self, coro: Coroutine[Any, Any, R]) -> R:
        with self._portal_lock:
            if self._portal is None:
                self._portal = Portal("longdoc-gateway")
            portal = self._portal
        return portal.run(coro)

    def run_sync(self, coro: Coroutine[Any, Any, R]) -> R:
        """Run a coroutine to completion on the gateway's private event loop.

        Used by the sync wrappers of workflows; safe to call from code that is
        itself inside a running event loop (e.g. Jupyter).
        """
        return self._run(coro)

    def complete(self, prompt: str | Messages, **kwargs: Any) -> Completion:
        """Sync :meth:`acomplete`."""
        return self._run(self.acomplete(prompt, **kwargs))

    def structured(self, prompt: str | Messages, response_model: type[T], **kwargs: Any) -> T:
        """Sync :meth:`astructured`."""
        return self._run(self.astructured(prompt, response_model, **kwargs))

    # --- lifecycle ----------------------------------------------------------------------
    def close(self) -> None:
        """Release the cache and the sync loop (the embedded server stays for the process)."""
        if self._portal is not None:
            self._portal.close()
            self._portal = None
        if self._cache is not None:
            self._cache.close()
            self._cache = None

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Gateway:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
