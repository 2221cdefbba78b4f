"""Which model errors are retried, and how long to wait before the next attempt."""

from __future__ import annotations

import email.utils
import sys
import time
from typing import Any

from tenacity import RetryCallState, wait_exponential_jitter

from longdoc.agents.gateway._litellm import litellm

__all__ = ["RetryWait", "is_transient", "retry_after_seconds", "status_code_of"]


def status_code_of(error: BaseException) -> int | None:
    """The HTTP status carried by a litellm/openai error, if any."""
    status = getattr(error, "status_code", None)
    return status if isinstance(status, int) else None


def is_transient(error: BaseException) -> bool:
    """Whether a failed call is worth repeating.

    Retried: timeouts, connection errors, 408, 429 and 5xx. Not retried: other
    4xx (bad input, auth, unknown model, context overflow), which would fail
    the same way again.
    """
    status = status_code_of(error)
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
