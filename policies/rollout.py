"""Rollout stack policies: the traffic split, the rollback wiring of every tier that takes
traffic, the PagerDuty route for production, and the rollback time budget.

Conventions the routing, rollback and observability components follow; these policies find
resources by them (types are pulumi-aws v7 / pulumi-kubernetes v4 tokens):

1. Traffic split. The rollout's listener is the ``aws:lb/listener:Listener`` with ``port`` 443
   tagged ``purpose`` = ``rollout-traffic`` (other listeners, e.g. fixed responses or redirects
   in a stack that isn't ours, are not the rollout's and are never judged). Its
   ``defaultActions`` hold one action of ``type`` "forward" whose ``forward.targetGroups`` lists
   ``{arn, weight}`` per tier; weights are integer percentages summing to 100.
2. Tiers. Every ``aws:lb/targetGroup:TargetGroup`` behind that listener carries the tag
   ``tier`` = ``sandbox`` | ``canary`` | ``production`` and configures ``healthCheck``
   (``enabled`` true, ``path`` for HTTP/HTTPS, ``unhealthyThreshold`` at most 3: the plan's
   "3 consecutive failed health checks" trigger).
3. Rollback topic. One ``aws:sns/topic:Topic`` carries the tag ``purpose`` = ``rollback``.
4. Rollback alarms. ``aws:cloudwatch/metricAlarm:MetricAlarm`` resources carry the tags
   ``tier`` = <tier> and ``purpose`` = ``rollback``; their ``alarmActions`` include the rollback
   topic's ARN. Every tier with weight > 0 has such alarms covering three signals, named by the
   ALB metric in ``metricName`` or in ``metricQueries[].metric.metricName``: the error rate
   (``HTTPCode_Target_5XX_Count``, the 5xx share by metric math over ``RequestCount``), latency
   (``TargetResponseTime``, p95) and target health (``HealthyHostCount`` or
   ``UnHealthyHostCount``). Where the metric has a ``TargetGroup`` dimension, it is the tier's
   target group (its ARN suffix).
5. PagerDuty. When the production weight is > 0 a PagerDuty route exists: a Kubernetes resource
   annotated ``codex.dev/pagerduty-route: "true"`` (by convention the Alertmanager config
   ``kubernetes:core/v1:Secret``, key ``alertmanager.yaml``, optionally labelled
   ``codex.dev/alertmanager-config: "true"``), or an ``aws:sns/topicSubscription:TopicSubscription``
   with protocol ``https`` to ``events.pagerduty.com``. When a Secret's ``alertmanager.yaml``
   is readable (the engine decrypts secrets; so does ``rollout policy check --stack``), its
   route tree must reach a receiver with ``pagerduty_configs``.
6. Rollback budget. The rollback ``aws:lambda/function:Function`` carries the tag ``purpose`` =
   ``rollback``; its environment variable ``ROLLOUT_ROLLBACK_PLAN`` is JSON holding
   ``{"budget": {"worstCaseSeconds": <n>, "limitSeconds": 120, "inputs": {...}}}`` (the
   program's ``rollout_rules.rollback.RollbackPlan``). The policy recomputes the worst case from
   the declared rollback alarms (period x evaluation periods) and the tiers' health checks
   (interval x unhealthy threshold) with ``rollout_rules.rollback.budget_from_resources``, and
   holds the worse of the published and the derived figure to the limit: at most
   ``limitSeconds`` (itself at most ``maxRollbackSeconds``). Its ``timeout`` is within the limit.

The tag keys, label and annotation keys, the plan variable, the tiers and the resource types are
the contract's (``rollout_rules.contract``, ``rollout_rules.plan.TIERS``), the same names the
program writes.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from pulumi_policy import (
    PolicyResource,
    Severity,
    StackValidationArgs,
)

from rollout_rules.contract import (
    ALARM_TYPE,
    ANNOTATION_PAGERDUTY_ROUTE,
    FUNCTION_TYPE,
    PLAN_VARIABLE,
    PURPOSE_ROLLBACK,
    PURPOSE_ROLLOUT_LISTENER,
    PURPOSE_TAG,
    TIER_TAG,
    TOPIC_TYPE,
)
from rollout_rules.plan import TIERS
from rollout_rules.rollback import LIMIT_SECONDS, budget_from_resources

from ._common import (
    LISTENER_TYPES,
    SOC2,
    TARGET_GROUP_TYPES,
    Blind,
    Control,
    Report,
    UnknownValueError,
    as_list,
    as_number,
    aws_tags,
    by_type,
    get,
    identifies,
    is_unknown,
    mentions,
    per_resource,
    stack_policy,
)

SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"

HTTPS_PORT = 443
PRODUCTION_TIER = TIERS[-1]
"""The last tier of the rollout, production: it takes traffic only once alerts page."""
MAX_ROLLBACK_SECONDS = LIMIT_SECONDS
MAX_UNHEALTHY_THRESHOLD = 3
NO_LISTENER = (
    f"the stack has no rollout listener (aws:lb/listener:Listener on port {HTTPS_PORT} tagged "
    f"{PURPOSE_TAG}={PURPOSE_ROLLOUT_LISTENER})"
)


@per_resource
def tags_of(resource: PolicyResource) -> dict[str, Any]:
    return aws_tags(resource.props, resource.provider.props if resource.provider else None)


@dataclass
class Route:
    """One weighted entry of the rollout listener's forward action.

    At preview a target group created by this update has an unknown ARN: the route keeps its
    weight (a weight sum needs no ARN) and ``known`` is False.
    """

    listener: PolicyResource
    weight: float
    target_group: PolicyResource | None
    arn: Any
    known: bool = True
    index: int = 0

    @property
    def tier(self) -> str | None:
        if self.target_group is None:
            return None
        tier = tags_of(self.target_group).get(TIER_TAG)
        return tier if isinstance(tier, str) and tier else None

    @property
    def what(self) -> str:
        return f"the target group ARN of forward entry {self.index}"


def https_listeners(resources: list[PolicyResource]) -> list[PolicyResource]:
    """The rollout's own listeners: port 443 and tagged as the rollout's traffic split."""
    found = []
    for listener in by_type(resources, *LISTENER_TYPES):
        try:
            if (
                as_number(listener.props.get("port")) == HTTPS_PORT
                and tags_of(listener).get(PURPOSE_TAG) == PURPOSE_ROLLOUT_LISTENER
            ):
                found.append(listener)
        except UnknownValueError:
            continue
    return found


def routes(
    listener: PolicyResource, resources: list[PolicyResource], blind: Blind | None = None
) -> list[Route]:
    """The listener's weighted target groups, resolved to TargetGroup resources by ARN.

    What is unknown at preview is noted in ``blind``: unknown ARNs keep their route (unresolved,
    ``known`` False); unknown actions or weights leave their entries out.
    """
    groups = list(by_type(resources, *TARGET_GROUP_TYPES))
    blind = blind or Blind()

    def resolve(arn: Any) -> PolicyResource | None:
        for group in groups:
            if identifies(arn, group):
                return group
        return None

    try:
        actions = as_list(listener.props.get("defaultActions"))
    except UnknownValueError:
        blind.note(listener, "defaultActions")
        return []
    found: list[Route] = []
    for action in actions:
        try:
            if get(action, "type") != "forward":
                continue
            weighted = as_list(get(action, "forward", "targetGroups"))
        except UnknownValueError:
            blind.note(listener, "a default action")
            continue
        if weighted:
            for index, entry in enumerate(weighted):
                try:
                    weight = as_number(get(entry, "weight"))
                except UnknownValueError:
                    blind.note(listener, f"the weight of forward entry {index}")
                    continue
                # The ELB API's default weight for a listed target group is 1.
                weight = 1.0 if weight is None else weight
                try:
                    arn = get(entry, "arn")
                except UnknownValueError:
                    found.append(Route(listener, weight, None, None, known=False, index=index))
                    continue
                found.append(Route(listener, weight, resolve(arn), arn, index=index))
        else:
            try:
                arn = get(action, "targetGroupArn")
            except UnknownValueError:
                found.append(Route(listener, 100.0, None, None, known=False))
                continue
            if arn:
                found.append(Route(listener, 100.0, resolve(arn), arn))
    return found


def weighted_routes(args: StackValidationArgs, blind: Blind | None = None) -> Iterator[Route]:
    """Every route of every rollout listener; not applicable when there is no such listener."""
    listeners = https_listeners(args.resources)
    if not listeners:
        args.not_applicable(NO_LISTENER)
    for listener in listeners:
        yield from routes(listener, args.resources, blind)


# ---------------------------------------------------------------------------------------------
# rollout-weights-sum-to-100
# ---------------------------------------------------------------------------------------------


def _validate_weights(args: StackValidationArgs, report: Report) -> None:
    listeners = https_listeners(args.resources)
    if not listeners:
        args.not_applicable(NO_LISTENER)
    blind = Blind()
    for listener in listeners:
        found = routes(listener, args.resources, blind)
        if not found:
            continue  # a listener that splits nothing has no weights to sum
        total = sum(r.weight for r in found)
        if total != 100:
            split = ", ".join(f"{_label(r)}={r.weight:g}" for r in found)
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
            if not route.known:
                blind.note(listener, route.what)
            elif route.target_group is None:
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
    blind.done()


def _label(route: Route) -> str:
    if not route.known:
        return f"<unknown at preview #{route.index}>"
    return route.tier or str(route.arn)


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
    for topic in by_type(resources, TOPIC_TYPE):
        try:
            if tags_of(topic).get(PURPOSE_TAG) == PURPOSE_ROLLBACK:
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


@dataclass(frozen=True)
class Signal:
    """A rollback trigger every live tier needs, recognised by the ALB metrics it watches."""

    name: str
    metrics: tuple[str, ...]

    @property
    def described(self) -> str:
        return f"{self.name} ({' or '.join(self.metrics)})"


SIGNALS = (
    Signal("error rate", ("HTTPCode_Target_5XX_Count",)),
    Signal("latency", ("TargetResponseTime",)),
    Signal("target health", ("HealthyHostCount", "UnHealthyHostCount")),
)


UNKNOWN_DIMENSION = object()
"""A TargetGroup dimension the preview cannot know yet."""


def _dimension(obj: Any, *path: str) -> Any:
    try:
        value = get(obj, *path)
    except UnknownValueError:
        return UNKNOWN_DIMENSION
    return UNKNOWN_DIMENSION if is_unknown(value) else value


@per_resource
def _alarm_metrics(alarm: PolicyResource) -> list[tuple[str, Any, str]]:
    """(metric name, its TargetGroup dimension or None, the property it sits in) per metric the
    alarm watches: the alarm's own metric and each metric query's metric."""
    found: list[tuple[str, Any, str]] = []
    props = alarm.props
    name = get(props, "metricName")
    if isinstance(name, str):
        found.append((name, _dimension(props, "dimensions", "TargetGroup"), "dimensions"))
    for query in as_list(get(props, "metricQueries")):
        try:
            name = get(query, "metric", "metricName")
        except UnknownValueError:
            continue
        if isinstance(name, str):
            dimension = _dimension(query, "metric", "dimensions", "TargetGroup")
            found.append((name, dimension, "metricQueries"))
    return found


def _watches(
    alarm: PolicyResource,
    dimension: Any,
    prop: str,
    group: PolicyResource,
    groups: list[PolicyResource],
) -> bool:
    """Whether a metric's TargetGroup dimension is ``group`` (absent: the alarm's tier tag
    decides). An unknown dimension (a preview) counts unless the property's dependencies name
    another target group."""
    if dimension is None:
        return True
    if dimension is UNKNOWN_DIMENSION:
        deps = {d.urn for d in alarm.property_dependencies.get(prop) or []}
        if group.urn in deps:
            return True
        return not any(other.urn in deps for other in groups if other is not group)
    if not isinstance(dimension, str):
        return False
    if identifies(dimension, group):
        return True
    for key in ("arnSuffix", "arn", "id"):
        try:
            value = group.props.get(key)
        except UnknownValueError:
            continue
        if not isinstance(value, str) or is_unknown(value):
            continue
        if value == dimension or value.endswith(":" + dimension):
            return True
    return False


def _covered_signals(
    alarm: PolicyResource, group: PolicyResource, groups: list[PolicyResource]
) -> tuple[set[str], set[str]]:
    """(signals the alarm watches on ``group``, signals it watches on another target group)."""
    on_group: set[str] = set()
    elsewhere: set[str] = set()
    for metric, dimension, prop in _alarm_metrics(alarm):
        for signal in SIGNALS:
            if metric in signal.metrics:
                if _watches(alarm, dimension, prop, group, groups):
                    on_group.add(signal.name)
                else:
                    elsewhere.add(signal.name)
    return on_group, elsewhere


def _validate_tier_wiring(args: StackValidationArgs, report: Report) -> None:
    resources = args.resources
    blind = Blind()
    routed = list(weighted_routes(args, blind))
    for route in routed:
        if route.weight > 0 and not route.known:
            blind.note(route.listener, route.what)
    live = [r for r in routed if r.weight > 0 and r.target_group is not None]
    topics = rollback_topics(resources)
    alarms = list(by_type(resources, ALARM_TYPE))
    groups = list(by_type(resources, *TARGET_GROUP_TYPES))
    if live and not topics:
        report(
            f"No SNS topic tagged {PURPOSE_TAG}={PURPOSE_ROLLBACK}; rollback alarms have no target."
        )
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
        covered: set[str] = set()
        misplaced: dict[str, list[str]] = {}
        for alarm in alarms:
            try:
                if tags_of(alarm).get(TIER_TAG) != route.tier or not _wired(alarm, topics):
                    continue
                on_group, elsewhere = _covered_signals(alarm, group, groups)
            except UnknownValueError:
                continue
            covered |= on_group
            for name in elsewhere:
                misplaced.setdefault(name, []).append(alarm.name)
        for signal in SIGNALS:
            if signal.name in covered:
                continue
            hint = ""
            if signal.name in misplaced:
                names = ", ".join(repr(n) for n in sorted(misplaced[signal.name]))
                hint = f" ({names} watches another target group)"
            report(
                f"Tier {route.tier!r} takes {route.weight:g}% of traffic but no CloudWatch alarm "
                f"tagged {TIER_TAG}={route.tier} on its target group {group.name!r} watches its "
                f"{signal.described} and notifies the rollback topic{hint}.",
                group.urn,
            )
    for alarm in alarms:
        try:
            tags = tags_of(alarm)
            if tags.get(PURPOSE_TAG) == PURPOSE_ROLLBACK and not _wired(alarm, topics):
                report(
                    f"Rollback alarm {alarm.name!r} does not notify the rollback topic "
                    "(alarmActions, actionsEnabled).",
                    alarm.urn,
                )
        except UnknownValueError:
            continue
    blind.done()


rollout_tier_health_and_rollback = stack_policy(
    name="rollout-tier-health-and-rollback",
    description=(
        "Every tier with traffic has a target group health check and CloudWatch rollback alarms "
        "on its error rate (5xx share), p95 latency and target health, wired to the rollback "
        "topic."
    ),
    severity=Severity.CRITICAL,
    controls=[Control.of(SOC2, "CC7.4"), Control.of(SOC2, "CC7.2")],
    remediation=(
        "Give the tier's target group a health_check (enabled, path, unhealthy_threshold <= 3); "
        "create its alarms on the target group (dimension TargetGroup = its arn_suffix): the 5xx "
        "share (HTTPCode_Target_5XX_Count / RequestCount), TargetResponseTime p95, and "
        "HealthyHostCount / UnHealthyHostCount; tag them tier=<tier>, purpose=rollback and set "
        "alarm_actions=[the rollback topic's arn] (the topic tagged purpose=rollback)."
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
            if get(resource.props, "metadata", "annotations", ANNOTATION_PAGERDUTY_ROUTE) == "true":
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
    split = list(weighted_routes(args))
    production = sum(r.weight for r in split if r.tier == PRODUCTION_TIER)
    if production <= 0:
        blind = Blind()
        for route in split:
            if route.weight > 0 and not route.known:
                blind.note(route.listener, route.what)
        blind.done()  # an unresolved route with traffic may be production's
        args.not_applicable("production takes no traffic")
    resources = args.resources
    readable = _alertmanager_configs(resources)
    routed = [s for s, text in readable if pagerduty_routed(text)]
    marked = _annotated(resources)
    for secret, _ in readable:
        if secret not in routed and secret in marked:
            report(
                f"{secret.name!r} is annotated {ANNOTATION_PAGERDUTY_ROUTE}: 'true' but its "
                "Alertmanager configuration routes nothing to a pagerduty_configs receiver.",
                secret.urn,
            )
    if not (routed or marked or _pagerduty_subscriptions(resources)):
        report(
            f"Production takes {production:g}% of traffic but no PagerDuty route exists (an "
            f"Alertmanager config annotated {ANNOTATION_PAGERDUTY_ROUTE}: 'true', or an SNS "
            "subscription to events.pagerduty.com)."
        )


rollout_production_pagerduty = stack_policy(
    name="rollout-production-pagerduty",
    description="Production does not take traffic until critical alerts page through PagerDuty.",
    severity=Severity.HIGH,
    controls=[Control.of(SOC2, "CC7.3"), Control.of(SOC2, "CC7.4")],
    remediation=(
        "Route critical alerts to a receiver with pagerduty_configs in the Alertmanager config "
        f"Secret and annotate it {ANNOTATION_PAGERDUTY_ROUTE}: 'true' (or subscribe the PagerDuty "
        "events endpoint to the alert topic) before the week that gives production weight."
    ),
    domain="rollout",
    validate=_validate_pagerduty,
)

# ---------------------------------------------------------------------------------------------
# rollout-rollback-budget
# ---------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A plain copy of a property value (the SDK's proxies unwrapped); unknowns become None."""
    if isinstance(value, Mapping):
        out = {}
        for key in value:
            try:
                out[key] = _plain(value[key])
            except UnknownValueError:
                out[key] = None
        return out
    if isinstance(value, Sequence) and not isinstance(value, str):
        items = []
        for i in range(len(value)):
            try:
                items.append(_plain(value[i]))
            except UnknownValueError:
                items.append(None)
        return items
    return None if is_unknown(value) else value


