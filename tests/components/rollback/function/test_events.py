"""Reading events: what changes nothing (one clear line, no retry), several alerts in one
notification, the observability variant of the message, the manual event."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from components.rollback.function.events import Trigger, manual_event, parse_event
from rollout_rules.contract import MANUAL_DETAIL_TYPE, MANUAL_SOURCE
from rollout_rules.ledger import NOT_HELD
from tests.components.rollback.conftest import (
    MakeStack,
    RollbackStack,
    alarm_message,
    alert,
    config_event,
    guardduty_event,
    log_lines,
    sns_event,
)

Render = Callable[[list[dict[str, Any]]], str]


def _no_change_events(stack: RollbackStack) -> dict[str, tuple[Any, str]]:
    """Events that change nothing (Alertmanager's: below), with the reason logged."""
    canary = stack.suffix("canary")
    unknown_group = "targetgroup/codex-qa-test/0123456789abcdef"
    return {
        "alarm-ok": (
            sns_event(alarm_message("a", canary, state="OK")),
            "alarm a is OK; only ALARM rolls back",
        ),
        "alarm-insufficient-data": (
            sns_event(alarm_message("a", canary, state="INSUFFICIENT_DATA")),
            "only ALARM rolls back",
        ),
        "guardduty-low-severity": (guardduty_event(severity=5.0), "severity 5.0 is below 7.0"),
        "config-compliant": (
            config_event("COMPLIANT"),
            "rule dynamodb-pitr-enabled is COMPLIANT; only NON_COMPLIANT rolls back",
        ),
        "alarm-unknown-tier": (
            sns_event(alarm_message("a", unknown_group)),
            "unknown tier: alarm a watches target group targetgroup/codex-qa-test",
        ),
        "alarm-without-target-group": (
            sns_event(alarm_message("a", canary) | {"Trigger": {"Dimensions": []}}),
            "has no TargetGroup dimension",
        ),
        "sns-not-json": (sns_event("CPU high on web-1"), "SNS message is not JSON"),
        "sns-other-json": (sns_event({"hello": "world"}), "neither a CloudWatch alarm nor"),
        "not-an-object": (["Records"], "event is a list, not a JSON object"),
        "empty-object": ({}, "neither SNS records nor an EventBridge event"),
        "records-garbage": ({"Records": [{"Sns": 3}]}, "record is not an SNS record"),
        "alarm-garbage-trigger": (
            sns_event({"AlarmName": "a", "NewStateValue": "ALARM", "Trigger": 7}),
            "could not read the event",
        ),
        "unsupported-eventbridge": (
            {"id": "1", "source": "aws.ec2", "detail-type": "EC2 Instance State", "detail": {}},
            "unsupported event aws.ec2",
        ),
        "manual-without-reason": (manual_event("canary", " ", "alice"), "without a reason"),
    }


NO_CHANGE = (
    "alarm-ok",
    "alarm-insufficient-data",
    "guardduty-low-severity",
    "config-compliant",
    "alarm-unknown-tier",
    "alarm-without-target-group",
    "sns-not-json",
    "sns-other-json",
    "not-an-object",
    "empty-object",
    "records-garbage",
    "alarm-garbage-trigger",
    "unsupported-eventbridge",
    "manual-without-reason",
)
ALERTMANAGER_NO_CHANGE = {
    "alertmanager-resolved": (
        alert("canary", status="resolved"),
        "resolved alerts never undo a rollback",
    ),
    "alertmanager-not-a-rollback": (alert("canary", action=""), "has no action=rollback"),
    "alertmanager-unknown-tier": (alert("qa"), "unknown tier: alert CodexErrorRateHigh tier='qa'"),
}


def _changes_nothing(stack: RollbackStack, event: Any, why: str, logged: Callable[[], str]) -> None:
    before = stack.weights()

    result = stack.invoke(event)  # returns normally: no retry, no crash loop

    assert [o["action"] for o in result["outcomes"]] == ["ignored"]
    assert stack.weights() == before
    assert stack.ledger() == NOT_HELD
    assert stack.scan() == []
    lines = [line for line in log_lines(logged()) if line["level"] == "info"]
    assert len(lines) == 1
    assert lines[0]["message"].startswith("no change: ")
    assert why in lines[0]["message"]


@pytest.mark.parametrize("case", NO_CHANGE)
def test_events_that_change_nothing_log_one_clear_line_and_return(
    make_stack: MakeStack, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = make_stack(week=8)
    event, why = _no_change_events(stack)[case]
    _changes_nothing(stack, event, why, lambda: capsys.readouterr().out)


@pytest.mark.parametrize("case", sorted(ALERTMANAGER_NO_CHANGE))
def test_alerts_that_change_nothing_log_one_clear_line_and_return(
    make_stack: MakeStack,
    render_alertmanager: Render,
    case: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stack = make_stack(week=8)
    one_alert, why = ALERTMANAGER_NO_CHANGE[case]
    event = sns_event(render_alertmanager([one_alert]))
    _changes_nothing(stack, event, why, lambda: capsys.readouterr().out)


def test_a_notification_with_several_alerts_acts_on_each_firing_rollback_alert(
    make_stack: MakeStack, render_alertmanager: Render
) -> None:
    stack = make_stack(week=8)
    message = render_alertmanager(
        [
            alert("canary", fingerprint="aaaa"),
            alert("production", status="resolved", fingerprint="bbbb"),
            alert("production", fingerprint="cccc", name="CodexTierDown"),
        ]
    )
    result = stack.invoke(sns_event(message))
    assert [o["action"] for o in result["outcomes"]] == ["rolled-back", "ignored", "rolled-back"]
    assert stack.weights() == {"sandbox": 100, "canary": 0, "production": 0}
    assert len(stack.audit_records()) == 2


def test_the_observability_variant_of_the_message_is_read_too(make_stack: MakeStack) -> None:
    # Flat alert objects (labels as keys) with an explicit eventId.
    stack = make_stack(week=8)
    message = {
        "version": "1",
        "source": "alertmanager",
        "status": "firing",
        "alerts": [
            {
                "eventId": "alertmanager:3f2a:1795687200",
                "status": "firing",
                "alertname": "CodexLatencyP95High",
                "service": "codegen-api",
                "tier": "production",
                "severity": "medium",
                "action": "rollback",
                "startsAt": "2026-11-26T10:00:00Z",
                "fingerprint": "3f2a",
            }
        ],
    }
    result = stack.invoke(sns_event(message))
    assert result["outcomes"][0]["eventId"] == "alertmanager:3f2a:1795687200"
    assert stack.weights() == {"sandbox": 50, "canary": 50, "production": 0}


def test_the_manual_event_is_read_back_as_a_manual_trigger(make_stack: MakeStack) -> None:
    stack = make_stack(week=8)
    event = manual_event(None, "executive decision", "alice")
    assert (event["source"], event["detail-type"]) == (MANUAL_SOURCE, MANUAL_DETAIL_TYPE)
    [trigger] = parse_event(event, stack.settings)
    assert trigger == Trigger(
        event_id=f"manual:{event['id']}",
        kind="manual",
        tier=None,
        reason="manual rollback by alice: executive decision",
        detail={"operator": "alice"},
    )
