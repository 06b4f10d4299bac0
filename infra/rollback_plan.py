"""Rollback decisions: where traffic goes when a trigger fires, how fast, and what the ledger says.

Pure functions over plain data, computed by the program for the stack's current week and handed
to the rollback function as `ROLLOUT_ROLLBACK_PLAN`:

- `rollback_allocations`: per tier, the allocation with that tier at 0 and its share spread over
  the other tiers in proportion to their weights (largest remainder); under `none`, the allocation
  for triggers that name no tier (security incidents, policy violations): the previous week's
  allocation (week 1: the current one, held).
- `rollback_budget`: worst-case seconds from a fault to traffic moved, per trigger, from the
  declared parameters (alarm period and evaluation periods, health checks, Prometheus and
  Alertmanager timings, function start and the API call).
- `parse_ledger` / `effective_allocation`: the ledger (an SSM parameter the function writes) and
  the allocation the program declares: while a rollback is held, the ledger's allocation wins.

The rollback function (components/rollback/handler.py) cannot import this module (it ships as a
self-contained zip); it repeats `spread` and a test keeps the two in step.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from components.rollback.handler import spread  # one rule for the program and the function
from infra.config import ConfigError, StackConfig
from infra.schedule import DEFAULT_PLAN, TIERS, Allocation, WeekPlan, week_plan

NO_TIER = "none"
"""Key of the allocation for triggers that name no tier."""
LIMIT_SECONDS = 120
"""The plan's bound: a rollback completes in under two minutes."""


# ---------------------------------------------------------------------------------------------
# allocations


def previous_week(week: int, plan: Sequence[WeekPlan] = DEFAULT_PLAN) -> Allocation:
    """The previous week's allocation; week 1 has none, so it is the current one (held).

    Taken literally, as the rollout plan states it: on a plateau (weeks 9-12 all 5/5/90) the
    previous week equals this week, so a security incident there moves no traffic; the function
    still holds the ledger (freezing the rollout) and pages people.
    """
    return week_plan(max(week - 1, 1), plan).allocation


def rollback_allocations(
    week: int, tiers: Sequence[str], plan: Sequence[WeekPlan] = DEFAULT_PLAN
) -> dict[str, Allocation]:
    """The allocation to move to for each trigger, at `week`.

    Keys: each tier that has an environment (`tiers`), and NO_TIER. When the named tier is the
    only one with traffic (weeks 1-4: sandbox 100), there is no healthy tier to move traffic to:
    the allocation stays as it is, the function still holds the ledger (which freezes the
    rollout: the program keeps declaring these weights) and pages people. Sending all traffic to
    a tier that has never served any would be worse than keeping it where it is.
    """
    current = week_plan(week, plan).allocation
    weights = current.as_dict()
    allocations: dict[str, Allocation] = {}
    for tier in tiers:
        moved = spread(weights, {tier})
        allocations[tier] = current if moved is None else Allocation.from_dict(moved)
    allocations[NO_TIER] = previous_week(week, plan)
    return allocations


# ---------------------------------------------------------------------------------------------
# budget


@dataclass(frozen=True)
class BudgetInputs:
    """The declared parameters a rollback's worst-case duration follows from (seconds)."""

    alarm_period: int = 60
    alarm_evaluation_periods: int = 1
    health_check_interval: int = 10
    health_check_unhealthy_threshold: int = 3
    prometheus_evaluation_interval: int = 15
    prometheus_rule_for: int = 60
    alertmanager_group_wait: int = 10
    # Delivery and execution allowances: SNS -> Lambda and EventBridge -> Lambda deliver within
    # seconds; a cold start of the function (python3.12, boto3 only) is under 2 s; the traffic
    # move is one ModifyListener call after a handful of reads, with throttling retries.
    sns_delivery: int = 5
    eventbridge_delivery: int = 5
    function_start: int = 5
    api_call: int = 5
    limit: int = LIMIT_SECONDS


def budget_inputs(
    config: StackConfig,
    *,
    health_check_interval: int = 10,
    health_check_unhealthy_threshold: int = 3,
    prometheus_rule_for: int = 60,
    alertmanager_group_wait: int = 10,
) -> BudgetInputs:
    """BudgetInputs from the stack config and the other components' declared values."""
    return BudgetInputs(
        alarm_period=config.rollback.alarm_period_seconds,
        alarm_evaluation_periods=config.rollback.alarm_evaluation_periods,
        health_check_interval=health_check_interval,
        health_check_unhealthy_threshold=health_check_unhealthy_threshold,
        prometheus_evaluation_interval=duration_seconds(config.observability.evaluation_interval),
        prometheus_rule_for=prometheus_rule_for,
        alertmanager_group_wait=alertmanager_group_wait,
        limit=config.rollback.budget_seconds,
    )