@per_resource
def _declared(resource: PolicyResource) -> tuple[str, dict[str, Any]]:
    """(type, plain inputs with the effective tags), as ``budget_from_resources`` reads them."""
    props = _plain(resource.props)
    props["tags"] = _plain(tags_of(resource))
    return resource.resource_type, props


@dataclass(frozen=True)
class BudgetFigures:
    """The worst case the function publishes, and the one recomputed from declared resources."""

    published: float
    published_trigger: str | None
    derived: float
    derived_trigger: str
    derived_breakdown: str

    @property
    def worst(self) -> float:
        return max(self.published, self.derived)

    def describe(self) -> str:
        if self.published == self.derived:
            trigger = self.derived_trigger or self.published_trigger
            return f"worst-case rollback takes {self.worst:g}s ({trigger})"
        published = f"{PLAN_VARIABLE} publishes {self.published:g}s"
        if self.published_trigger:
            published += f" ({self.published_trigger})"
        derived = (
            f"the declared alarms and health checks give {self.derived:g}s "
            f"({self.derived_breakdown})"
        )
        first, second = (
            (derived, published) if self.derived >= self.published else (published, derived)
        )
        return f"worst-case rollback takes {self.worst:g}s: {first}, while {second}"


def _derived_budget(
    function: PolicyResource, declared: list[PolicyResource]
) -> tuple[float, str, str] | str:
    """(seconds, trigger, breakdown) of the worst case recomputed from the declared rollback
    alarms and target groups, or a problem when the published plan gives no inputs to it."""
    try:
        budgets = budget_from_resources([_declared(function), *map(_declared, declared)])
    except (TypeError, ValueError) as err:
        return f"{PLAN_VARIABLE} budget.inputs cannot be read ({err})"
    if budgets is None:
        return (
            f"{PLAN_VARIABLE} lacks budget.inputs, so its worst case cannot be recomputed from "
            "the declared alarms and health checks"
        )
    _, derived = budgets
    worst = derived.worst_case
    terms = " + ".join(f"{name} {seconds}s" for name, seconds in worst.parts)
    return float(worst.seconds), worst.trigger, terms


