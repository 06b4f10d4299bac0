"""Rollout stack policies: the traffic split, the rollback wiring of every tier that takes
traffic, the PagerDuty route for production, and the rollback time budget.

Conventions the routing, rollback and observability components follow; these policies find
resources by them (types are pulumi-aws v7 / pulumi-kubernetes v4 tokens):

1. Traffic split. The HTTPS listener is the ``aws:lb/listener:Listener`` with ``port`` 443. Its
   ``defaultActions`` hold one action of ``type`` "forward" whose ``forward.targetGroups`` lists
   ``{arn, weight}`` per tier; weights are integer percentages summing to 100.
2. Tiers. Every ``aws:lb/targetGroup:TargetGroup`` behind that listener carries the tag
   ``tier`` = ``sandbox`` | ``canary`` | ``production`` and configures ``healthCheck``
   (``enabled`` true, ``path`` for HTTP/HTTPS, ``unhealthyThreshold`` at most 3: the plan's
   "3 consecutive failed health checks" trigger).
3. Rollback topic. One ``aws:sns/topic:Topic`` carries the tag ``purpose`` = ``rollback``.
4. Rollback alarms. ``aws:cloudwatch/metricAlarm:MetricAlarm`` resources carry the tags
   ``tier`` = <tier> and ``purpose`` = ``rollback``; their ``alarmActions`` include the rollback
   topic's ARN. Every tier with weight > 0 has at least one such alarm.
5. PagerDuty. When the production weight is > 0 a PagerDuty route exists: a Kubernetes resource
   annotated ``codex.dev/pagerduty-route: "true"`` (by convention the Alertmanager config
   ``kubernetes:core/v1:Secret``, key ``alertmanager.yaml``, optionally labelled
   ``codex.dev/alertmanager-config: "true"``), or an ``aws:sns/topicSubscription:TopicSubscription``
   with protocol ``https`` to ``events.pagerduty.com``. When a Secret's ``alertmanager.yaml``
   is readable (the engine decrypts secrets; so does ``rollout policy check --stack``), its
   route tree must reach a receiver with ``pagerduty_configs``.
6. Rollback budget. The rollback ``aws:lambda/function:Function`` carries the tag ``purpose`` =
   ``rollback``; its environment variable ``ROLLOUT_ROLLBACK_PLAN`` is JSON holding
   ``{"budget": {"worstCaseSeconds": <n>, "limitSeconds": 120}}``. Its ``timeout`` is within
   the limit.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from pulumi_policy import (
    PolicyResource,
    Severity,
    StackValidationArgs,
)

from ._common import (
    SOC2,
    Control,
    Report,
    UnknownValueError,
    as_list,
    as_number,
    aws_tags,
    by_type,
    get,
    identifies,
    mentions,
    stack_policy,
)

LISTENER_TYPES = ("aws:lb/listener:Listener", "aws:alb/listener:Listener")
TARGET_GROUP_TYPES = ("aws:lb/targetGroup:TargetGroup", "aws:alb/targetGroup:TargetGroup")
TOPIC = "aws:sns/topic:Topic"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
FUNCTION = "aws:lambda/function:Function"

HTTPS_PORT = 443
TIER_TAG = "tier"
PURPOSE_TAG = "purpose"
ROLLBACK = "rollback"
PRODUCTION_TIER = "production"
PAGERDUTY_ANNOTATION = "codex.dev/pagerduty-route"
ALERTMANAGER_LABEL = "codex.dev/alertmanager-config"
PLAN_VARIABLE = "ROLLOUT_ROLLBACK_PLAN"
MAX_ROLLBACK_SECONDS = 120
MAX_UNHEALTHY_THRESHOLD = 3
NO_LISTENER = f"the stack has no HTTPS listener (aws:lb/listener:Listener on port {HTTPS_PORT})"


def tags_of(resource: PolicyResource) -> dict[str, Any]:
    return aws_tags(resource.props, resource.provider.props if resource.provider else None)


@dataclass
class Route:
    """One weighted entry of the HTTPS listener's forward action."""

    listener: PolicyResource
    weight: float
    target_group: PolicyResource | None
    arn: Any

    @property
    def tier(self) -> str | None:
        if self.target_group is None:
            return None
        tier = tags_of(self.target_group).get(TIER_TAG)
        return tier if isinstance(tier, str) and tier else None


