"""The usage ledger: calls, tokens, retries and seconds per stage label."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Ledger", "StageUsage", "Usage"]


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


class Usage(BaseModel):
    """A snapshot of the ledger: totals and per-stage figures."""

    total: StageUsage = Field(default_factory=StageUsage)
    stages: dict[str, StageUsage] = Field(default_factory=dict)

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
        return Usage.from_stages(stages)

    @classmethod
    def from_stages(cls, stages: dict[str, StageUsage]) -> Usage:
        """Build a snapshot, computing the total from the stages."""
        total = StageUsage()
        for s in stages.values():
            total.add(s)
        return cls(total=total, stages=stages)


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

    def snapshot(self) -> Usage:
        """A copy of the figures so far (of the innermost usage scope, inside one)."""
        ledger = self._ledgers()[-1]
        with ledger._lock:
            stages = {k: v.model_copy() for k, v in ledger._stages.items()}
        return Usage.from_stages(stages)