def _budget_problems(
    function: PolicyResource, declared: list[PolicyResource], ceiling: float
) -> list[str]:
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
    bound = min(limit, ceiling)
    derived = _derived_budget(function, declared)
    if isinstance(derived, str):
        problems.append(derived)
        derived = (worst, "", "")
    trigger = get(plan, "budget", "worstCaseTrigger")
    figures = BudgetFigures(
        published=worst,
        published_trigger=trigger if isinstance(trigger, str) else None,
        derived=derived[0],
        derived_trigger=derived[1],
        derived_breakdown=derived[2],
    )
    if figures.worst > bound:
        problems.append(f"{figures.describe()}, exceeding the {bound:g}s limit")
    timeout = as_number(get(props, "timeout"))
    timeout = 3.0 if timeout is None else timeout  # the Lambda default
    if timeout > bound:
        problems.append(f"function timeout {timeout:g}s exceeds the {bound:g}s limit")
    return problems


def _budget_resources(args: StackValidationArgs) -> list[PolicyResource]:
    """What the budget is derived from: the rollback alarms and the tiers' target groups (those
    the HTTPS listener forwards to)."""
    found: list[PolicyResource] = []
    for alarm in by_type(args.resources, ALARM_TYPE):
        try:
            if tags_of(alarm).get(PURPOSE_TAG) == PURPOSE_ROLLBACK:
                found.append(alarm)
        except UnknownValueError:
            continue
    for route in weighted_routes(args):
        if route.target_group is not None and route.target_group not in found:
            found.append(route.target_group)
    return found