def https_listeners(resources: list[PolicyResource]) -> list[PolicyResource]:
    found = []
    for listener in by_type(resources, *LISTENER_TYPES):
        try:
            if as_number(listener.props.get("port")) == HTTPS_PORT:
                found.append(listener)
        except UnknownValueError:
            continue
    return found


def routes(listener: PolicyResource, resources: list[PolicyResource]) -> list[Route]:
    """The listener's weighted target groups, resolved to TargetGroup resources by ARN."""
    groups = list(by_type(resources, *TARGET_GROUP_TYPES))

    def resolve(arn: Any) -> PolicyResource | None:
        for group in groups:
            if identifies(arn, group):
                return group
        return None

    found = []
    for action in as_list(listener.props.get("defaultActions")):
        if get(action, "type") != "forward":
            continue
        weighted = as_list(get(action, "forward", "targetGroups"))
        if weighted:
            for entry in weighted:
                arn = get(entry, "arn")
                weight = as_number(get(entry, "weight"))
                # The ELB API's default weight for a listed target group is 1.
                found.append(Route(listener, 1.0 if weight is None else weight, resolve(arn), arn))
        elif get(action, "targetGroupArn"):
            arn = get(action, "targetGroupArn")
            found.append(Route(listener, 100.0, resolve(arn), arn))
    return found


def weighted_routes(args: StackValidationArgs) -> Iterator[Route]:
    """Every route of every HTTPS listener; not applicable when there is no such listener."""
    listeners = https_listeners(args.resources)
    if not listeners:
        args.not_applicable(NO_LISTENER)
    for listener in listeners:
        try:
            yield from routes(listener, args.resources)
        except UnknownValueError:
            continue


# ---------------------------------------------------------------------------------------------
# rollout-weights-sum-to-100
# ---------------------------------------------------------------------------------------------


def _validate_weights(args: StackValidationArgs, report: Report) -> None:
    listeners = https_listeners(args.resources)
    if not listeners:
        args.not_applicable(NO_LISTENER)
    for listener in listeners:
        try:
            found = routes(listener, args.resources)
        except UnknownValueError:
            continue
        if not found:
            report(f"HTTPS listener {listener.name!r} forwards to no target group.", listener.urn)
            continue
        total = sum(r.weight for r in found)
        if total != 100:
            split = ", ".join(f"{r.tier or r.arn}={r.weight:g}" for r in found)
            report(
                f"HTTPS listener {listener.name!r} weights sum to {total:g}, not 100 ({split}).",
                listener.urn,
            )
        seen: dict[str, int] = {}
        for route in found:
            if route.weight < 0 or route.weight > 100 or route.weight != int(route.weight):
                report(
                    f"HTTPS listener {listener.name!r} weight {route.weight:g} is not an integer "
                    "percentage.",
                    listener.urn,
                )
            if route.target_group is None:
                report(
                    f"HTTPS listener {listener.name!r} forwards to {route.arn!r}, which is no "
                    "target group in this stack.",
                    listener.urn,
                )
            elif route.tier is None:
                report(
                    f"Target group {route.target_group.name!r} has no {TIER_TAG!r} tag.",
                    route.target_group.urn,
                )
            else:
                seen[route.tier] = seen.get(route.tier, 0) + 1
        for tier, count in sorted(seen.items()):
            if count > 1:
                report(
                    f"HTTPS listener {listener.name!r} lists tier {tier!r} {count} times.",
                    listener.urn,
                )


