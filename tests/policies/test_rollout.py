"""Rollout stack policies over gRPC (AnalyzeStack): a compliant week-9 rollout (5/5/90) built by
the conventions in policies/rollout.py, and one change per violating case."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from policies.rollout import pagerduty_routed
from tests.policies.conftest import Check
from tests.policies.state import (
    SECRET_SIG,
    TAGS,
    UNKNOWN,
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
    alarms: dict[str, Res] = field(default_factory=dict)
    topic: Res | None = None
    secret: Res | None = None
    function: Res | None = None


def plan(worst: float = 75, limit: float = 120) -> str:
    return json.dumps(
        {"budget": {"worstCaseSeconds": worst, "limitSeconds": limit}, "triggers": {}}
    )


def rollout(weights: dict[str, float] | None = None, stack: str = "prod") -> Rollout:
    weights = weights if weights is not None else {"sandbox": 5, "canary": 5, "production": 90}
    b = StateBuilder(stack=stack)
    topic = b.add(
        "aws:sns/topic:Topic",
        "codex-rollback",
        {"kmsMasterKeyId": "alias/codex", "tags": {**TAGS, "purpose": "rollback"}},
    )
    groups = {
        tier: b.add(
            "aws:lb/targetGroup:TargetGroup",
            f"codex-tg-{tier}",
            {
                "port": 8080,
                "protocol": "HTTP",
                "targetType": "ip",
                "healthCheck": {"enabled": True, "path": "/healthz", "unhealthyThreshold": 3},
                "tags": {**TAGS, "tier": tier},
            },
        )
        for tier in weights
    }
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
            "tags": TAGS,
        },
        deps={"defaultActions": list(groups.values())},
    )
    alarms = {
        tier: b.add(
            "aws:cloudwatch/metricAlarm:MetricAlarm",
            f"codex-{tier}-5xx",
            {
                "alarmActions": [topic.arn],
                "metricName": "HTTPCode_Target_5XX_Count",
                "tags": {**TAGS, "tier": tier, "purpose": "rollback"},
            },
            deps={"alarmActions": [topic]},
        )
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
            "the stack has no HTTPS listener (aws:lb/listener:Listener on port 443)"
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


def test_live_tier_needs_a_rollback_alarm(check: Check) -> None:
    r = rollout()
    r.b.entries.remove(r.alarms["canary"].entry)
    report = check(r.b)
    assert messages(report, WIRING) == (
        "Tier 'canary' takes 5% of traffic but no CloudWatch alarm tagged tier=canary notifies "
        "the rollback topic."
    )


def test_tier_without_traffic_needs_no_alarm(check: Check) -> None:
    r = rollout({"sandbox": 100, "canary": 0})
    r.b.entries.remove(r.alarms["canary"].entry)
    del r.groups["canary"].entry["outputs"]["healthCheck"]
    assert findings(check(r.b), WIRING) == []


def test_rollback_alarm_wired_elsewhere(check: Check) -> None:
    r = rollout()
    alarm = r.alarms["production"].entry
    alarm["outputs"]["alarmActions"] = ["arn:aws:sns:eu-central-1:1:somewhere-else"]
    del alarm["propertyDependencies"]
    text = messages(check(r.b), WIRING)
    assert "Rollback alarm 'codex-production-5xx' does not notify the rollback topic" in text
    assert "Tier 'production' takes 90%" in text


def test_disabled_alarm_actions_do_not_count(check: Check) -> None:
    r = rollout()
    r.alarms["sandbox"].entry["outputs"]["actionsEnabled"] = False
    assert "Tier 'sandbox' takes 5%" in messages(check(r.b), WIRING)


def test_alarm_wiring_by_property_dependency_when_arns_are_unknown(check: Check) -> None:
    # At preview the topic's ARN is unknown; the alarm's property dependency still names it.
    r = rollout()
    for alarm in r.alarms.values():
        alarm.entry["outputs"]["alarmActions"] = [UNKNOWN]
    assert findings(check(r.b), WIRING) == []


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
        (plan(worst=130), "worst-case rollback takes 130s, not under the 120s limit"),
        (plan(worst=120), "worst-case rollback takes 120s, not under the 120s limit"),
        (plan(limit=180), "budget limit 180s exceeds the plan's 120s"),
        ("{not json", "is not JSON"),
        (json.dumps({"budget": {}}), "lacks budget.worstCaseSeconds"),
    ],
)
def test_rollback_budget(check: Check, value: str, expected: str) -> None:
    r = rollout()
    variables(r)["ROLLOUT_ROLLBACK_PLAN"] = value
    report = check(r.b)
    assert expected in messages(report, BUDGET)
    assert findings(report, BUDGET)[0].urn == (r.function.urn if r.function else "")


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
