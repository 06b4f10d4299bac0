"""The rollback ledger: its schema, its parser, and the allocation it makes the program declare.

The ledger is an SSM parameter (`contract.ledger_parameter_name`) that the rollback function
writes and the program reads on every preview: while a rollback is held, the ledger's allocation
wins over the schedule's, so a re-apply never undoes a rollback.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rollout_rules.errors import LedgerError
from rollout_rules.plan import TIERS, Allocation, weights_error

__all__ = ["LEDGER_KEYS", "NOT_HELD", "EffectiveAllocation", "Ledger", "LedgerError"]


@dataclass(frozen=True)
class Ledger:
    """The rollback ledger (JSON keys: held, allocation, reason, trigger, tier, at, eventId)."""

    held: bool
    allocation: Allocation | None = None
    reason: str | None = None
    trigger: str | None = None
    tier: str | None = None
    at: str | None = None
    event_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "held": self.held,
            "allocation": None if self.allocation is None else self.allocation.as_dict(),
            "reason": self.reason,
            "trigger": self.trigger,
            "tier": self.tier,
            "at": self.at,
            "eventId": self.event_id,
        }


LEDGER_KEYS = ("held", "allocation", "reason", "trigger", "tier", "at", "eventId")

NOT_HELD: dict[str, Any] = Ledger(held=False).as_dict()
"""The ledger before any rollback: every key, not held. The component creates the parameter
with this value; the function reads a missing or unreadable parameter as this."""


def parse_ledger(text: str, source: str = "ledger") -> Ledger:
    """Validate the ledger's JSON text; LedgerError names `source`, the key and the rule."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise LedgerError(f"{source}: not JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(raw, dict):
        raise LedgerError(f"{source}: {type(raw).__name__} is not a ledger (expected an object)")
    unknown = sorted(set(raw) - set(LEDGER_KEYS))
    if unknown:
        raise LedgerError(f"{source}.{unknown[0]}: unknown key (keys: {', '.join(LEDGER_KEYS)})")
    held = raw.get("held")
    if not isinstance(held, bool):
        raise LedgerError(f"{source}.held: {held!r} is not true or false")
    for key in ("reason", "trigger", "tier", "at", "eventId"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise LedgerError(f"{source}.{key}: {raw[key]!r} is not a string")
    tier = raw.get("tier")
    if tier is not None and tier not in TIERS:
        raise LedgerError(f"{source}.tier: {tier!r} is not a tier (tiers: {', '.join(TIERS)})")
    allocation = _ledger_allocation(raw.get("allocation"), source)
    if held:
        for key in ("trigger", "at", "eventId"):
            if not raw.get(key):
                raise LedgerError(f"{source}.{key}: required while held")
        if allocation is None:
            raise LedgerError(f"{source}.allocation: required while held")
    return Ledger(
        held=held,
        allocation=allocation,
        reason=raw.get("reason"),
        trigger=raw.get("trigger"),
        tier=tier,
        at=raw.get("at"),
        event_id=raw.get("eventId"),
    )


def _ledger_allocation(value: object, source: str) -> Allocation | None:
    if value is None:
        return None
    where = f"{source}.allocation"
    if not isinstance(value, dict):
        raise LedgerError(f"{where}: {value!r} is not an object of tier weights")
    problem = weights_error(value)
    if problem is not None:
        # A per-tier problem names the tier as a key: ledger.allocation.<tier>: ...
        sep = "." if problem.split(":", 1)[0] in value else ": "
        raise LedgerError(f"{where}{sep}{problem}")
    return Allocation.from_dict(value)


@dataclass(frozen=True)
class EffectiveAllocation:
    """The allocation the listener declares, and why when it is not the schedule's."""

    allocation: Allocation
    held: bool
    message: str | None = None


def effective_allocation(
    scheduled: Allocation, ledger: Ledger | None, tiers: Iterable[str]
) -> EffectiveAllocation:
    """The held ledger's allocation while a rollback is held, else the schedule's.

    Raises LedgerError when the held allocation gives traffic to a tier that has no environment
    at this week (the week was moved back while held): neither choice would be safe to guess.
    """
    if ledger is None or not ledger.held:
        return EffectiveAllocation(scheduled, held=False)
    assert ledger.allocation is not None  # parse_ledger guarantees it while held
    present = set(tiers)
    for tier, weight in ledger.allocation.as_dict().items():
        if weight > 0 and tier not in present:
            raise LedgerError(
                f"ledger.allocation.{tier}: {weight} but tier {tier!r} has no environment this "
                f"week (resume with `rollout resume --reason ...` or set the week back)"
            )
    weights = "/".join(str(w) for w in ledger.allocation.as_dict().values())
    scheduled_weights = "/".join(str(w) for w in scheduled.as_dict().values())
    what = f"tier {ledger.tier}" if ledger.tier else "no tier"
    message = (
        f"rollback held since {ledger.at} ({ledger.trigger}, {what}: {ledger.reason or '-'}; "
        f"event {ledger.event_id}): the listener keeps sandbox/canary/production "
        f"{weights} instead of the schedule's {scheduled_weights}; "
        f"clear the hold with `rollout resume --reason ...`"
    )
    return EffectiveAllocation(ledger.allocation, held=True, message=message)