rollout_weights_sum_to_100 = stack_policy(
    name="rollout-weights-sum-to-100",
    description=(
        "The HTTPS listener splits traffic over the tiers' target groups with integer weights "
        "summing to 100, one target group per tier."
    ),
    severity=Severity.CRITICAL,
    controls=[Control.of(SOC2, "CC8.1")],
    remediation=(
        "Derive the listener's forward.target_groups from the schedule's allocation for the "
        "stack's week (one entry per tier, tagged tier=<name>); never edit weights by hand."
    ),
    domain="rollout",
    validate=_validate_weights,
)

# ---------------------------------------------------------------------------------------------
# rollout-tier-health-and-rollback
# ---------------------------------------------------------------------------------------------


def rollback_topics(resources: list[PolicyResource]) -> list[PolicyResource]:
    found = []
    for topic in by_type(resources, TOPIC):
        try:
            if tags_of(topic).get(PURPOSE_TAG) == ROLLBACK:
                found.append(topic)
        except UnknownValueError:
            continue
    return found


def _wired(alarm: PolicyResource, topics: list[PolicyResource]) -> bool:
    if get(alarm.props, "actionsEnabled") is False:
        return False
    return any(mentions(alarm, "alarmActions", topic) for topic in topics)


def _health_check_problem(group: PolicyResource) -> str | None:
    check = get(group.props, "healthCheck")
    if not isinstance(check, Mapping):
        return "has no health check configured"
    if get(check, "enabled") is False:
        return "disables its health check"
    protocol = get(check, "protocol") or get(group.props, "protocol") or "HTTP"
    if str(protocol).upper() in ("HTTP", "HTTPS") and not get(check, "path"):
        return "has no health check path"
    threshold = as_number(get(check, "unhealthyThreshold"))
    if threshold is not None and threshold > MAX_UNHEALTHY_THRESHOLD:
        return (
            f"marks targets unhealthy after {threshold:g} failed checks; the rollback trigger is "
            f"{MAX_UNHEALTHY_THRESHOLD}"
        )
    return None


def _validate_tier_wiring(args: StackValidationArgs, report: Report) -> None:
    resources = args.resources
    live = [r for r in weighted_routes(args) if r.weight > 0 and r.target_group is not None]
    topics = rollback_topics(resources)
    alarms = list(by_type(resources, ALARM))
    if live and not topics:
        report(f"No SNS topic tagged {PURPOSE_TAG}={ROLLBACK}; rollback alarms have no target.")
    for route in live:
        group = route.target_group
        assert group is not None
        try:
            problem = _health_check_problem(group)
        except UnknownValueError:
            problem = None
        if problem:
            report(f"Target group {group.name!r} (tier {route.tier!r}) {problem}.", group.urn)
        if route.tier is None:
            continue  # reported by rollout-weights-sum-to-100
        mine = []
        for alarm in alarms:
            try:
                if tags_of(alarm).get(TIER_TAG) == route.tier and _wired(alarm, topics):
                    mine.append(alarm)
            except UnknownValueError:
                continue
        if not mine:
            report(
                f"Tier {route.tier!r} takes {route.weight:g}% of traffic but no CloudWatch alarm "
                f"tagged {TIER_TAG}={route.tier} notifies the rollback topic.",
                group.urn,
            )
    for alarm in alarms:
        try:
            tags = tags_of(alarm)
            if tags.get(PURPOSE_TAG) == ROLLBACK and not _wired(alarm, topics):
                report(
                    f"Rollback alarm {alarm.name!r} does not notify the rollback topic "
                    "(alarmActions, actionsEnabled).",
                    alarm.urn,
                )
        except UnknownValueError:
            continue


