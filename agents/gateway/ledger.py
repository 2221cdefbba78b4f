"""The usage ledger: calls, tokens, retries and seconds per stage label; requests per replica."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Ledger", "ReplicaUsage", "StageUsage", "Usage"]


class StageUsage(BaseModel):
    """What one stage (e.g. ``"worker"``, ``"manager"``) consumed.

    ``calls`` counts answered calls, cached ones included; ``cached_calls`` how
    many of them the cache answered; ``requests`` the HTTP requests actually sent
    (retries included); ``failures`` calls that ended in an error.
    """

    model_config = ConfigDict(validate_assignment=False)

    calls: int = 0
    cached_calls: int = 0
    requests: int = 0
    retries: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def add(self, other: StageUsage) -> None:
        """Add another stage's counts into this one."""
        for name in type(self).model_fields:
            setattr(self, name, getattr(self, name) + getattr(other, name))


class ReplicaUsage(BaseModel):
    """What one replica (a base URL of ``api_base``, when it lists several) was sent.

    ``requests`` counts every request sent to it, retries included; ``failures`` those
    that failed on the wire or at the server (each is retried on another replica).
    """

    requests: int = 0
    failures: int = 0


class Usage(BaseModel):
    """A snapshot of the ledger: totals, per-stage figures, and requests per replica.

    ``replicas`` is empty with one server (or a hosted provider).
    """

    total: StageUsage = Field(default_factory=StageUsage)
    stages: dict[str, StageUsage] = Field(default_factory=dict)
    replicas: dict[str, ReplicaUsage] = Field(default_factory=dict)

    def replicas_line(self) -> str | None:
        """One line for a usage printout ("replicas: <url> 5 requests (1 failed), ..."), or None."""
        if not self.replicas:
            return None
        parts = [
            f"{url} {r.requests} requests" + (f" ({r.failures} failed)" if r.failures else "")
            for url, r in sorted(self.replicas.items())
        ]
        return "replicas: " + ", ".join(parts)

    def __add__(self, other: Usage) -> Usage:
        """Two runs' usage summed, stage by stage and replica by replica."""
        stages = {name: s.model_copy() for name, s in self.stages.items()}
        for name, s in other.stages.items():
            stages.setdefault(name, StageUsage()).add(s)
        replicas = {url: r.model_copy() for url, r in self.replicas.items()}
        for url, r in other.replicas.items():
            mine = replicas.setdefault(url, ReplicaUsage())
            mine.requests, mine.failures = mine.requests + r.requests, mine.failures + r.failures
        return Usage.from_stages(stages, replicas)

    def __sub__(self, earlier: Usage) -> Usage:
        """What was consumed between ``earlier`` and this snapshot."""
        stages: dict[str, StageUsage] = {}
        for name, now in self.stages.items():
            before = earlier.stages.get(name, StageUsage())
            diff = StageUsage(
                **{f: getattr(now, f) - getattr(before, f) for f in StageUsage.model_fields}
            )
            if diff.calls or diff.requests or diff.failures:
                stages[name] = diff
        replicas: dict[str, ReplicaUsage] = {}
        for url, now_r in self.replicas.items():
            before_r = earlier.replicas.get(url, ReplicaUsage())
            requests = now_r.requests - before_r.requests
            if requests:
                replicas[url] = ReplicaUsage(
                    requests=requests, failures=now_r.failures - before_r.failures
                )
        return Usage.from_stages(stages, replicas)

    @classmethod
    def from_stages(
        cls, stages: dict[str, StageUsage], replicas: dict[str, ReplicaUsage] | None = None
    ) -> Usage:
        """Build a snapshot, computing the total from the stages."""
        total = StageUsage()
        for s in stages.values():
            total.add(s)
        return cls(total=total, stages=stages, replicas=replicas or {})


# The usage scopes open in this context, innermost last: (ledger, the scope's own ledger).
# A context variable, so that concurrent asyncio tasks (a batch's items) each see theirs.
_SCOPES: ContextVar[tuple[tuple[Ledger, Ledger], ...]] = ContextVar(
    "longdoc_usage_scopes", default=()
)


class Ledger:
    """Thread-safe accumulator of usage per stage; one per gateway.

    :meth:`scope` gives one task (a batch item) a view of only its own calls while
    other tasks use the same gateway.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stages: dict[str, StageUsage] = {}
        self._replicas: dict[str, ReplicaUsage] = {}

    @contextmanager
    def scope(self) -> Iterator[Ledger]:
        """Within it, calls made in this context are counted apart as well.

        Inside the scope, :meth:`snapshot` reports only the scope's calls, so a
        workflow's usage (a difference of snapshots) is that task's own; outside it,
        the gateway's totals are unchanged.
        """
        own = Ledger()
        token = _SCOPES.set((*_SCOPES.get(), (self, own)))
        try:
            yield own
        finally:
            _SCOPES.reset(token)

    def _ledgers(self) -> list[Ledger]:
        return [self, *(own for owner, own in _SCOPES.get() if owner is self)]

    @contextmanager
    def _stage(self, stage: str) -> Iterator[StageUsage]:
        with self._lock:
            yield self._stages.setdefault(stage, StageUsage())

    def record_call(
        self,
        stage: str,
        *,
        prompt_tokens: int,
        completion_tokens: int,
        seconds: float,
        requests: int,
        cached: bool,
    ) -> None:
        """Record one answered call (in every usage scope open in this context too)."""
        for ledger in self._ledgers():
            with ledger._stage(stage) as s:
                s.calls += 1
                s.cached_calls += int(cached)
                s.requests += requests
                s.retries += max(0, requests - 1)
                s.prompt_tokens += prompt_tokens
                s.completion_tokens += completion_tokens
                s.seconds += seconds

    def record_failure(self, stage: str, *, requests: int, seconds: float) -> None:
        """Record a call that ended in an error (in every open usage scope too)."""
        for ledger in self._ledgers():
            with ledger._stage(stage) as s:
                s.failures += 1
                s.requests += requests
                s.retries += max(0, requests - 1)
                s.seconds += seconds

    def record_replica(self, replica: str, *, failed: bool) -> None:
        """Record one request sent to a replica (in every open usage scope too)."""
        for ledger in self._ledgers():
            with ledger._lock:
                r = ledger._replicas.setdefault(replica, ReplicaUsage())
                r.requests += 1
                r.failures += int(failed)

    def snapshot(self) -> Usage:
        """A copy of the figures so far (of the innermost usage scope, inside one)."""
        ledger = self._ledgers()[-1]
        with ledger._lock:
            stages = {k: v.model_copy() for k, v in ledger._stages.items()}
            replicas = {k: v.model_copy() for k, v in ledger._replicas.items()}
        return Usage.from_stages(stages, replicas)
