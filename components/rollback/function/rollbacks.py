"""Applying a trigger and resuming: the steps of a rollback, in order, against one stack.

`Rollbacks.apply` takes the lock, skips an event already applied, reads, decides, audits
(pending), moves traffic, holds the ledger, notifies people and marks the audit record applied;
`Rollbacks.resume` clears the hold. The AWS calls are the `Store`'s; the decision is `decide`'s.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from rollout_rules.plan import TIERS

from .decision import decide
from .events import Trigger
from .logs import log, now_iso
from .settings import Settings
from .store import Clients, Store


@dataclass
class Outcome:
    """What one trigger (or skipped event) led to."""

    action: str  # rolled-back | held | duplicate | ignored | resumed | not-held
    kind: str
    event_id: str | None = None
    tier: str | None = None
    before: dict[str, int] | None = None
    after: dict[str, int] | None = None
    why: str | None = None

    def as_dict(self) -> dict[str, Any]:
        keys = {"event_id": "eventId"}
        return {keys.get(k, k): v for k, v in self.__dict__.items() if v is not None}


class Rollbacks:
    """Applies triggers and resumes against one stack's listener, ledger and audit table."""

    def __init__(self, settings: Settings, clients: Clients, owner: str | None = None) -> None:
        self.settings = settings
        self.store = Store(settings, clients, owner)
        self.owner = self.store.owner

    def apply(self, trigger: Trigger) -> Outcome:
        s = self.settings
        context = {"stack": s.stack, "eventId": trigger.event_id, "kind": trigger.kind}
        with self.store.lock():
            existing = self.store.audit_get(trigger.event_id)
            if existing is not None and existing.get("status") == "applied":
                log("info", "duplicate event: already applied, no change", **context)
                if not existing.get("notified"):
                    self._notify_rollback(existing)
                return Outcome("duplicate", trigger.kind, trigger.event_id, trigger.tier)
            listener = self.store.read_listener()
            ledger = self.store.read_ledger()
            planned = s.allocation_for(trigger.tier)
            assert planned is not None  # parse_event only yields triggers with a plan
            decision = decide(planned, trigger.tier, listener.weights, ledger)
            at = now_iso()
            record: dict[str, Any] = {
                "eventId": trigger.event_id,
                "recordType": "rollback",
                "stack": s.stack,
                "week": s.week,
                "kind": trigger.kind,
                "tier": trigger.tier,
                "reason": trigger.reason,
                "detail": trigger.detail,
                "before": listener.weights,
                "after": decision.after,
                "zeroed": list(decision.zeroed),
                "note": decision.note,
                "requestId": self.owner,
                "at": at,
                "status": "pending",
                "trafficMoved": False,
                "notified": False,
            }
            self.store.audit_put(record, first=True)
            try:
                if decision.after != listener.weights:
                    self.store.move(listener, decision.after)
                    record["trafficMoved"] = True
                self.store.write_ledger(
                    {
                        "held": True,
                        "allocation": decision.after,
                        "reason": trigger.reason,
                        "trigger": trigger.kind,
                        "tier": trigger.tier,
                        "at": at,
                        "eventId": trigger.event_id,
                    }
                )
            except Exception as err:
                record.update(status="failed", error=f"{type(err).__name__}: {err}"[:1000])
                self.store.audit_put(record)
                log("error", "rollback failed; audit record kept", error=record["error"], **context)
                raise
            record["status"] = "applied"
            log(
                "info",
                "rollback applied" if record["trafficMoved"] else "rollback held, weights kept",
                tier=trigger.tier,
                before=listener.weights,
                after=decision.after,
                note=decision.note,
                **context,
            )
            self._notify_rollback(record)
        action = "rolled-back" if record["trafficMoved"] else "held"
        return Outcome(
            action,
            trigger.kind,
            trigger.event_id,
            trigger.tier,
            before=listener.weights,
            after=decision.after,
            why=decision.note,
        )

    def _notify_rollback(self, record: dict[str, Any]) -> None:
        """Tell people, then mark the audit record applied (with whether they were told)."""
        s = self.settings
        what = f"tier {record['tier']}" if record.get("tier") else "no tier"
        after = "/".join(str(record["after"].get(t, 0)) for t in TIERS)
        subject = f"[codex-rollout {s.stack}] rollback ({what}): sandbox/canary/production {after}"
        summary = (
            f"Automated rollback on stack {s.stack}: {record['reason']}.\n"
            f"{record['note']}.\nThe ledger is held; `pulumi up` keeps these weights until an "
            f"operator runs `rollout resume --reason ...`."
        )
        record["status"] = "applied"
        try:
            self.store.notify(subject, summary, record)
        except Exception as err:
            record.update(notified=False, notifyError=f"{type(err).__name__}: {err}"[:500])
            self.store.audit_put(record)
            log("error", "rollback applied but people were not notified", eventId=record["eventId"])
            raise
        record.update(notified=True)
        record.pop("notifyError", None)
        self.store.audit_put(record)

    def resume(self, reason: str, operator: str) -> Outcome:
        """Clear the hold (audited). Traffic stays; the next `pulumi up` declares the schedule."""
        s = self.settings
        event_id = f"resume:{uuid.uuid4()}"
        with self.store.lock():
            ledger = self.store.read_ledger()
            if not ledger.get("held"):
                log("info", "ledger not held: nothing to resume", stack=s.stack)
                return Outcome("not-held", "resume", why="the ledger is not held")
            at = now_iso()
            record = {
                "eventId": event_id,
                "recordType": "resume",
                "stack": s.stack,
                "week": s.week,
                "kind": "resume",
                "reason": reason,
                "detail": {"operator": operator, "released": ledger},
                "requestId": self.owner,
                "at": at,
                "status": "pending",
                "notified": False,
            }
            self.store.audit_put(record, first=True)
            self.store.write_ledger(
                {
                    "held": False,
                    "allocation": None,
                    "reason": reason,
                    "trigger": "resume",
                    "tier": None,
                    "at": at,
                    "eventId": event_id,
                }
            )
            record["status"] = "applied"
            self.store.audit_put(record)
            log("info", "hold cleared", stack=s.stack, eventId=event_id, operator=operator)
            subject = f"[codex-rollout {s.stack}] rollback hold cleared by {operator}"
            summary = (
                f"The rollback hold on stack {s.stack} was cleared by {operator}: {reason}.\n"
                f"The next `pulumi up` declares the schedule's allocation again."
            )
            self.store.notify(subject, summary, record)
            record["notified"] = True
            self.store.audit_put(record)
        return Outcome("resumed", "resume", event_id, why=reason)
