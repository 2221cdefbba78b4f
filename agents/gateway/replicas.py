"""Several replicas of one model behind litellm's Router, under the gateway's own retries.

The gateway picks the replica of each request itself (:class:`ReplicaPool`): among
the replicas with a free slot (at most ``replica_max_parallel`` requests in flight on
each; a request past that waits for a slot, it is neither refused nor retried),
preferring those not cooling down, by ``routing_strategy`` (``simple-shuffle``: at
random; ``least-busy``: fewest in flight). The request then goes through litellm's
Router to that deployment, so the Router still benches a replica that failed for
``replica_cooldown_seconds``. The Router retries nothing itself: a failed request
surfaces to the gateway's retry loop (which keeps its backoff, budget, ledger and
cache), and that loop's next attempt goes to another replica, the failed one cooling.
"""

from __future__ import annotations

import random
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from longdoc.agents.gateway._litellm import litellm
from longdoc.agents.gateway.bound import ConcurrencyBound
from longdoc.agents.gateway.endpoint import Endpoint
from longdoc.config import Settings

__all__ = ["ROUTE", "ReplicaPool", "make_router", "replica_of_error", "replica_of_response"]

# The one model group every replica belongs to (the name is ours; no server sees it).
ROUTE = "longdoc-replicas"


def make_router(endpoint: Endpoint, settings: Settings) -> Any:
    """A litellm ``Router`` over the endpoint's replicas, each identified by its base URL.

    No ``max_parallel_requests`` is given: litellm refuses (and benches the replica for)
    a request past that limit; :class:`ReplicaPool` makes it wait instead.

    Args:
        endpoint: the resolved endpoint; ``endpoint.replicas`` holds two or more URLs.
        settings: routing strategy and cooldown.

    Returns:
        The router (typed ``Any``: litellm ships no stubs for it).
    """
    deployments = []
    for base in endpoint.replicas:
        params: dict[str, Any] = {
            "model": endpoint.litellm_model,
            "api_base": base,
            "api_key": endpoint.api_key,
        }
        # The deployment id is the URL: a request is sent to it by ``model=<url>``, and a
        # failure names its replica (failed_deployment_id).
        deployments.append(
            {"model_name": ROUTE, "litellm_params": params, "model_info": {"id": base}}
        )
    return litellm().Router(
        model_list=deployments,
        routing_strategy=settings.routing_strategy,
        num_retries=0,  # the gateway retries (tenacity), not the Router
        retry_after=0,
        # One failure benches a replica: the gateway's retry must not land on it again.
        allowed_fails=0,
        cooldown_time=settings.replica_cooldown_seconds,
        timeout=settings.request_timeout,
    )


class ReplicaPool:
    """The replicas of one gateway: who has a free slot, who is cooling down, and the Router.

    Hand-written selection because the Router's own pick cannot be limited to replicas
    with a free slot: over its limit it refuses a request where we must queue it.

    Args:
        endpoint: the resolved endpoint; ``endpoint.replicas`` holds two or more URLs.
        settings: ``routing_strategy``, ``replica_max_parallel`` (0: no limit) and cooldown.
    """

    def __init__(self, endpoint: Endpoint, settings: Settings) -> None:
        self.urls = endpoint.replicas
        self.router = make_router(endpoint, settings)
        self.strategy = settings.routing_strategy
        self.limit = settings.replica_max_parallel
        # Holders of this bound are the requests in flight on all replicas together: one
        # that gets in is sure to find a replica with a free slot (FIFO, across loops).
        self._bound = ConcurrencyBound(self.limit * len(self.urls)) if self.limit else None
        self._lock = threading.Lock()
        self._in_flight = dict.fromkeys(self.urls, 0)
        self._random = random.Random()

    def in_flight(self) -> dict[str, int]:
        """Requests in flight now, per replica URL."""
        with self._lock:
            return dict(self._in_flight)

    def cooling(self) -> set[str]:
        """The replicas the Router has benched after a failure, until their cooldown ends."""
        active = self.router.health().cooldowns.get_active_cooldowns(
            model_ids=list(self.urls), parent_otel_span=None
        )
        return {str(model_id) for model_id, _ in active}

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[str]:
        """Hold a slot on a replica for one request, waiting for one when all are full.

        Yields:
            The base URL (and Router deployment id) of the replica to send the request to.
        """
        if self._bound is not None:
            await self._bound.acquire()
        try:
            url = self._take(self.cooling())
            try:
                yield url
            finally:
                with self._lock:
                    self._in_flight[url] -= 1
        finally:
            if self._bound is not None:  # after the replica's slot is free again
                self._bound.release()

    def _take(self, cooling: set[str]) -> str:
        """Pick a replica with a free slot by the strategy, and count the request on it."""
        with self._lock:
            free = [u for u in self.urls if not self.limit or self._in_flight[u] < self.limit]
            # When every free replica is cooling down, one is tried anyway: the retry
            # loop's backoff, not the cooldown, decides when a call tries again.
            rested = [u for u in free if u not in cooling] or free
            if self.strategy == "least-busy":
                fewest = min(self._in_flight[u] for u in rested)
                rested = [u for u in rested if self._in_flight[u] == fewest]
            url = self._random.choice(rested)
            self._in_flight[url] += 1
            return url


def replica_of_response(response: Any) -> str | None:
    """The base URL of the replica that answered (from litellm's hidden parameters)."""
    hidden = getattr(response, "_hidden_params", None) or {}
    found = hidden.get("model_id") or hidden.get("api_base")
    return str(found) if found else None


def replica_of_error(error: BaseException) -> str | None:
    """The base URL of the replica a failed request went to, when the Router says."""
    found = getattr(error, "failed_deployment_id", None)
    return str(found) if found else None
