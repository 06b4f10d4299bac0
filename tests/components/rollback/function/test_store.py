"""The function's AWS side under moto: the stack's lock (lease, takeover, release), retries of
throttled calls, and clients configured from the standard AWS settings."""

from __future__ import annotations

import boto3
import pytest

from components.rollback.function import handler, store
from components.rollback.function.store import Clients, LockTimeoutError, Store
from tests.components.rollback.conftest import (
    AUDIT_TABLE,
    REGION,
    WEEK_8_CANARY_FAILS,
    MakeStack,
    alarm_message,
    guardduty_event,
    inject_error,
    log_lines,
    sns_event,
)


def test_an_expired_lock_is_taken_over(make_stack: MakeStack) -> None:
    stack = make_stack(week=8)
    stack.dynamodb.put_item(
        TableName=AUDIT_TABLE,
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
    slow = Store(stack.settings, Clients.create(), owner="slow")
    with slow.lock():
        # The lease runs out while `slow` still works; another invocation takes the lock over.
        stack.dynamodb.update_item(
            TableName=AUDIT_TABLE,
            Key={"eventId": {"S": "lock#test"}},
            UpdateExpression="SET holder = :other",
            ExpressionAttributeValues={":other": {"S": "successor"}},
        )
    [lock] = stack.scan()  # the successor's lock stays
    assert lock["holder"]["S"] == "successor"
    warnings = [line for line in log_lines(capsys.readouterr().out) if line["level"] == "warning"]
    assert [w["message"] for w in warnings] == ["lock lease expired before release"]


def test_a_failed_release_is_logged_and_the_lease_frees_the_lock(
    make_stack: MakeStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = make_stack(week=8)
    clients = Clients.create()
    monkeypatch.setattr(handler, "_CLIENTS", clients)
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
        TableName=AUDIT_TABLE,
        Key={"eventId": {"S": "lock#test"}},
        UpdateExpression="SET expiresAt = :past",
        ExpressionAttributeValues={":past": {"N": "1"}},
    )
    monkeypatch.setattr(handler, "_CLIENTS", Clients.create())
    stack.invoke(guardduty_event())
    assert sorted(i["recordType"]["S"] for i in stack.scan()) == ["rollback", "rollback"]


def test_a_held_lock_makes_the_second_rollback_wait(
    make_stack: MakeStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = make_stack(week=8)
    monkeypatch.setattr(store, "LOCK_WAIT_SECONDS", 0.3)
    holder = Store(stack.settings, Clients.create(), owner="first")
    with holder.lock(), pytest.raises(LockTimeoutError):
        stack.invoke(sns_event(alarm_message("c", stack.suffix("canary"))))
    assert stack.weights() == {"sandbox": 10, "canary": 10, "production": 80}
    # Lambda retries the event once the lock is free.
    stack.invoke(sns_event(alarm_message("c", stack.suffix("canary"))))
    assert stack.weights() == WEEK_8_CANARY_FAILS
    assert [i["recordType"]["S"] for i in stack.scan()] == ["rollback"]


def test_throttling_is_retried_with_backoff(
    make_stack: MakeStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = make_stack(week=8)
    clients = Clients.create()
    monkeypatch.setattr(handler, "_CLIENTS", clients)
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


def test_endpoints_come_from_the_standard_aws_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:4566")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    clients = Clients.create(boto3.session.Session())
    assert clients.elbv2.meta.endpoint_url == "http://localhost:4566"
    assert clients.dynamodb.meta.config.retries["mode"] == "standard"
