"""Which errors are model errors, which of them are retried, and how long to wait between."""

from __future__ import annotations

import email.utils
import json
import os
import sys
import time
from typing import Any

from tenacity import RetryCallState, wait_exponential_jitter
from tenacity.stop import stop_base

from longdoc.agents.gateway._litellm import litellm

__all__ = [
    "BackoffBudget",
    "IncompleteReply",
    "RetryWait",
    "connection_failure",
    "is_model_error",
    "is_timeout",
    "is_transient",
    "programming_error_in",
    "retry_after_seconds",
    "status_code_of",
]


class IncompleteReply(Exception):
    """A well-formed 200 whose reply is unusable: empty, or cut off when a whole one was asked.

    Raised inside the gateway's retry loop only, so that it is retried like any other
    transient failure; it never leaves the gateway (see ``IncompleteReplyError``).

    Attributes:
        finish_reason: the server's ``finish_reason`` ("stop", "length", ...).
        text: what the reply held.
    """

    def __init__(self, finish_reason: str, text: str) -> None:
        self.finish_reason = finish_reason
        self.text = text
        what = "empty" if not text.strip() else "cut off by the length limit"
        super().__init__(f"the reply was {what} (finish_reason {finish_reason!r})")


def status_code_of(error: BaseException) -> int | None:
    """The HTTP status carried by a litellm/openai error, if any."""
    status = getattr(error, "status_code", None)
    return status if isinstance(status, int) else None


def _is_litellm_wrapper(error: BaseException) -> bool:
    # litellm maps every exception raised inside its call to its own types, bugs
    # included (a TypeError arrives as InternalServerError, HTTP 500); its own
    # classes, and its providers' internal errors, live under the litellm package.
    return type(error).__module__.split(".", 1)[0] == "litellm"


def _is_transport_error(error: BaseException) -> bool:
    """Errors of the wire or the server: openai/httpx/aiohttp errors, timeouts, OS errors."""
    if isinstance(error, (TimeoutError, OSError, IncompleteReply)):  # ConnectionError: OSError
        return True
    if isinstance(error, json.JSONDecodeError):  # a reply body cut short: the wire's fault
        return True
    if status_code_of(error) is not None:  # a backend's error that carries an HTTP status
        return True
    libraries = (("openai", "OpenAIError"), ("httpx", "HTTPError"), ("aiohttp", "ClientError"))
    for module, name in libraries:
        lib = sys.modules.get(module)  # not imported: none of its errors can exist
        if lib is not None and isinstance(error, getattr(lib, name)):
            return True
    return False


def programming_error_in(error: BaseException) -> BaseException | None:
    """The bug under ``error``, or None when it is a transport or model error.

    Looks under litellm's wrappers (through ``__cause__`` and ``__context__``) for the
    first exception that is not litellm's own: a transport error there (or none at
    all, a litellm error made from a server's answer) means a model error; anything
    else (a ``TypeError`` from a bad parameter...) is a programming error.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and _is_litellm_wrapper(current) and id(current) not in seen:
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    if current is None or id(current) in seen or _is_transport_error(current):
        return None
    return current


def is_model_error(error: BaseException) -> bool:
    """Whether a failed call is the model's or the wire's (wrapped as ``ModelCallError``)."""
    return programming_error_in(error) is None


def is_transient(error: BaseException) -> bool:
    """Whether a failed call is worth repeating.

    Retried: timeouts, connection errors, 408, 429, 5xx, a 200 whose body does not
    parse, and an empty or cut reply (:class:`IncompleteReply`). Not retried: other
    4xx (bad input, auth, unknown model, context overflow), which would fail
    the same way again.
    """
    if isinstance(error, IncompleteReply):
        return True
    if not is_model_error(error):  # a bug fails the same way every time
        return False
    status = status_code_of(error)
    if status == 200:  # an error made of a 200: its body could not be read (cut short)
        return True
    if "litellm" not in sys.modules:  # not a litellm error, and no need to import it to know
        return status is not None and (status >= 500 or status in (408, 429))
    lit = litellm()
    transient = (
        lit.Timeout,
        lit.APIConnectionError,
        lit.RateLimitError,
        lit.InternalServerError,
        lit.ServiceUnavailableError,
    )
    if isinstance(error, lit.BadRequestError):  # includes context-window errors
        return False
    if isinstance(error, transient):
        return True
    return status is not None and (status >= 500 or status in (408, 429))


def _chain(error: BaseException) -> list[BaseException]:
    """``error`` and what it was raised from (``__cause__``, else ``__context__``)."""
    found: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not seen for seen in found):
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def connection_failure(error: BaseException) -> str | None:
    """Why no connection could be made (e.g. "Connection refused"), or None for other errors.

    A reset or a timeout of an open connection is not one: only a connection that was
    never established (refused, unknown host), as httpx and aiohttp report it.
    """
    connect_errors: list[type[BaseException]] = [ConnectionRefusedError]
    for module, name in (("httpx", "ConnectError"), ("aiohttp", "ClientConnectorError")):
        lib = sys.modules.get(module)
        if lib is not None:
            connect_errors.append(getattr(lib, name))
    chain = _chain(error)
    if not any(isinstance(e, tuple(connect_errors)) for e in chain):
        return None
    os_errors = [e for e in chain if isinstance(e, OSError) and (e.errno or e.strerror)]
    if not os_errors:
        return "connection failed"
    last = os_errors[-1]  # the innermost: the system's own words, by errno where it has one
    return os.strerror(last.errno) if last.errno and last.errno > 0 else str(last.strerror)


def is_timeout(error: BaseException) -> bool:
    """Whether the request timed out (the server may still be working on it)."""
    if status_code_of(error) == 408:
        return True
    return any(isinstance(e, TimeoutError) or "Timeout" in type(e).__name__ for e in _chain(error))


class BackoffBudget(stop_base):
    """tenacity stop: give up when the next wait would take the waits past ``seconds``.

    The retry count bounds how often a call is sent; this bounds how long it waits
    between sends (``Retry-After`` included), whichever comes first.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __call__(self, retry_state: RetryCallState) -> bool:
        """True when the call should not be retried."""
        return retry_state.idle_for + retry_state.upcoming_sleep > self.seconds


def _headers_of(error: BaseException) -> Any:
    headers = getattr(error, "litellm_response_headers", None)
    if headers is None:
        response = getattr(error, "response", None)
        headers = getattr(response, "headers", None)
    return headers


def retry_after_seconds(error: BaseException) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta or HTTP date), if any."""
    headers = _headers_of(error)
    if not headers:
        return None
    value = headers.get("retry-after") or headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class RetryWait:
    """tenacity wait strategy: honour ``Retry-After``, else exponential backoff with jitter.

    Args:
        initial: first backoff in seconds.
        maximum: cap on any single wait, ``Retry-After`` included.
    """

    def __init__(self, initial: float, maximum: float) -> None:
        self.maximum = maximum
        self._backoff = wait_exponential_jitter(multiplier=initial, max=maximum, jitter=initial)

    def __call__(self, state: RetryCallState) -> float:
        """Seconds to wait before the next attempt."""
        error = state.outcome.exception() if state.outcome else None
        asked = retry_after_seconds(error) if error is not None else None
        if asked is not None:
            return min(asked, self.maximum)
        return float(self._backoff(state))
