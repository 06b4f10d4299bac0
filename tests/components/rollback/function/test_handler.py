"""The Lambda entry point under moto: every trigger kind end to end, replays, configuration."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from components.rollback.function.events import manual_event
from components.rollback.function.settings import SettingsError
from tests.components.rollback.conftest import (
    WEEK_8_CANARY_FAILS,
    WEEK_8_NO_TIER,
    MakeStack,
    RollbackStack,
    alarm_message,
    alert,
    config_event,
    guardduty_event,
    log_lines,
    sns_event,
)


def _trigger_events(stack: RollbackStack) -> dict[str, tuple[Any, dict[str, int]]]:
    """Each trigger kind's event at week 8 (Alertmanager's: below), with the allocation it must
    lead to."""
    canary = stack.suffix("canary")
    return {
        "cloudwatch-alarm": (
            sns_event(alarm_message("codex-rollout-test-canary-latency-p95", canary)),
            WEEK_8_CANARY_FAILS,
        ),
        "cloudwatch-metric-math-alarm": (
            sns_event(
                alarm_message("codex-rollout-test-canary-error-rate", canary, metric_math=True)
            ),
            WEEK_8_CANARY_FAILS,
        ),
        "guardduty": (guardduty_event(severity=8.5), WEEK_8_NO_TIER),
        "config": (config_event(), WEEK_8_NO_TIER),
        "manual": (
            manual_event("canary", "user-reported critical bug", "alice"),
            WEEK_8_CANARY_FAILS,
        ),
    }


KINDS = ("cloudwatch-alarm", "cloudwatch-metric-math-alarm", "guardduty", "config", "manual")


def _rolls_back_once(
    stack: RollbackStack, event: Any, expected: dict[str, int], logged: Callable[[], str]
) -> None:
    """`event` moves the listener to `expected`, holds the ledger, audits and notifies once; a
    replay changes nothing."""
    assert stack.weights() == {"sandbox": 10, "canary": 10, "production": 80}

    result = stack.invoke(event)

    assert stack.weights() == expected
    assert [o["action"] for o in result["outcomes"]] == ["rolled-back"]
    ledger = stack.ledger()
    assert ledger["held"] is True
    assert ledger["allocation"] == expected
    assert ledger["eventId"] == result["outcomes"][0]["eventId"]
    assert ledger["trigger"] == result["outcomes"][0]["kind"]
    # One audit record, and nothing else: a full Scan of the audit table finds exactly one item
    # (the lock the function took is gone).
    items = stack.scan()
    assert len(items) == 1
    record = items[0]
    assert record["eventId"]["S"] == result["outcomes"][0]["eventId"]
    assert record["recordType"]["S"] == "rollback"
    assert record["status"]["S"] == "applied"
    assert record["trafficMoved"]["BOOL"] is True
    assert record["notified"]["BOOL"] is True
    notifications = stack.notifications()
    assert len(notifications) == 1
    assert "ledger is held" in notifications[0]
    assert any(line["message"] == "rollback applied" for line in log_lines(logged()))

    # A replay (SNS redelivery, EventBridge retry, an operator replaying the file) changes nothing.
    replay = stack.invoke(event)
    assert [o["action"] for o in replay["outcomes"]] == ["duplicate"]
    assert stack.weights() == expected
    assert stack.ledger() == ledger
    assert stack.scan() == items
    assert stack.notifications() == []


@pytest.mark.parametrize("kind", KINDS)
def test_each_trigger_moves_traffic_holds_the_ledger_and_audits_once(
    make_stack: MakeStack, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = make_stack(week=8)
    event, expected = _trigger_events(stack)[kind]
    _rolls_back_once(stack, event, expected, lambda: capsys.readouterr().out)


def test_an_alertmanager_alert_moves_traffic_holds_the_ledger_and_audits_once(
    make_stack: MakeStack,
    render_alertmanager: Callable[[list[dict[str, Any]]], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    stack = make_stack(week=8)
    event = sns_event(render_alertmanager([alert("canary")]))
    _rolls_back_once(stack, event, WEEK_8_CANARY_FAILS, lambda: capsys.readouterr().out)


def test_missing_configuration_fails_loudly(
    make_stack: MakeStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = make_stack(week=8)
    monkeypatch.delenv("ROLLOUT_AUDIT_TABLE")
    with pytest.raises(SettingsError, match="ROLLOUT_AUDIT_TABLE: not set"):
        stack.invoke(guardduty_event())  # raised: Lambda retries, then the dead-letter queue
    assert stack.weights() == {"sandbox": 10, "canary": 10, "production": 80}
    [line] = log_lines(capsys.readouterr().out)
    assert (line["level"], line["message"]) == (
        "error",
        "rollback function misconfigured; no change",
    )


def test_only_tier_with_traffic_failing_holds_weights_and_pages(make_stack: MakeStack) -> None:
    stack = make_stack(week=4)  # sandbox 100, canary's environment exists at 0
    result = stack.invoke(sns_event(alarm_message("s", stack.suffix("sandbox"))))
    assert result["outcomes"][0]["action"] == "held"
    assert stack.weights() == {"sandbox": 100, "canary": 0}
    ledger = stack.ledger()
    assert ledger["held"] is True
    assert ledger["allocation"] == {"sandbox": 100, "canary": 0}
    [message] = stack.notifications()
    assert "no other tier has traffic to take over" in message


def test_a_security_incident_on_the_plateau_holds_the_previous_weeks_weights(
    make_stack: MakeStack,
) -> None:
    # Week 10's previous week (9) has the same allocation: no traffic moves, but the rollout is
    # frozen (ledger held) and people are told.
    stack = make_stack(week=10)
    before = stack.weights()
    stack.invoke(guardduty_event(severity=8.0))
    assert stack.weights() == before == {"sandbox": 5, "canary": 5, "production": 90}
    ledger = stack.ledger()
    assert ledger["held"] is True
    assert ledger["allocation"] == before
    assert len(stack.audit_records()) == 1
    assert len(stack.notifications()) == 1
