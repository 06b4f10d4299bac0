"""Where the listener's weights go for one trigger: a pure function of what the function read.

The allocation rule itself (`spread`) and the precomputed allocations per trigger come from
`rollout_rules.rollback`; this adds what only the running function knows: the live weights and
the held ledger.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rollout_rules.rollback import spread


@dataclass(frozen=True)
class Decision:
    """Where the listener's weights go for one trigger."""

    after: dict[str, int]
    zeroed: tuple[str, ...]
    note: str


def decide(
    planned: Mapping[str, int],
    tier: str | None,
    live: Mapping[str, int],
    ledger: Mapping[str, Any] | None,
) -> Decision:
    """Combine the precomputed allocation with what has already been rolled back.

    A tier at 0 on the listener or in the held ledger stays at 0, and the failing tier goes to 0:
    so concurrent or successive triggers converge whatever their order, and a failing tier's
    weight is never raised. When no tier with traffic remains, the weights stay as they are.
    """
    zero = {t for t, w in live.items() if w == 0}
    if ledger and ledger.get("held") and isinstance(ledger.get("allocation"), dict):
        zero |= {t for t, w in ledger["allocation"].items() if w == 0 and t in live}
    if tier is not None:
        zero.add(tier)
    target = {t: int(planned.get(t, 0)) for t in live}
    moved = spread(target, frozenset(zero))
    zeroed = tuple(t for t in live if t in zero)
    if moved is None:
        return Decision(
            after=dict(live),
            zeroed=zeroed,
            note="no other tier has traffic to take over: weights unchanged, rollout held",
        )
    if moved == dict(live):
        return Decision(after=moved, zeroed=zeroed, note="the listener already has these weights")
    return Decision(after=moved, zeroed=zeroed, note="traffic moved off the failing tier(s)")
