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

The rollback function ships this package in its archive and uses `spread` from here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from rollout_rules.contract import (
    ALARM_TYPE,
    FUNCTION_TYPE,
    PLAN_VARIABLE,
    PURPOSE_ROLLBACK,
    PURPOSE_TAG,
    TARGET_GROUP_TYPE,
)
from rollout_rules.plan import DEFAULT_PLAN, Allocation, WeekPlan, week_plan

NO_TIER = "none"
"""Key of the allocation for triggers that name no tier."""
LIMIT_SECONDS = 120
"""The plan's bound: a rollback completes in under two minutes."""


# ---------------------------------------------------------------------------------------------
# allocations


def spread(current: Mapping[str, int], failing: set[str] | frozenset[str]) -> dict[str, int] | None:
    """`current` with the `failing` tiers at 0 and their share spread over the others.

    Proportional to the remaining weights, largest remainder (ties: the larger weight, then tier
    order). None when no remaining tier has traffic to scale up.
    """
    total = sum(current.values())
    keep = {t: w for t, w in current.items() if t not in failing and w > 0}
    base = sum(keep.values())
    if base == 0:
        return None
    exact = {t: total * w / base for t, w in keep.items()}
    result = {t: (int(exact[t]) if t in keep else 0) for t in current}
    left = total - sum(result.values())
    order = list(current)
    ranked = sorted(keep, key=lambda t: (-(exact[t] - int(exact[t])), -keep[t], order.index(t)))
    for tier in ranked[:left]:
        result[tier] += 1
    return result


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
    # The Prometheus path, measured end to end by `rollout drill`: a fault shows in the next
    # scrape of the tier's services, the next rule evaluation sees it (the alert is pending), it
    # fires `for` later, and Alertmanager waits group_wait before the first notification.
    prometheus_scrape_interval: int = 10
    prometheus_evaluation_interval: int = 10
    prometheus_rule_for: int = 30
    alertmanager_group_wait: int = 5
    # Delivery and execution allowances: SNS -> Lambda and EventBridge -> Lambda deliver within
    # seconds; a cold start of the function (python3.12, boto3 only) is under 2 s; the traffic
    # move is one ModifyListener call after a handful of reads, with throttling retries.
    sns_delivery: int = 5
    eventbridge_delivery: int = 5
    function_start: int = 5
    api_call: int = 5
    limit: int = LIMIT_SECONDS


# AWS's documented figures for the CloudWatch path, which no declared parameter holds:
ALB_METRIC_INTERVAL = 60
"""Elastic Load Balancing "measures and sends its metrics in 60-second intervals" (Application
Load Balancer guide, "CloudWatch metrics for your Application Load Balancer")."""
ALARM_EVALUATION_INTERVAL = 60
"""CloudWatch evaluates an alarm every 10 seconds only when its period is 10 or 30 seconds, and
every minute otherwise (CloudWatch user guide, "Using Amazon CloudWatch alarms")."""
CLOUDWATCH_NOT_COUNTED = (
    "the delay before an ALB datapoint is available to alarms (AWS documents no bound)",
)