rollout_tier_health_and_rollback = stack_policy(
    name="rollout-tier-health-and-rollback",
    description=(
        "Every tier with traffic has a target group health check and CloudWatch rollback alarms "
        "wired to the rollback topic."
    ),
    severity=Severity.CRITICAL,
    controls=[Control.of(SOC2, "CC7.4"), Control.of(SOC2, "CC7.2")],
    remediation=(
        "Give the tier's target group a health_check (enabled, path, unhealthy_threshold <= 3); "
        "create its alarms with tags tier=<tier>, purpose=rollback and alarm_actions=[the "
        "rollback topic's arn] (the topic tagged purpose=rollback)."
    ),
    domain="rollout",
    validate=_validate_tier_wiring,
)

# ---------------------------------------------------------------------------------------------
# rollout-production-pagerduty
# ---------------------------------------------------------------------------------------------


def _decoded_entry(props: Mapping[str, Any], key: str) -> str | None:
    text = get(props, "stringData", key)
    if isinstance(text, str):
        return text
    encoded = get(props, "data", key)
    if isinstance(encoded, str):
        try:
            return base64.b64decode(encoded, validate=True).decode()
        except ValueError:
            return None
    return None


def pagerduty_routed(config_text: str) -> bool:
    """Whether an Alertmanager configuration routes alerts to a PagerDuty receiver."""
    try:
        config = yaml.safe_load(config_text)
    except yaml.YAMLError:
        return False
    if not isinstance(config, Mapping):
        return False
    pagerduty = {
        r.get("name")
        for r in config.get("receivers") or []
        if isinstance(r, Mapping) and r.get("pagerduty_configs")
    }
    stack = [config.get("route")]
    while stack:
        route = stack.pop()
        if not isinstance(route, Mapping):
            continue
        if route.get("receiver") in pagerduty:
            return True
        stack.extend(route.get("routes") or [])
    return False


def _alertmanager_configs(resources: list[PolicyResource]) -> list[tuple[PolicyResource, str]]:
    found = []
    for secret in by_type(resources, "kubernetes:core/v1:Secret"):
        try:
            # The label marks it; a Secret holding alertmanager.yaml is one either way.
            for key in ("alertmanager.yaml", "alertmanager.yml"):
                text = _decoded_entry(secret.props, key)
                if text is not None:
                    found.append((secret, text))
        except UnknownValueError:
            continue  # secret content not readable offline: rely on the annotation
    return found


def _annotated(resources: list[PolicyResource]) -> list[PolicyResource]:
    found = []
    for resource in resources:
        if not resource.resource_type.startswith("kubernetes:"):
            continue
        try:
            if get(resource.props, "metadata", "annotations", PAGERDUTY_ANNOTATION) == "true":
                found.append(resource)
        except UnknownValueError:
            continue
    return found


def _pagerduty_subscriptions(resources: list[PolicyResource]) -> list[PolicyResource]:
    found = []
    for sub in by_type(resources, SUBSCRIPTION):
        try:
            endpoint = get(sub.props, "endpoint")
            if (
                get(sub.props, "protocol") == "https"
                and isinstance(endpoint, str)
                and endpoint.startswith("https://events.pagerduty.com/")
            ):
                found.append(sub)
        except UnknownValueError:
            continue
    return found


def _validate_pagerduty(args: StackValidationArgs, report: Report) -> None:
    production = sum(r.weight for r in weighted_routes(args) if r.tier == PRODUCTION_TIER)
    if production <= 0:
        args.not_applicable("production takes no traffic")
    resources = args.resources
    readable = _alertmanager_configs(resources)
    routed = [s for s, text in readable if pagerduty_routed(text)]
    marked = _annotated(resources)
    for secret, _ in readable:
        if secret not in routed and secret in marked:
            report(
                f"{secret.name!r} is annotated {PAGERDUTY_ANNOTATION}: 'true' but its Alertmanager "
                "configuration routes nothing to a pagerduty_configs receiver.",
                secret.urn,
            )
    if not (routed or marked or _pagerduty_subscriptions(resources)):
        report(
            f"Production takes {production:g}% of traffic but no PagerDuty route exists (an "
            f"Alertmanager config annotated {PAGERDUTY_ANNOTATION}: 'true', or an SNS "
            "subscription to events.pagerduty.com)."
        )


