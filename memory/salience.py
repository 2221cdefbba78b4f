"""Salience and forgetting (HEMA): w = λ·exp(−γ·age) + β·[retrieved within the last R items].

Age is counted in items, not seconds, so a session paused for a week does not
forget anything by the clock; only new items age the old ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["SalienceRule", "prune_victims"]


@dataclass(frozen=True)
class SalienceRule:
    """The salience formula's parameters.

    Attributes:
        lam: weight of recency (λ).
        gamma: decay per item of age (γ).
        beta: bonus for a recent retrieval (β).
        window: R, in items: a retrieval this recent earns the bonus.
    """

    lam: float = 1.0
    gamma: float = 0.01
    beta: float = 0.5
    window: int = 100

    def weight(self, ordinal: int, last_retrieved: int | None, now: int) -> float:
        """Salience of the episode at ``ordinal`` when the session holds ``now`` items."""
        age = max(0, now - 1 - ordinal)
        w = self.lam * math.exp(-self.gamma * age)
        if last_retrieved is not None and now - last_retrieved <= self.window:
            w += self.beta
        return w


def prune_victims(
    rows: Sequence[tuple[int, int | None, str]],
    rule: SalienceRule,
    now: int,
    fraction: float,
    protect_tail: int,
    protect_roles: frozenset[str] = frozenset(),
) -> list[int]:
    """Ordinals to prune: the lowest-salience ``fraction`` of the episodes.

    Args:
        rows: ``(ordinal, last_retrieved, role)`` of every stored episode.
        rule: the salience formula.
        now: items in the session so far.
        fraction: share of the stored episodes to remove (rounded down, at least
            one once there are any candidates and the fraction is positive).
        protect_tail: episodes with ``ordinal >= now - protect_tail`` are never pruned.
        protect_roles: roles never pruned (``document`` while reading).

    Returns:
        The ordinals to remove, lowest salience first; ties go to the oldest.
    """
    if fraction <= 0 or not rows:
        return []
    count = max(1, int(len(rows) * fraction))
    candidates = [
        (rule.weight(o, last, now), o)
        for o, last, role in rows
        if o < now - protect_tail and role not in protect_roles
    ]
    candidates.sort()
    return [o for _, o in candidates[:count]]
