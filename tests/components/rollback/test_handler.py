"""The rollback function under moto: every trigger kind, idempotency, no-ops, retries, races."""

from __future__ import annotations

import ast
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from components.rollback import handler
from components.rollback.component import INITIAL_LEDGER
from tests.components.rollback.conftest import (
    REGION,
    RollbackStack,
    alarm_message,
    alert,
    config_event,
    guardduty_event,
    inject_error,
    log_lines,
    render_alertmanager,
    sns_event,
)

MakeStack = Callable[..., RollbackStack]
WEEK_8_CANARY_FAILS = {"sandbox": 11, "canary": 0, "production": 89}
WEEK_8_NO_TIER = {"sandbox": 20, "canary": 80, "production": 0}


def _trigger_events(stack: RollbackStack, tmp_path: Path) -> dict[str, tuple[Any, dict]]:
    """Each trigger kind's event at week 8, with the allocation it must lead to."""
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
        "alertmanager": (
            sns_event(render_alertmanager([alert("canary")], tmp_path)),
            WEEK_8_CANARY_FAILS,
        ),
        "guardduty": (guardduty_event(severity=8.5), WEEK_8_NO_TIER),
        "config": (config_event(), WEEK_8_NO_TIER),
        "manual": (
            handler.manual_event("canary", "user-reported critical bug", "alice"),
            WEEK_8_CANARY_FAILS,
        ),
    }


KINDS = (
    "cloudwatch-alarm",
    "cloudwatch-metric-math-alarm",
    "alertmanager",
    "guardduty",
    "config",
    "manual",
)