def alarm_min_requests(min_request_rate: float, alarm_period_seconds: int) -> int:
    """Requests per alarm period below which the 5xx-share alarm stays quiet.

    The same notion of "a tier without traffic" as the Prometheus rules: the configured minimum
    request rate over one alarm period (at least one request).
    """
    return max(1, math.ceil(min_request_rate * alarm_period_seconds))


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

    def cloudwatch(self) -> tuple[TriggerBudget, ...]:
        """The CloudWatch triggers with what AWS documents but nothing declares.

        The declared terms assume an alarm fires the moment its breaching period ends. It
        cannot: the ALB sends a period's datapoint only when the 60-second interval is over, and
        CloudWatch evaluates a one-minute alarm once a minute, so up to another minute passes
        before the evaluation that sees it. Still not counted (CLOUDWATCH_NOT_COUNTED): the
        datapoint's delivery delay, for which AWS gives no figure; the real worst case is longer.
        """
        term = ("alarm evaluation, once a minute (CloudWatch)", ALARM_EVALUATION_INTERVAL)
        floor = ALB_METRIC_INTERVAL * self.inputs.alarm_evaluation_periods

        def honest(part: tuple[str, int]) -> tuple[str, int]:
            # No alarm period can see an ALB metric sooner than its 60-second interval.
            name, seconds = part
            return (name, max(seconds, floor)) if name.startswith("alarm period") else part

        return tuple(
            TriggerBudget(t.trigger, (*map(honest, t.parts[:-3]), term, *t.parts[-3:]))
            for t in self.triggers
            if t.trigger.startswith("cloudwatch-")
        )

    def cloudwatch_dict(self) -> dict[str, Any]:
        """The CloudWatch path's documented worst case (for `rollout plan --json`)."""
        triggers = self.cloudwatch()
        worst = max(triggers, key=lambda t: t.seconds)
        return {
            "worstCaseSeconds": worst.seconds,
            "worstCaseTrigger": worst.trigger,
            "withinLimit": worst.seconds <= self.limit,
            "triggers": {
                t.trigger: {"seconds": t.seconds, "parts": dict(t.parts)} for t in triggers
            },
            "notCounted": list(CLOUDWATCH_NOT_COUNTED),
        }

    def lines(self) -> list[str]:
        """Human-readable breakdown, one trigger per line (for `rollout plan`)."""
        out = []
        for t in self.triggers:
            terms = " + ".join(f"{name} {seconds}s" for name, seconds in t.parts)
            out.append(f"{t.trigger}: {t.seconds}s = {terms}")
        verdict = "within" if self.within_limit else "OVER"
        out.append(
            f"declared worst case {self.worst_case.seconds}s ({self.worst_case.trigger}), "
            f"{verdict} the {self.limit}s limit"
        )
        cloudwatch = self.cloudwatch()
        if cloudwatch:
            worst = max(cloudwatch, key=lambda t: t.seconds)
            terms = " + ".join(f"{name} {seconds}s" for name, seconds in worst.parts)
            line = (
                f"CloudWatch path with AWS's documented timing: {worst.seconds}s "
                f"({worst.trigger} = {terms}); not counted: {'; '.join(CLOUDWATCH_NOT_COUNTED)}"
            )
            out.append(line)
            if worst.seconds > self.limit:
                prometheus = next(
                    (t for t in self.triggers if t.trigger == "prometheus-alert"), None
                )
                meets = (
                    f"; the Prometheus path ({prometheus.seconds}s) is the one that meets the plan"
                    if prometheus is not None and prometheus.seconds <= self.limit
                    else ""
                )
                out.append(
                    f"CloudWatch path OVER the {self.limit}s limit: its alarms are a backstop"
                    f"{meets}"
                )
        return out


def rollback_budget(inputs: BudgetInputs = BudgetInputs()) -> RollbackBudget:
    """Worst-case seconds from a fault to traffic moved, for each kind of trigger.

    A CloudWatch alarm fires at the end of its last breaching period; a failing health check
    first needs `unhealthy_threshold` failed checks before the target counts as unhealthy in
    the metric the alarm watches. A Prometheus alert needs up to one scrape interval for the
    fault to reach Prometheus, up to one evaluation interval to be seen, `for` to fire, and
    Alertmanager's group_wait before the first notification. GuardDuty
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
        ("scrape interval", i.prometheus_scrape_interval),
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
        if kind == FUNCTION_TYPE and tags.get(PURPOSE_TAG) == PURPOSE_ROLLBACK:
            raw = ((props.get("environment") or {}).get("variables") or {}).get(PLAN_VARIABLE)
            try:
                published = json.loads(raw) if isinstance(raw, str) else None
            except json.JSONDecodeError:
                published = None
        elif kind == ALARM_TYPE and tags.get(PURPOSE_TAG) == PURPOSE_ROLLBACK:
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
