"""Rollout stack policies over gRPC (AnalyzeStack): a compliant week-9 rollout (5/5/90) built by
the conventions in policies/rollout.py, and one change per violating case."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from policies.rollout import pagerduty_routed
from rollout_rules.rollback import BudgetInputs, rollback_budget
from tests.policies.state import (
    SECRET_SIG,
    TAGS,
    UNKNOWN,
    Check,
    Res,
    StateBuilder,
    findings,
    messages,
    skipped,
)

WEIGHTS = "rollout-weights-sum-to-100"
WIRING = "rollout-tier-health-and-rollback"
PAGERDUTY = "rollout-production-pagerduty"
BUDGET = "rollout-rollback-budget"
ROLLOUT = (WEIGHTS, WIRING, PAGERDUTY, BUDGET)

ALERTMANAGER = """
route:
  receiver: slack
  routes:
    - matchers: ['severity="critical"']
      receiver: pagerduty
receivers:
  - name: slack
    slack_configs: [{channel: '#codex'}]
  - name: pagerduty
    pagerduty_configs: [{routing_key: xyz}]
"""


@dataclass
class Rollout:
    """A rollout state and handles on the resources the cases change."""

    b: StateBuilder
    listener: Res
    groups: dict[str, Res] = field(default_factory=dict)
    alarms: dict[str, dict[str, Res]] = field(default_factory=dict)
    topic: Res | None = None
    secret: Res | None = None
    function: Res | None = None


def plan(
    worst: float | None = None, limit: float | None = None, inputs: BudgetInputs | None = None
) -> str:
    """A ROLLOUT_ROLLBACK_PLAN as the program publishes it (default inputs: 105 s worst case),
    optionally with the published figures overridden."""
    budget = rollback_budget(inputs or BudgetInputs()).as_dict()
    if worst is not None:
        budget["worstCaseSeconds"] = worst
    if limit is not None:
        budget["limitSeconds"] = limit
    return json.dumps({"week": 9, "allocations": {}, "budget": budget})


def suffix(tier: str) -> str:
    return f"targetgroup/codex-{tier}-prod/0123456789abcdef"


def metric(metric_id: str, name: str, tier: str, stat: str = "Sum") -> dict[str, Any]:
    return {
        "id": metric_id,
        "returnData": False,
        "metric": {
            "namespace": "AWS/ApplicationELB",
            "metricName": name,
            "dimensions": {"TargetGroup": suffix(tier), "LoadBalancer": "app/codex-prod/1"},
            "period": 60,
            "stat": stat,
        },
    }


def tier_alarms(tier: str) -> dict[str, dict[str, Any]]:
    """The three signals of a tier, as components/rollback declares them (kind -> inputs)."""
    return {
        "5xx": {
            "comparisonOperator": "GreaterThanThreshold",
            "threshold": 0.01,
            "metricQueries": [
                metric("requests", "RequestCount", tier),
                metric("errors", "HTTPCode_Target_5XX_Count", tier),
                {"id": "rate", "returnData": True, "expression": "FILL(errors, 0) / requests"},
            ],
        },
        "latency": {
            "comparisonOperator": "GreaterThanThreshold",
            "threshold": 0.5,
            "namespace": "AWS/ApplicationELB",
            "metricName": "TargetResponseTime",
            "dimensions": {"TargetGroup": suffix(tier), "LoadBalancer": "app/codex-prod/1"},
            "extendedStatistic": "p95",
            "period": 60,
        },
        "health": {
            "comparisonOperator": "GreaterThanThreshold",
            "threshold": 0.5,
            "metricQueries": [
                metric("healthy", "HealthyHostCount", tier, "Minimum"),
                metric("unhealthy", "UnHealthyHostCount", tier, "Maximum"),
                {"id": "share", "returnData": True, "expression": "unhealthy / healthy"},
            ],
        },
    }


def rollout(weights: dict[str, float] | None = None, stack: str = "prod") -> Rollout:
    weights = weights if weights is not None else {"sandbox": 5, "canary": 5, "production": 90}
    b = StateBuilder(stack=stack)
    topic = b.add(
        "aws:sns/topic:Topic",
        "codex-rollback",
        {"kmsMasterKeyId": "alias/codex", "tags": {**TAGS, "purpose": "rollback"}},
    )
    groups = {}
    for tier in weights:
        groups[tier] = b.add(
            "aws:lb/targetGroup:TargetGroup",
            f"codex-tg-{tier}",
            {
                "port": 8080,
                "protocol": "HTTP",
                "targetType": "ip",
                "healthCheck": {
                    "enabled": True,
                    "path": "/healthz",
                    "interval": 10,
                    "unhealthyThreshold": 3,
                },
                "tags": {**TAGS, "tier": tier},
            },
        )
        groups[tier].entry["outputs"]["arnSuffix"] = suffix(tier)
    action = {
        "type": "forward",
        "forward": {
            "targetGroups": [{"arn": groups[t].arn, "weight": w} for t, w in weights.items()]
        },
    }
    listener = b.add(
        "aws:lb/listener:Listener",
        "codex-https",
        {
            "port": 443,
            "protocol": "HTTPS",
            "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
            "defaultActions": [action],
            "tags": {**TAGS, "purpose": "rollout-traffic"},
        },
        deps={"defaultActions": list(groups.values())},
    )
    alarms = {
        tier: {
            kind: b.add(
                "aws:cloudwatch/metricAlarm:MetricAlarm",
                f"codex-{tier}-{kind}",
                {
                    **inputs,
                    "alarmActions": [topic.arn],
                    "evaluationPeriods": 1,
                    "treatMissingData": "notBreaching",
                    "tags": {**TAGS, "tier": tier, "purpose": "rollback"},
                },
                deps={"alarmActions": [topic]},
            )
            for kind, inputs in tier_alarms(tier).items()
        }
        for tier in weights
    }
    secret = b.add(
        "kubernetes:core/v1:Secret",
        "alertmanager-config",
        {
            "metadata": {
                "namespace": "monitoring",
                "labels": {"codex.dev/alertmanager-config": "true"},
                "annotations": {"codex.dev/pagerduty-route": "true"},
            },
            "stringData": {**SECRET_SIG, "ciphertext": "v1:abc"},
        },
    )
    function = b.add(
        "aws:lambda/function:Function",
        "codex-rollback",
        {
            "timeout": 60,
            "environment": {"variables": {"ROLLOUT_ROLLBACK_PLAN": plan()}},
            "tags": {**TAGS, "purpose": "rollback"},
        },
    )
    return Rollout(b, listener, groups, alarms, topic, secret, function)


def rollout_findings(check: Check, r: Rollout) -> list[str]:
    return [f"{v.policy}: {v.message}" for v in check(r.b).violations if v.policy in ROLLOUT]


def test_baseline_is_compliant(check: Check) -> None:
    assert rollout_findings(check, rollout()) == []


def test_rollout_policies_need_an_https_listener(check: Check) -> None:
    report = check(StateBuilder())
    for policy in ROLLOUT:
        assert skipped(report, policy) == [
            "the stack has no rollout listener (aws:lb/listener:Listener on port 443 tagged "
            "purpose=rollout-traffic)"
        ]


# -- rollout-weights-sum-to-100 ----------------------------------------------------------------


def forward(r: Rollout) -> list[dict[str, Any]]:
    return r.listener.entry["outputs"]["defaultActions"][0]["forward"]["targetGroups"]


def test_weights_must_sum_to_100(check: Check) -> None:
    r = rollout()
    forward(r)[2]["weight"] = 85
    report = check(r.b)
    assert messages(report, WEIGHTS) == (
        "HTTPS listener 'codex-https' weights sum to 95, not 100 "
        "(sandbox=5, canary=5, production=85)."
    )
    assert findings(report, WEIGHTS)[0].urn == r.listener.urn


def test_weights_are_integer_percentages(check: Check) -> None:
    r = rollout()
    forward(r)[0]["weight"] = 4.5
    forward(r)[1]["weight"] = 5.5
    assert "weight 4.5 is not an integer percentage" in messages(check(r.b), WEIGHTS)


def test_target_group_needs_a_tier_tag(check: Check) -> None:
    r = rollout()
    del r.groups["canary"].entry["outputs"]["tags"]["tier"]
    report = check(r.b)
    assert "has no 'tier' tag" in messages(report, WEIGHTS)
    assert findings(report, WEIGHTS)[0].urn == r.groups["canary"].urn


def test_tier_listed_once(check: Check) -> None:
    r = rollout()
    r.groups["canary"].entry["outputs"]["tags"]["tier"] = "sandbox"
    assert "lists tier 'sandbox' 2 times" in messages(check(r.b), WEIGHTS)


def test_forward_to_unknown_target_group(check: Check) -> None:
    r = rollout()
    forward(r)[0]["arn"] = "arn:aws:elasticloadbalancing:eu-central-1:1:targetgroup/other/1"
    assert "which is no target group in this stack" in messages(check(r.b), WEIGHTS)


def test_single_target_group_arn_counts_as_100(check: Check) -> None:
    r = rollout({"sandbox": 100})
    r.listener.entry["outputs"]["defaultActions"] = [
        {"type": "forward", "targetGroupArn": r.groups["sandbox"].arn}
    ]
    assert rollout_findings(check, r) == []


# Listeners that are not the rollout's, as an exported stack that isn't ours has them.
FIXED_RESPONSE = {
    "type": "fixed-response",
    "fixedResponse": {"contentType": "text/plain", "statusCode": "404", "messageBody": "no"},
}
REDIRECT = {"type": "redirect", "redirect": {"protocol": "HTTPS", "statusCode": "HTTP_301"}}


@pytest.mark.parametrize("action", [FIXED_RESPONSE, REDIRECT], ids=["fixed", "redirect"])
def test_listener_that_splits_nothing_is_no_weights_violation(
    check: Check, action: dict[str, Any]
) -> None:
    r = rollout()
    # Another HTTPS listener, untagged, and the rollout's own listener splitting nothing.
    r.b.add(
        "aws:lb/listener:Listener",
        "other-https",
        {"port": 443, "protocol": "HTTPS", "defaultActions": [action], "tags": TAGS},
    )
    assert rollout_findings(check, r) == []
    r.listener.entry["outputs"]["defaultActions"] = [action]
    assert findings(check(r.b), WEIGHTS) == []


def test_foreign_stack_listeners_are_not_judged(check: Check) -> None:
    b = StateBuilder()
    b.add(
        "aws:lb/listener:Listener",
        "shop-https",
        {"port": 443, "protocol": "HTTPS", "defaultActions": [FIXED_RESPONSE], "tags": TAGS},
    )
    report = check(b)
    assert findings(report, WEIGHTS) == []
    assert "no rollout listener" in skipped(report, WEIGHTS)[0]


def test_untagged_listener_is_not_the_rollouts(check: Check) -> None:
    r = rollout()
    forward(r)[2]["weight"] = 85
    del r.listener.entry["outputs"]["tags"]["purpose"]
    report = check(r.b)
    assert findings(report, WEIGHTS) == []
    assert skipped(report, WEIGHTS)


# -- preview: a target group new in this update has an unknown ARN --------------------------------


def advisories(report: Any, policy: str) -> list[str]:
    return [
        v.message
        for v in report.violations
        if v.policy == policy and v.enforcement_level == "advisory"
    ]


def mandatory(report: Any, policy: str) -> list[str]:
    return [
        v.message
        for v in report.violations
        if v.policy == policy and v.enforcement_level == "mandatory"
    ]


def test_weights_are_summed_when_a_target_group_is_unknown(check: Check) -> None:
    r = rollout()
    forward(r)[1]["arn"] = UNKNOWN  # canary, created by this update
    forward(r)[2]["weight"] = 97  # 5 + 5 + 97 = 107 %
    report = check(r.b)
    assert mandatory(report, WEIGHTS) == [
        "HTTPS listener 'codex-https' weights sum to 107, not 100 "
        "(sandbox=5, <unknown at preview #1>=5, production=97)."
    ]
    assert advisories(report, WEIGHTS) == [
        "cannot be verified at preview: the target group ARN of forward entry 1 of "
        "aws:lb/listener:Listener 'codex-https' is unknown"
    ]


def test_unknown_target_group_is_advisory_not_silent(check: Check) -> None:
    r = rollout()
    forward(r)[1]["arn"] = UNKNOWN
    report = check(r.b)
    assert mandatory(report, WEIGHTS) == []
    assert len(advisories(report, WEIGHTS)) == 1
    assert "forward entry 1" in advisories(report, WEIGHTS)[0]
    # The tier with traffic behind the unknown ARN cannot have its rollback wiring checked.
    assert mandatory(report, WIRING) == []
    assert "forward entry 1" in advisories(report, WIRING)[0]
    assert report.exit_code == 0


def test_unknown_route_with_traffic_may_be_production(check: Check) -> None:
    r = rollout()
    forward(r)[2]["arn"] = UNKNOWN
    assert r.secret is not None
    r.secret.entry["outputs"]["metadata"]["annotations"] = {}
    r.secret.entry["outputs"]["stringData"] = {}
    report = check(r.b)
    assert mandatory(report, PAGERDUTY) == []
    assert "forward entry 2" in advisories(report, PAGERDUTY)[0]


# -- rollout-tier-health-and-rollback ------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"enabled": False}, "disables its health check"),
        ({"path": ""}, "has no health check path"),
        ({"unhealthyThreshold": 5}, "after 5 failed checks; the rollback trigger is 3"),
    ],
)
def test_live_tier_needs_a_health_check(
    check: Check, change: dict[str, Any], expected: str
) -> None:
    r = rollout()
    r.groups["canary"].entry["outputs"]["healthCheck"].update(change)
    report = check(r.b)
    assert expected in messages(report, WIRING)
    assert findings(report, WIRING)[0].urn == r.groups["canary"].urn


def test_missing_health_check_block(check: Check) -> None:
    r = rollout()
    del r.groups["production"].entry["outputs"]["healthCheck"]
    assert "has no health check configured" in messages(check(r.b), WIRING)


SIGNALS = {
    "5xx": "error rate (HTTPCode_Target_5XX_Count)",
    "latency": "latency (TargetResponseTime)",
    "health": "target health (HealthyHostCount or UnHealthyHostCount)",
}


def missing(tier: str, weight: int, kind: str) -> str:
    return (
        f"Tier {tier!r} takes {weight}% of traffic but no CloudWatch alarm tagged tier={tier} on "
        f"its target group 'codex-tg-{tier}' watches its {SIGNALS[kind]} and notifies the "
        "rollback topic."
    )


@pytest.mark.parametrize("kind", list(SIGNALS))
def test_live_tier_needs_every_rollback_signal(check: Check, kind: str) -> None:
    r = rollout()
    r.b.entries.remove(r.alarms["canary"][kind].entry)
    report = check(r.b)
    assert messages(report, WIRING) == missing("canary", 5, kind)
    assert findings(report, WIRING)[0].urn == r.groups["canary"].urn
    assert findings(report, WIRING)[0].enforcement_level == "mandatory"


def test_live_tier_without_alarms_misses_every_signal(check: Check) -> None:
    r = rollout()
    for alarm in r.alarms["canary"].values():
        r.b.entries.remove(alarm.entry)
    assert messages(check(r.b), WIRING) == "\n".join(missing("canary", 5, k) for k in SIGNALS)


def test_one_alarm_per_signal_is_enough(check: Check) -> None:
    # A single alarm on HealthyHostCount (no healthy target) covers target health; so does one
    # on UnHealthyHostCount.
    for name in ("HealthyHostCount", "UnHealthyHostCount"):
        r = rollout()
        outputs = r.alarms["production"]["health"].entry["outputs"]
        del outputs["metricQueries"]
        outputs["metricName"] = name
        outputs["dimensions"] = {"TargetGroup": suffix("production")}
        assert findings(check(r.b), WIRING) == []


def test_signal_is_recognised_by_metric_name_only(check: Check) -> None:
    # RequestCount alone is no error-rate alarm, whatever the alarm is called.
    r = rollout()
    queries = r.alarms["sandbox"]["5xx"].entry["outputs"]["metricQueries"]
    queries[1]["metric"]["metricName"] = "RequestCount"
    assert messages(check(r.b), WIRING) == missing("sandbox", 5, "5xx")


def test_alarm_on_another_tiers_target_group_does_not_count(check: Check) -> None:
    r = rollout()
    outputs = r.alarms["canary"]["latency"].entry["outputs"]
    outputs["dimensions"]["TargetGroup"] = suffix("production")
    assert messages(check(r.b), WIRING) == (
        missing("canary", 5, "latency")[:-1] + " ('codex-canary-latency' watches another target "
        "group)."
    )


def test_target_group_dimension_by_arn_suffix_of_the_arn(check: Check) -> None:
    # State exported without arnSuffix: the dimension is matched against the end of the ARN.
    r = rollout()
    for tier, group in r.groups.items():
        outputs = group.entry["outputs"]
        del outputs["arnSuffix"]
        outputs["arn"] = outputs["id"] = (
            f"arn:aws:elasticloadbalancing:eu-central-1:1:{suffix(tier)}"
        )
    action = r.listener.entry["outputs"]["defaultActions"][0]["forward"]["targetGroups"]
    for entry, group in zip(action, r.groups.values(), strict=True):
        entry["arn"] = group.entry["outputs"]["arn"]
    assert rollout_findings(check, r) == []


def test_alarm_without_target_group_dimension_counts_by_its_tier_tag(check: Check) -> None:
    r = rollout()
    del r.alarms["canary"]["latency"].entry["outputs"]["dimensions"]
    assert findings(check(r.b), WIRING) == []


def test_tier_without_traffic_needs_no_alarm(check: Check) -> None:
    r = rollout({"sandbox": 100, "canary": 0})
    for alarm in r.alarms["canary"].values():
        r.b.entries.remove(alarm.entry)
    del r.groups["canary"].entry["outputs"]["healthCheck"]
    assert findings(check(r.b), WIRING) == []


def test_rollback_alarm_wired_elsewhere(check: Check) -> None:
    r = rollout()
    alarm = r.alarms["production"]["5xx"].entry
    alarm["outputs"]["alarmActions"] = ["arn:aws:sns:eu-central-1:1:somewhere-else"]
    del alarm["propertyDependencies"]
    text = messages(check(r.b), WIRING)
    assert "Rollback alarm 'codex-production-5xx' does not notify the rollback topic" in text
    assert missing("production", 90, "5xx") in text


def test_disabled_alarm_actions_do_not_count(check: Check) -> None:
    r = rollout()
    r.alarms["sandbox"]["latency"].entry["outputs"]["actionsEnabled"] = False
    assert missing("sandbox", 5, "latency") in messages(check(r.b), WIRING)


def test_alarm_wiring_by_property_dependency_when_arns_are_unknown(check: Check) -> None:
    # At preview the topic's ARN and the target group's ARN suffix are unknown; the alarm's
    # property dependencies still name them.
    r = rollout()
    for tier, alarms in r.alarms.items():
        for alarm in alarms.values():
            outputs = alarm.entry["outputs"]
            outputs["alarmActions"] = [UNKNOWN]
            if "dimensions" in outputs:
                outputs["dimensions"]["TargetGroup"] = UNKNOWN
                alarm.entry["propertyDependencies"]["dimensions"] = [r.groups[tier].urn]
            for query in outputs.get("metricQueries", []):
                if "metric" in query:
                    query["metric"]["dimensions"]["TargetGroup"] = UNKNOWN
                    alarm.entry["propertyDependencies"]["metricQueries"] = [r.groups[tier].urn]
    for group in r.groups.values():
        group.entry["outputs"]["arnSuffix"] = UNKNOWN
    assert findings(check(r.b), WIRING) == []
    # An unknown dimension that depends on another tier's target group does not count.
    latency = r.alarms["canary"]["latency"].entry
    latency["propertyDependencies"]["dimensions"] = [r.groups["production"].urn]
    assert "watches its latency" in messages(check(r.b), WIRING)


def test_rollback_topic_required(check: Check) -> None:
    r = rollout()
    assert r.topic is not None
    r.topic.entry["outputs"]["tags"]["purpose"] = "alerts"
    assert "No SNS topic tagged purpose=rollback" in messages(check(r.b), WIRING)


# -- rollout-production-pagerduty ----------------------------------------------------------------


def without_route(r: Rollout) -> Rollout:
    assert r.secret is not None
    del r.secret.entry["outputs"]["metadata"]["annotations"]
    return r


def test_production_traffic_needs_pagerduty(check: Check) -> None:
    report = check(without_route(rollout()).b)
    assert messages(report, PAGERDUTY).startswith(
        "Production takes 90% of traffic but no PagerDuty route exists"
    )
    assert findings(report, PAGERDUTY)[0].type == "pulumi:pulumi:Stack"


def test_no_production_traffic_no_pagerduty_needed(check: Check) -> None:
    report = check(without_route(rollout({"sandbox": 20, "canary": 80, "production": 0})).b)
    assert findings(report, PAGERDUTY) == []
    assert skipped(report, PAGERDUTY) == ["production takes no traffic"]


def test_pagerduty_by_sns_subscription(check: Check) -> None:
    r = without_route(rollout())
    r.b.add(
        "aws:sns/topicSubscription:TopicSubscription",
        "pagerduty",
        {"protocol": "https", "endpoint": "https://events.pagerduty.com/integration/k/enqueue"},
    )
    assert findings(check(r.b), PAGERDUTY) == []


def test_readable_alertmanager_config_decides(check: Check) -> None:
    r = without_route(rollout())
    assert r.secret is not None
    outputs = r.secret.entry["outputs"]
    outputs["stringData"] = {
        **SECRET_SIG,
        "plaintext": json.dumps({"alertmanager.yaml": ALERTMANAGER}),
    }
    assert findings(check(r.b), PAGERDUTY) == []
    # Annotated, but the configuration routes nothing to PagerDuty: the annotation is wrong.
    outputs["metadata"]["annotations"] = {"codex.dev/pagerduty-route": "true"}
    outputs["stringData"] = {
        "alertmanager.yaml": "route: {receiver: slack}\nreceivers: [{name: slack}]"
    }
    assert "routes nothing to a pagerduty_configs receiver" in messages(check(r.b), PAGERDUTY)


def test_pagerduty_routed() -> None:
    assert pagerduty_routed(ALERTMANAGER)
    assert not pagerduty_routed(ALERTMANAGER.replace("receiver: pagerduty", "receiver: slack"))
    assert not pagerduty_routed(": not yaml")


# -- rollout-rollback-budget ---------------------------------------------------------------------


def variables(r: Rollout) -> dict[str, Any]:
    assert r.function is not None
    return r.function.entry["outputs"]["environment"]["variables"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            plan(worst=130),
            "worst-case rollback takes 130s: ROLLOUT_ROLLBACK_PLAN publishes 130s "
            "(cloudwatch-unhealthy-targets), while the declared alarms and health checks give "
            "105s",
        ),
        (plan(limit=180), "budget limit 180s exceeds the plan's 120s"),
        ("{not json", "is not JSON"),
        (json.dumps({"budget": {}}), "lacks budget.worstCaseSeconds"),
        (
            json.dumps({"budget": {"worstCaseSeconds": 75, "limitSeconds": 120}}),
            "ROLLOUT_ROLLBACK_PLAN lacks budget.inputs, so its worst case cannot be recomputed",
        ),
        (
            plan().replace('"limit": 120', '"limit": 120, "retries": 3'),
            "ROLLOUT_ROLLBACK_PLAN budget.inputs cannot be read",
        ),
    ],
)
def test_rollback_budget(check: Check, value: str, expected: str) -> None:
    r = rollout()
    variables(r)["ROLLOUT_ROLLBACK_PLAN"] = value
    report = check(r.b)
    assert expected in messages(report, BUDGET)
    assert findings(report, BUDGET)[0].urn == (r.function.urn if r.function else "")


@pytest.mark.parametrize(("worst", "fails"), [(119, False), (120, False), (121, True)])
def test_published_budget_fails_only_above_the_limit(check: Check, worst: int, fails: bool) -> None:
    r = rollout()
    variables(r)["ROLLOUT_ROLLBACK_PLAN"] = plan(worst=worst)
    found = findings(check(r.b), BUDGET)
    if fails:
        assert [v.message for v in found] == [
            "Rollback function 'codex-rollback' worst-case rollback takes 121s: "
            "ROLLOUT_ROLLBACK_PLAN publishes 121s (cloudwatch-unhealthy-targets), while the "
            "declared alarms and health checks give 105s (health check interval x unhealthy "
            "threshold 30s + alarm period x evaluation periods 60s + SNS delivery 5s + function "
            "start 5s + traffic move 5s), exceeding the 120s limit."
        ]
        assert found[0].enforcement_level == "mandatory"
    else:
        assert found == []


@pytest.mark.parametrize(
    ("interval", "threshold", "worst"), [(22, 2, 119), (15, 3, 120), (23, 2, 121)]
)
def test_declared_budget_fails_only_above_the_limit(
    check: Check, interval: int, threshold: int, worst: int
) -> None:
    # Health checks every `interval` s, `threshold` failures: the unhealthy-targets trigger takes
    # interval x threshold + 60 s (alarm) + 15 s (delivery, start, traffic move).
    r = rollout()
    for group in r.groups.values():
        check_ = group.entry["outputs"]["healthCheck"]
        check_.update(interval=interval, unhealthyThreshold=threshold)
    inputs = BudgetInputs(
        health_check_interval=interval, health_check_unhealthy_threshold=threshold
    )
    variables(r)["ROLLOUT_ROLLBACK_PLAN"] = plan(inputs=inputs)
    assert json.loads(plan(inputs=inputs))["budget"]["worstCaseSeconds"] == worst
    text = messages(check(r.b), BUDGET)
    if worst > 120:
        assert text == (
            f"Rollback function 'codex-rollback' worst-case rollback takes {worst}s "
            "(cloudwatch-unhealthy-targets), exceeding the 120s limit."
        )
    else:
        assert text == ""


def test_budget_follows_the_declared_alarms_not_the_published_figure(check: Check) -> None:
    # The alarms drift (3 periods of 5 minutes) while the function keeps publishing 105 s.
    r = rollout()
    for alarms in r.alarms.values():
        for alarm in alarms.values():
            outputs = alarm.entry["outputs"]
            outputs["evaluationPeriods"] = 3
            if "period" in outputs:
                outputs["period"] = 300
            for query in outputs.get("metricQueries", []):
                if "metric" in query:
                    query["metric"]["period"] = 300
    report = check(r.b)
    found = findings(report, BUDGET)
    assert [v.message for v in found] == [
        "Rollback function 'codex-rollback' worst-case rollback takes 945s: the declared alarms "
        "and health checks give 945s (health check interval x unhealthy threshold 30s + alarm "
        "period x evaluation periods 900s + SNS delivery 5s + function start 5s + traffic move "
        "5s), while ROLLOUT_ROLLBACK_PLAN publishes 105s (cloudwatch-unhealthy-targets), "
        "exceeding the 120s limit."
    ]
    assert found[0].enforcement_level == "mandatory"
    assert found[0].urn == (r.function.urn if r.function else "")


def test_budget_follows_the_slowest_tier_health_check(check: Check) -> None:
    r = rollout()
    r.groups["canary"].entry["outputs"]["healthCheck"]["interval"] = 30
    assert "the declared alarms and health checks give 165s" in messages(check(r.b), BUDGET)


def test_a_more_cautious_published_budget_within_the_limit_passes(check: Check) -> None:
    # The figures disagree, but neither exceeds the limit.
    r = rollout()
    variables(r)["ROLLOUT_ROLLBACK_PLAN"] = plan(worst=118)
    assert findings(check(r.b), BUDGET) == []


def test_rollback_function_timeout_within_budget(check: Check) -> None:
    r = rollout()
    assert r.function is not None
    r.function.entry["outputs"]["timeout"] = 300
    assert "function timeout 300s exceeds the 120s limit" in messages(check(r.b), BUDGET)


def test_rollback_function_required(check: Check) -> None:
    r = rollout()
    assert r.function is not None
    del r.function.entry["outputs"]["tags"]["purpose"]
    assert "No Lambda function tagged purpose=rollback" in messages(check(r.b), BUDGET)
    r.function.entry["outputs"]["tags"]["purpose"] = "rollback"
    del variables(r)["ROLLOUT_ROLLBACK_PLAN"]
    assert "has no ROLLOUT_ROLLBACK_PLAN" in messages(check(r.b), BUDGET)


def test_rollback_ceiling_comes_from_config(check: Check) -> None:
    report = check(rollout().b, {BUDGET: {"maxRollbackSeconds": 60}})
    assert "budget limit 120s exceeds the plan's 60s" in messages(report, BUDGET)


def test_alertmanager_config_found_without_the_label(check: Check) -> None:
    r = rollout()
    assert r.secret is not None
    outputs = r.secret.entry["outputs"]
    del outputs["metadata"]["labels"]
    outputs["stringData"] = {
        "alertmanager.yaml": "route: {receiver: email}\nreceivers: [{name: email}]"
    }
    assert "routes nothing to a pagerduty_configs receiver" in messages(check(r.b), PAGERDUTY)