@pytest.mark.parametrize("kind", KINDS)
def test_each_trigger_moves_traffic_holds_the_ledger_and_audits_once(
    make_stack: MakeStack, tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = make_stack(week=8)
    event, expected = _trigger_events(stack, tmp_path)[kind]
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
    assert any(line["message"] == "rollback applied" for line in log_lines(capsys.readouterr().out))

    # A replay (SNS redelivery, EventBridge retry, an operator replaying the file) changes nothing.
    replay = stack.invoke(event)
    assert [o["action"] for o in replay["outcomes"]] == ["duplicate"]
    assert stack.weights() == expected
    assert stack.ledger() == ledger
    assert stack.scan() == items
    assert stack.notifications() == []


def _no_change_events(stack: RollbackStack, tmp_path: Path) -> dict[str, tuple[Any, str]]:
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
        "alertmanager-resolved": (
            sns_event(render_alertmanager([alert("canary", status="resolved")], tmp_path)),
            "resolved alerts never undo a rollback",
        ),
        "alertmanager-not-a-rollback": (
            sns_event(render_alertmanager([alert("canary", action="")], tmp_path)),
            "has no action=rollback",
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
        "alertmanager-unknown-tier": (
            sns_event(render_alertmanager([alert("qa")], tmp_path)),
            "unknown tier: alert CodexErrorRateHigh tier='qa'",
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
    }


NO_CHANGE = (
    "alarm-ok",
    "alarm-insufficient-data",
    "alertmanager-resolved",
    "alertmanager-not-a-rollback",
    "guardduty-low-severity",
    "config-compliant",
    "alarm-unknown-tier",
    "alarm-without-target-group",
    "alertmanager-unknown-tier",
    "sns-not-json",
    "sns-other-json",
    "not-an-object",
    "empty-object",
    "records-garbage",
    "alarm-garbage-trigger",
    "unsupported-eventbridge",
)


@pytest.mark.parametrize("case", NO_CHANGE)
def test_events_that_change_nothing_log_one_clear_line_and_return(
    make_stack: MakeStack, tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = make_stack(week=8)
    event, why = _no_change_events(stack, tmp_path)[case]
    before = stack.weights()

    result = stack.invoke(event)  # returns normally: no retry, no crash loop

    assert [o["action"] for o in result["outcomes"]] == ["ignored"]
    assert stack.weights() == before
    assert stack.ledger() == INITIAL_LEDGER
    assert stack.scan() == []
    lines = [line for line in log_lines(capsys.readouterr().out) if line["level"] == "info"]
    assert len(lines) == 1
    assert lines[0]["message"].startswith("no change: ")
    assert why in lines[0]["message"]


def test_a_notification_with_several_alerts_acts_on_each_firing_rollback_alert(
    make_stack: MakeStack, tmp_path: Path
) -> None:
    stack = make_stack(week=8)
    message = render_alertmanager(
        [
            alert("canary", fingerprint="aaaa"),
            alert("production", status="resolved", fingerprint="bbbb"),
            alert("production", fingerprint="cccc", name="CodexTierDown"),
        ],
        tmp_path,
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


def test_a_failing_tier_is_never_raised_by_a_later_trigger(make_stack: MakeStack) -> None:
    stack = make_stack(week=8)
    stack.invoke(sns_event(alarm_message("c", stack.suffix("canary"))))
    assert stack.weights() == WEEK_8_CANARY_FAILS
    # The security rollback's precomputed allocation is week 7's 20/80/0, which would give the
    # failed canary 80%: canary stays at 0, production goes to 0 as the incident asks.
    stack.invoke(guardduty_event())
    assert stack.weights() == {"sandbox": 100, "canary": 0, "production": 0}
    assert stack.ledger()["allocation"] == {"sandbox": 100, "canary": 0, "production": 0}
    assert len(stack.audit_records()) == 2


def test_a_new_alarm_for_a_tier_already_at_zero_moves_nothing(make_stack: MakeStack) -> None:
    stack = make_stack(week=8)
    stack.invoke(sns_event(alarm_message("c", stack.suffix("canary"))))
    later = alarm_message("c", stack.suffix("canary"), changed="2026-11-26T11:00:00.000+0000")
    [outcome] = stack.invoke(sns_event(later))["outcomes"]
    assert outcome["action"] == "held"
    assert outcome["why"] == "the listener already has these weights"
    assert stack.weights() == WEEK_8_CANARY_FAILS
    assert stack.ledger()["eventId"] == outcome["eventId"]
    assert len(stack.audit_records()) == 2


@pytest.mark.parametrize("order", [("canary", "production"), ("production", "canary")])
def test_successive_triggers_converge_whatever_the_order(
    make_stack: MakeStack, order: tuple[str, str]
) -> None:
    stack = make_stack(week=8)
    for tier in order:
        stack.invoke(sns_event(alarm_message(f"{tier}-errors", stack.suffix(tier))))
    assert stack.weights() == {"sandbox": 100, "canary": 0, "production": 0}


def test_concurrent_triggers_converge(make_stack: MakeStack) -> None:
    stack = make_stack(week=8)
    settings = stack.settings
    events = [
        sns_event(alarm_message("canary-errors", stack.suffix("canary")), "m1"),
        sns_event(alarm_message("production-latency", stack.suffix("production")), "m2"),
        guardduty_event(severity=9.0, finding="f-9"),
    ]
    clients = [handler.Clients.create(boto3.session.Session()) for _ in events]
    start = threading.Barrier(len(events))
    errors: list[BaseException] = []

    def run(event: Any, client: handler.Clients, owner: str) -> None:
        try:
            start.wait()
            handler.process(event, settings, client, owner)
        except BaseException as err:  # surfaced below
            errors.append(err)

    threads = [
        threading.Thread(target=run, args=(event, client, f"worker-{i}"))
        for i, (event, client) in enumerate(zip(events, clients, strict=True))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    # Canary and production both failed: whatever the interleaving, sandbox takes everything.
    assert stack.weights() == {"sandbox": 100, "canary": 0, "production": 0}
    assert stack.ledger()["allocation"] == {"sandbox": 100, "canary": 0, "production": 0}
    # Three audit records and no lock row left behind.
    items = stack.scan()
    assert len(items) == 3
    assert {i["recordType"]["S"] for i in items} == {"rollback"}


def test_an_expired_lock_is_taken_over(make_stack: MakeStack) -> None:
    stack = make_stack(week=8)
    stack.dynamodb.put_item(
        TableName="rollback-audit-test",
        Item={
            "eventId": {"S": "lock#test"},
            "recordType": {"S": "lock"},
            "holder": {"S": "crashed-invocation"},
            "expiresAt": {"N": "1"},
        },
    )
    stack.invoke(sns_event(alarm_message("c", stack.suffix("canary"))))
    assert stack.weights() == WEEK_8_CANARY_FAILS
    # The crashed holder's row was taken over and released: only the audit record remains.
    [item] = stack.scan()
    assert item["recordType"]["S"] == "rollback"


def test_a_lock_taken_over_is_not_deleted_by_its_former_holder(
    make_stack: MakeStack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = make_stack(week=8)
    clients = handler.Clients.create()
    slow = handler.Rollbacks(stack.settings, clients, owner="slow")
    with slow.lock():
        # The lease runs out while `slow` still works; another invocation takes the lock over.
        stack.dynamodb.update_item(
            TableName="rollback-audit-test",
            Key={"eventId": {"S": "lock#test"}},
            UpdateExpression="SET holder = :other",
            ExpressionAttributeValues={":other": {"S": "successor"}},
        )
    [lock] = stack.scan()  # the successor's lock stays
    assert lock["holder"]["S"] == "successor"
    warnings = [line for line in log_lines(capsys.readouterr().out) if line["level"] == "warning"]
    assert [w["message"] for w in warnings] == ["lock lease expired before release"]


def test_a_failed_release_is_logged_and_the_lease_frees_the_lock(
    make_stack: MakeStack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = make_stack(week=8)
    clients = handler.Clients.create()
    handler._CLIENTS = clients
    inject_error(clients.dynamodb, "DeleteItem", code="AccessDeniedException", json_protocol=True)

    result = stack.invoke(sns_event(alarm_message("c", stack.suffix("canary"))))

    # The rollback is done and not retried; the row stays until its lease expires.
    assert result["outcomes"][0]["action"] == "rolled-back"
    assert stack.weights() == WEEK_8_CANARY_FAILS
    errors = [line for line in log_lines(capsys.readouterr().out) if line["level"] == "error"]
    assert [e["message"] for e in errors] == [
        "lock not released; the next rollback takes it over when the lease expires"
    ]
    assert sorted(i["recordType"]["S"] for i in stack.scan()) == ["lock", "rollback"]
    stack.dynamodb.update_item(  # the lease runs out
        TableName="rollback-audit-test",
        Key={"eventId": {"S": "lock#test"}},
        UpdateExpression="SET expiresAt = :past",
        ExpressionAttributeValues={":past": {"N": "1"}},
    )
    handler._CLIENTS = handler.Clients.create()
    stack.invoke(guardduty_event())
    assert sorted(i["recordType"]["S"] for i in stack.scan()) == ["rollback", "rollback"]


def test_a_held_lock_makes_the_second_rollback_wait(
    make_stack: MakeStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = make_stack(week=8)
    monkeypatch.setattr(handler, "LOCK_WAIT_SECONDS", 0.3)
    holder = handler.Rollbacks(stack.settings, handler.Clients.create(), owner="first")
    with holder.lock(), pytest.raises(handler.LockTimeoutError):
        stack.invoke(sns_event(alarm_message("c", stack.suffix("canary"))))
    assert stack.weights() == {"sandbox": 10, "canary": 10, "production": 80}
    # Lambda retries the event once the lock is free.
    stack.invoke(sns_event(alarm_message("c", stack.suffix("canary"))))
    assert stack.weights() == WEEK_8_CANARY_FAILS
    assert [i["recordType"]["S"] for i in stack.scan()] == ["rollback"]


def test_throttling_is_retried_with_backoff(make_stack: MakeStack) -> None:
    stack = make_stack(week=8)
    clients = handler.Clients.create()
    handler._CLIENTS = clients
    throttled = inject_error(clients.elbv2, "ModifyListener", code="Throttling", times=2)
    busy = inject_error(
        clients.ssm, "PutParameter", code="TooManyUpdates", times=1, json_protocol=True
    )

    result = stack.invoke(sns_event(alarm_message("c", stack.suffix("canary"))))

    assert result["outcomes"][0]["action"] == "rolled-back"
    assert throttled.calls == 3  # two throttled answers, botocore's standard retry, then success
    assert busy.calls == 2  # SSM's TooManyUpdates is retried by the function itself
    assert stack.weights() == WEEK_8_CANARY_FAILS
    assert stack.ledger()["held"] is True


def test_an_error_after_the_move_keeps_the_audit_record_and_a_retry_completes(
    make_stack: MakeStack,
) -> None:
    stack = make_stack(week=8)
    clients = handler.Clients.create()
    handler._CLIENTS = clients
    denied = inject_error(
        clients.ssm, "PutParameter", code="AccessDeniedException", times=1, json_protocol=True
    )
    event = sns_event(alarm_message("c", stack.suffix("canary")))

    with pytest.raises(ClientError, match="AccessDeniedException"):
        stack.invoke(event)  # raised: Lambda retries, then the dead-letter queue keeps it

    assert denied.calls == 1
    assert stack.weights() == WEEK_8_CANARY_FAILS
    [record] = stack.audit_records()
    assert record["status"]["S"] == "failed"
    assert record["trafficMoved"]["BOOL"] is True
    assert "AccessDeniedException" in record["error"]["S"]
    assert stack.ledger() == INITIAL_LEDGER
    assert stack.scan() == [record]  # the lock is released on the way out too

    stack.invoke(event)  # Lambda's retry of the same event

    [record] = stack.scan()
    assert record["status"]["S"] == "applied"
    assert stack.ledger()["held"] is True
    assert stack.weights() == WEEK_8_CANARY_FAILS


def test_a_failed_notification_is_sent_on_the_retry(make_stack: MakeStack) -> None:
    stack = make_stack(week=8)
    clients = handler.Clients.create()
    handler._CLIENTS = clients
    inject_error(clients.sns, "Publish", code="AuthorizationError", status=403)
    event = sns_event(alarm_message("c", stack.suffix("canary")))
    with pytest.raises(ClientError):
        stack.invoke(event)
    [record] = stack.audit_records()
    assert record["status"]["S"] == "applied"
    assert record["notified"]["BOOL"] is False
    assert stack.weights() == WEEK_8_CANARY_FAILS

    handler._CLIENTS = handler.Clients.create()
    assert stack.invoke(event)["outcomes"][0]["action"] == "duplicate"
    [record] = stack.audit_records()
    assert record["notified"]["BOOL"] is True
    assert len(stack.notifications()) == 1


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


def test_resume_clears_the_hold_with_an_audit_record(make_stack: MakeStack) -> None:
    stack = make_stack(week=8)
    # The ledger as the component creates it (every key, not held) is nothing to resume.
    fresh = handler.Rollbacks(stack.settings, handler.Clients.create())
    assert fresh.resume("nothing held", "alice").action == "not-held"
    assert stack.ledger() == INITIAL_LEDGER
    assert stack.scan() == []
    stack.invoke(sns_event(alarm_message("c", stack.suffix("canary"))))
    rollbacks = handler.Rollbacks(stack.settings, handler.Clients.create())

    outcome = rollbacks.resume("canary fixed in 1.4.2", "alice")

    assert outcome.action == "resumed"
    ledger = stack.ledger()
    assert ledger["held"] is False
    assert ledger["trigger"] == "resume"
    assert ledger["eventId"] == outcome.event_id
    assert stack.weights() == WEEK_8_CANARY_FAILS  # traffic stays until `pulumi up`
    kinds = sorted(r["recordType"]["S"] for r in stack.scan())
    assert kinds == ["resume", "rollback"]
    assert rollbacks.resume("again", "alice").action == "not-held"


def test_missing_configuration_fails_loudly(
    make_stack: MakeStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = make_stack(week=8)
    monkeypatch.delenv("ROLLOUT_AUDIT_TABLE")
    with pytest.raises(handler.SettingsError, match="ROLLOUT_AUDIT_TABLE: not set"):
        stack.invoke(guardduty_event())
    assert stack.weights() == {"sandbox": 10, "canary": 10, "production": 80}


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        ("ROLLOUT_TARGET_GROUPS", "{}", "not a JSON object of tier -> ARN"),
        ("ROLLOUT_TARGET_GROUPS", '{"qa": "arn:x"}', "'qa' -> 'arn:x' is not a tier"),
        ("ROLLOUT_ROLLBACK_PLAN", "{", "ROLLOUT_ROLLBACK_PLAN: not JSON"),
        ("ROLLOUT_ROLLBACK_PLAN", '{"allocations": {}}', 'with a "none" entry'),
        (
            "ROLLOUT_ROLLBACK_PLAN",
            '{"allocations": {"none": {"sandbox": 50}}}',
            "allocation 'none' is not tier weights summing to 100",
        ),
    ],
)
def test_settings_validation(make_stack: MakeStack, name: str, value: str, match: str) -> None:
    stack = make_stack(week=8)
    with pytest.raises(handler.SettingsError, match=match):
        handler.Settings.from_env({**stack.env, name: value})


def test_endpoints_come_from_the_standard_aws_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:4566")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    clients = handler.Clients.create(boto3.session.Session())
    assert clients.elbv2.meta.endpoint_url == "http://localhost:4566"
    assert clients.dynamodb.meta.config.retries["mode"] == "standard"


def test_the_function_needs_only_the_standard_library_and_boto3() -> None:
    # It ships alone as handler.py in the zip: no infra.*, no pulumi, no third-party packages
    # beyond the boto3 the Lambda runtime provides.
    tree = ast.parse(Path(handler.__file__).read_text())
    modules = {
        (node.module or "").split(".")[0] if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    modules = {m.split(".")[0] for m in modules}
    assert modules - set(sys.stdlib_module_names) == {"boto3", "botocore"}


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
