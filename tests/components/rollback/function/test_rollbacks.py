"""Applying triggers and resuming under moto: convergence of successive and concurrent triggers,
what an error leaves behind and how a retry completes, the audited resume."""

from __future__ import annotations

import threading
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from components.rollback.function import handler
from components.rollback.function.rollbacks import Rollbacks
from components.rollback.function.store import Clients
from rollout_rules.ledger import NOT_HELD
from tests.components.rollback.conftest import (
    WEEK_8_CANARY_FAILS,
    MakeStack,
    alarm_message,
    guardduty_event,
    inject_error,
    sns_event,
)


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
    clients = [Clients.create(boto3.session.Session()) for _ in events]
    start = threading.Barrier(len(events))
    errors: list[BaseException] = []

    def run(event: Any, client: Clients, owner: str) -> None:
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


def test_an_error_after_the_move_keeps_the_audit_record_and_a_retry_completes(
    make_stack: MakeStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = make_stack(week=8)
    clients = Clients.create()
    monkeypatch.setattr(handler, "_CLIENTS", clients)
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
    assert stack.ledger() == NOT_HELD
    assert stack.scan() == [record]  # the lock is released on the way out too

    stack.invoke(event)  # Lambda's retry of the same event

    [record] = stack.scan()
    assert record["status"]["S"] == "applied"
    assert stack.ledger()["held"] is True
    assert stack.weights() == WEEK_8_CANARY_FAILS


def test_a_failed_notification_is_sent_on_the_retry(
    make_stack: MakeStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = make_stack(week=8)
    clients = Clients.create()
    monkeypatch.setattr(handler, "_CLIENTS", clients)
    inject_error(clients.sns, "Publish", code="AuthorizationError", status=403)
    event = sns_event(alarm_message("c", stack.suffix("canary")))
    with pytest.raises(ClientError):
        stack.invoke(event)
    [record] = stack.audit_records()
    assert record["status"]["S"] == "applied"
    assert record["notified"]["BOOL"] is False
    assert stack.weights() == WEEK_8_CANARY_FAILS

    monkeypatch.setattr(handler, "_CLIENTS", Clients.create())
    assert stack.invoke(event)["outcomes"][0]["action"] == "duplicate"
    [record] = stack.audit_records()
    assert record["notified"]["BOOL"] is True
    assert len(stack.notifications()) == 1


def test_resume_clears_the_hold_with_an_audit_record(make_stack: MakeStack) -> None:
    stack = make_stack(week=8)
    # The ledger as the component creates it (every key, not held) is nothing to resume.
    fresh = Rollbacks(stack.settings, Clients.create())
    assert fresh.resume("nothing held", "alice").action == "not-held"
    assert stack.ledger() == NOT_HELD
    assert stack.scan() == []
    stack.invoke(sns_event(alarm_message("c", stack.suffix("canary"))))
    rollbacks = Rollbacks(stack.settings, Clients.create())

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