def _validate_budget(args: StackValidationArgs, report: Report) -> None:
    if not https_listeners(args.resources):
        args.not_applicable(NO_LISTENER)
    ceiling = float(args.get_config().get("maxRollbackSeconds", MAX_ROLLBACK_SECONDS))
    functions = []
    for function in by_type(args.resources, FUNCTION_TYPE):
        try:
            if tags_of(function).get(PURPOSE_TAG) == PURPOSE_ROLLBACK:
                functions.append(function)
        except UnknownValueError:
            continue
    if not functions:
        report(f"No Lambda function tagged {PURPOSE_TAG}={PURPOSE_ROLLBACK} performs rollbacks.")
    declared = _budget_resources(args)
    for function in functions:
        try:
            problems = _budget_problems(function, declared, ceiling)
        except UnknownValueError:
            continue
        for problem in problems:
            report(f"Rollback function {function.name!r} {problem}.", function.urn)


rollout_rollback_budget = stack_policy(
    name="rollout-rollback-budget",
    description=(
        "The worst-case rollback time, the larger of the figure the rollback function publishes "
        "and the one recomputed from the declared alarms and health checks, does not exceed the "
        "plan's two-minute budget."
    ),
    severity=Severity.HIGH,
    controls=[Control.of(SOC2, "CC7.5"), Control.of(SOC2, "A1.2")],
    remediation=(
        "Reduce the worst case (alarm period x evaluation periods, health check interval x "
        "unhealthy threshold, Prometheus and Alertmanager timings, the single listener update) "
        "until it is at most limitSeconds <= maxRollbackSeconds, publish the program's "
        f"recomputed plan ({PLAN_VARIABLE} with budget.inputs) so the published and the "
        "declared figures agree, and keep the function timeout within the limit."
    ),
    domain="rollout",
    validate=_validate_budget,
    config={
        "maxRollbackSeconds": {
            "type": "number",
            "exclusiveMinimum": 0,
            "description": "Longest a rollback may take end to end (the plan: 2 minutes).",
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
