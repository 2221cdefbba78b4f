"""Several replicas of one model behind litellm's Router, under the gateway's own retries.

The Router picks a replica per request (``simple-shuffle`` or ``least-busy``), caps
the requests in flight on each (``replica_max_parallel``) and leaves a replica that
failed out of the rotation for ``replica_cooldown_seconds``. It retries nothing
itself: a failed request surfaces to the gateway's retry loop (which keeps its
backoff, budget, ledger and cache), and that loop's next attempt goes to another
replica because the failed one is cooling down.
"""

from __future__ import annotations

from typing import Any

from longdoc.agents.gateway._litellm import litellm
from longdoc.agents.gateway.endpoint import Endpoint
from longdoc.config import Settings

__all__ = ["ROUTE", "make_router", "replica_of_error", "replica_of_response"]

# The one model group every replica belongs to (the name is ours; no server sees it).
ROUTE = "longdoc-replicas"


def make_router(endpoint: Endpoint, settings: Settings) -> Any:
    """A litellm ``Router`` over the endpoint's replicas, each identified by its base URL.

    Args:
        endpoint: the resolved endpoint; ``endpoint.replicas`` holds two or more URLs.
        settings: routing strategy, per-replica parallel limit and cooldown.

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
        if settings.replica_max_parallel:
            params["max_parallel_requests"] = settings.replica_max_parallel
        # The deployment id is the URL, so a failure names its replica (failed_deployment_id).
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


def replica_of_response(response: Any) -> str | None:
    """The base URL of the replica that answered (from litellm's hidden parameters)."""
    hidden = getattr(response, "_hidden_params", None) or {}
    found = hidden.get("model_id") or hidden.get("api_base")
    return str(found) if found else None


def replica_of_error(error: BaseException) -> str | None:
    """The base URL of the replica a failed request went to, when the Router says."""
    found = getattr(error, "failed_deployment_id", None)
    return str(found) if found else None