rollout_production_pagerduty = stack_policy(
    name="rollout-production-pagerduty",
    description="Production does not take traffic until critical alerts page through PagerDuty.",
    severity=Severity.HIGH,
    controls=[Control.of(SOC2, "CC7.3"), Control.of(SOC2, "CC7.4")],
    remediation=(
        "Route critical alerts to a receiver with pagerduty_configs in the Alertmanager config "
        f"Secret and annotate it {PAGERDUTY_ANNOTATION}: 'true' (or subscribe the PagerDuty "
        "events endpoint to the alert topic) before the week that gives production weight."
    ),
    domain="rollout",
    validate=_validate_pagerduty,
)

# ---------------------------------------------------------------------------------------------
# rollout-rollback-budget
# ---------------------------------------------------------------------------------------------


def _budget_problems(function: PolicyResource, ceiling: float) -> list[str]:
    props = function.props
    raw = get(props, "environment", "variables", PLAN_VARIABLE)
    if raw is None:
        return [f"has no {PLAN_VARIABLE} environment variable"]
    try:
        plan = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return [f"{PLAN_VARIABLE} is not JSON"]
    worst = as_number(get(plan, "budget", "worstCaseSeconds"))
    limit = as_number(get(plan, "budget", "limitSeconds"))
    if worst is None or limit is None:
        return [f"{PLAN_VARIABLE} lacks budget.worstCaseSeconds or budget.limitSeconds"]
    problems = []
    if limit > ceiling:
        problems.append(f"budget limit {limit:g}s exceeds the plan's {ceiling:g}s")
    if worst >= limit:
        problems.append(f"worst-case rollback takes {worst:g}s, not under the {limit:g}s limit")
    timeout = as_number(get(props, "timeout"))
    timeout = 3.0 if timeout is None else timeout  # the Lambda default
    if timeout > min(limit, ceiling):
        problems.append(f"function timeout {timeout:g}s exceeds the {min(limit, ceiling):g}s limit")
    return problems


def _validate_budget(args: StackValidationArgs, report: Report) -> None:
    if not https_listeners(args.resources):
        args.not_applicable(NO_LISTENER)
    ceiling = float(args.get_config().get("maxRollbackSeconds", MAX_ROLLBACK_SECONDS))
    functions = []
    for function in by_type(args.resources, FUNCTION):
        try:
            if tags_of(function).get(PURPOSE_TAG) == ROLLBACK:
                functions.append(function)
        except UnknownValueError:
            continue
    if not functions:
        report(f"No Lambda function tagged {PURPOSE_TAG}={ROLLBACK} performs rollbacks.")
    for function in functions:
        try:
            problems = _budget_problems(function, ceiling)
        except UnknownValueError:
            continue
        for problem in problems:
            report(f"Rollback function {function.name!r} {problem}.", function.urn)


rollout_rollback_budget = stack_policy(
    name="rollout-rollback-budget",
    description=(
        "The rollback function's published worst-case rollback time stays under the plan's "
        "two-minute budget."
    ),
    severity=Severity.HIGH,
    controls=[Control.of(SOC2, "CC7.5"), Control.of(SOC2, "A1.2")],
    remediation=(
        "Reduce the worst case (alarm periods x evaluation periods, trigger latency, the single "
        "listener update) until worstCaseSeconds < limitSeconds <= maxRollbackSeconds, and keep "
        "the function timeout within the limit."
    ),
    domain="rollout",
    validate=_validate_budget,
    config={
        "maxRollbackSeconds": {
            "type": "number",
            "exclusiveMinimum": 0,
            "description": "Longest a rollback may take end to end (the plan: under 2 minutes).",
            "default": MAX_ROLLBACK_SECONDS,
        }
    },
)

POLICIES = [
    rollout_weights_sum_to_100,
    rollout_tier_health_and_rollback,
    rollout_production_pagerduty,
    rollout_rollback_budget,
]