def alarm_min_requests(config: StackConfig) -> int:
    """Requests per alarm period below which the 5xx-share alarm stays quiet.

    The same notion of "a tier without traffic" as the Prometheus rules: the configured minimum
    request rate over one alarm period (at least one request).
    """
    rate = config.observability.thresholds.min_request_rate
    return max(1, math.ceil(rate * config.rollback.alarm_period_seconds))


def duration_seconds(duration: str) -> int:
    """A Prometheus-style duration (15s, 1m, 2h) in seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    return int(duration[:-1]) * units[duration[-1]]


@dataclass(frozen=True)
class TriggerBudget:
    """Worst-case seconds for one trigger, with the terms it adds up."""

    trigger: str
    parts: tuple[tuple[str, int], ...]

    @property
    def seconds(self) -> int:
        return sum(seconds for _, seconds in self.parts)


@dataclass(frozen=True)
class RollbackBudget:
    """Worst-case rollback time per trigger against the limit."""

    triggers: tuple[TriggerBudget, ...]
    limit: int
    inputs: BudgetInputs = BudgetInputs()

    @property
    def worst_case(self) -> TriggerBudget:
        return max(self.triggers, key=lambda t: t.seconds)

    @property
    def within_limit(self) -> bool:
        return self.worst_case.seconds <= self.limit

    def as_dict(self) -> dict[str, Any]:
        return {
            "worstCaseSeconds": self.worst_case.seconds,
            "worstCaseTrigger": self.worst_case.trigger,
            "limitSeconds": self.limit,
            "triggers": {
                t.trigger: {"seconds": t.seconds, "parts": dict(t.parts)} for t in self.triggers
            },
            "inputs": asdict(self.inputs),
        }

    def lines(self) -> list[str]:
        """Human-readable breakdown, one trigger per line (for `rollout plan`)."""
        out = []
        for t in self.triggers:
            terms = " + ".join(f"{name} {seconds}s" for name, seconds in t.parts)
            out.append(f"{t.trigger}: {t.seconds}s = {terms}")
        verdict = "within" if self.within_limit else "OVER"
        out.append(
            f"worst case {self.worst_case.seconds}s ({self.worst_case.trigger}), "
            f"{verdict} the {self.limit}s limit"
        )
        return out


def rollback_budget(inputs: BudgetInputs = BudgetInputs()) -> RollbackBudget:
    """Worst-case seconds from a fault to traffic moved, for each kind of trigger.

    A CloudWatch alarm fires at the end of its last breaching period; a failing health check
    first needs `unhealthy_threshold` failed checks before the target counts as unhealthy in
    the metric the alarm watches. A Prometheus alert needs up to one evaluation interval to be
    seen, `for` to fire, and Alertmanager's group_wait before the first notification. GuardDuty
    and AWS Config events count from their arrival on the event bus.
    """
    i = inputs
    function = (("function start", i.function_start), ("traffic move", i.api_call))
    alarm = (("alarm period x evaluation periods", i.alarm_period * i.alarm_evaluation_periods),)
    via_sns = (("SNS delivery", i.sns_delivery), *function)
    via_events = (("EventBridge delivery", i.eventbridge_delivery), *function)
    health = (
        (
            "health check interval x unhealthy threshold",
            i.health_check_interval * i.health_check_unhealthy_threshold,
        ),
    )
    prometheus = (
        ("Prometheus evaluation interval", i.prometheus_evaluation_interval),
        ("rule for", i.prometheus_rule_for),
        ("Alertmanager group_wait", i.alertmanager_group_wait),
    )
    triggers = (
        TriggerBudget("cloudwatch-error-rate", (*alarm, *via_sns)),
        TriggerBudget("cloudwatch-latency-p95", (*alarm, *via_sns)),
        TriggerBudget("cloudwatch-unhealthy-targets", (*health, *alarm, *via_sns)),
        TriggerBudget("prometheus-alert", (*prometheus, *via_sns)),
        TriggerBudget("guardduty-finding", via_events),
        TriggerBudget("config-non-compliant", via_events),
    )
    return RollbackBudget(triggers, i.limit, i)


FUNCTION_TYPE = "aws:lambda/function:Function"
ALARM_TYPE = "aws:cloudwatch/metricAlarm:MetricAlarm"
TARGET_GROUP_TYPE = "aws:lb/targetGroup:TargetGroup"
PLAN_VARIABLE = "ROLLOUT_ROLLBACK_PLAN"


def budget_from_resources(
    resources: Iterable[tuple[str, Mapping[str, Any]]],
) -> tuple[RollbackBudget, RollbackBudget] | None:
    """(published, derived) budgets from declared resources: (type token, camelCase inputs).

    `published` is what the rollback function (tag purpose=rollback) carries in its
    ROLLOUT_ROLLBACK_PLAN; `derived` recomputes it with the alarm and health check terms taken
    from the rollback alarms and target groups actually declared (the longest of each), so a
    change to a resource that the published figure missed shows up as a difference. None when
    there is no rollback function with a readable plan.
    """
    published: dict[str, Any] | None = None
    alarms: list[int] = []
    checks: list[tuple[int, int]] = []
    for kind, props in resources:
        tags = props.get("tags") or {}
        if kind == FUNCTION_TYPE and tags.get("purpose") == "rollback":
            raw = ((props.get("environment") or {}).get("variables") or {}).get(PLAN_VARIABLE)
            try:
                published = json.loads(raw) if isinstance(raw, str) else None
            except json.JSONDecodeError:
                published = None
        elif kind == ALARM_TYPE and tags.get("purpose") == "rollback":
            periods = [props.get("period")] + [
                (q.get("metric") or {}).get("period") for q in props.get("metricQueries") or []
            ]
            period = max((int(p) for p in periods if isinstance(p, int | float)), default=0)
            alarms.append(period * int(props.get("evaluationPeriods") or 1))
        elif kind == TARGET_GROUP_TYPE and isinstance(props.get("healthCheck"), Mapping):
            check = props["healthCheck"]
            interval, threshold = check.get("interval"), check.get("unhealthyThreshold")
            if isinstance(interval, int | float) and isinstance(threshold, int | float):
                checks.append((int(interval), int(threshold)))
    fields = ((published or {}).get("budget") or {}).get("inputs")
    if not isinstance(fields, dict):
        return None
    declared = BudgetInputs(**{k: int(v) for k, v in fields.items()})
    derived = declared
    if alarms:
        derived = replace(derived, alarm_period=max(alarms), alarm_evaluation_periods=1)
    if checks:
        interval, threshold = max(checks, key=lambda c: c[0] * c[1])
        derived = replace(
            derived, health_check_interval=interval, health_check_unhealthy_threshold=threshold
        )
    return rollback_budget(declared), rollback_budget(derived)


# ---------------------------------------------------------------------------------------------
# the plan handed to the function


@dataclass(frozen=True)
class RollbackPlan:
    """Everything the function needs to decide, precomputed for one week."""

    week: int
    allocations: dict[str, Allocation]
    budget: RollbackBudget

    def as_dict(self) -> dict[str, Any]:
        return {
            "week": self.week,
            "allocations": {key: a.as_dict() for key, a in self.allocations.items()},
            "budget": self.budget.as_dict(),
        }

    def to_json(self) -> str:
        """The `ROLLOUT_ROLLBACK_PLAN` value (compact, stable key order)."""
        return json.dumps(self.as_dict(), separators=(",", ":"))


def rollback_plan(
    week: int,
    tiers: Sequence[str],
    plan: Sequence[WeekPlan] = DEFAULT_PLAN,
    inputs: BudgetInputs = BudgetInputs(),
) -> RollbackPlan:
    return RollbackPlan(week, rollback_allocations(week, tiers, plan), rollback_budget(inputs))


# ---------------------------------------------------------------------------------------------
# the ledger


class LedgerError(ConfigError):
    """The ledger cannot be trusted or applied; str(err) is the one-line message.

    A ConfigError so the program stops with one line (exit 2) as for bad config: deploying while
    unsure whether a rollback is held could undo it.
    """


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
    for tier, weight in value.items():
        if tier not in TIERS:
            raise LedgerError(f"{where}.{tier}: not a tier (tiers: {', '.join(TIERS)})")
        if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 100:
            raise LedgerError(f"{where}.{tier}: {weight!r} is not an integer from 0 to 100")
    total = sum(value.values())
    if total != 100:
        raise LedgerError(f"{where}: weights sum to {total}, not 100")
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
