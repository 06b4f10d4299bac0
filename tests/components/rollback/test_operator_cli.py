"""`rollout rollback` and `rollout resume` (rollout_cli/operator.py): the function's code path,
driven from the command line against the stack under moto."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from components.rollback.function.store import Clients
from rollout_cli.app import app
from tests.components.rollback.conftest import (
    MakeStack,
    alarm_message,
    inject_error,
    sns_event,
)


def _rollout(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_manual_rollback_of_a_tier(make_stack: MakeStack) -> None:
    stack = make_stack(week=8)
    code, out, err = _rollout(
        "rollback", "--tier", "canary", "--reason", "user-reported critical bug", "--operator", "al"
    )
    assert code == 0, err
    assert out.startswith("rolled-back: manual manual:")
    assert stack.weights() == {"sandbox": 11, "canary": 0, "production": 89}
    ledger = stack.ledger()
    assert (ledger["held"], ledger["trigger"], ledger["tier"]) == (True, "manual", "canary")
    assert "manual rollback by al: user-reported critical bug" in ledger["reason"]
    assert len(stack.audit_records()) == 1
    assert err == ""  # the function's JSON logs stay off the terminal (--log-json shows them)


def test_manual_rollback_without_a_tier_goes_to_the_previous_week(make_stack: MakeStack) -> None:
    stack = make_stack(week=9)
    code, _, err = _rollout("rollback", "--reason", "executive decision", "--json")
    assert code == 0, err
    assert stack.weights() == {"sandbox": 10, "canary": 10, "production": 80}


def test_replaying_an_event_file_is_idempotent(make_stack: MakeStack, tmp_path: Path) -> None:
    stack = make_stack(week=8)
    lambda_event = tmp_path / "event.json"
    lambda_event.write_text(json.dumps(sns_event(alarm_message("p", stack.suffix("production")))))
    code, out, err = _rollout("rollback", "--event", str(lambda_event), "--json")
    assert code == 0, err
    [outcome] = json.loads(out)
    assert outcome["action"] == "rolled-back"
    assert stack.weights() == {"sandbox": 50, "canary": 50, "production": 0}
    # The bare alarm message (as found in the people topic's e-mail) is the same event.
    bare = tmp_path / "alarm.json"
    bare.write_text(json.dumps(alarm_message("p", stack.suffix("production"))))
    code, out, _ = _rollout("rollback", "--event", str(bare), "--json")
    assert code == 0
    assert json.loads(out)[0]["action"] == "duplicate"
    assert len(stack.audit_records()) == 1


def test_resume(make_stack: MakeStack) -> None:
    stack = make_stack(week=8)
    _rollout("rollback", "--tier", "canary", "--reason", "bug")
    code, out, err = _rollout("resume", "--reason", "fixed in 1.4.2", "--operator", "al")
    assert code == 0, err
    assert out.startswith("resumed: resume resume:")
    assert stack.ledger()["held"] is False
    code, out, _ = _rollout("resume", "--reason", "again")
    assert (code, out.split(":")[0]) == (0, "not-held")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rollback", "--tier", "canary"], "--reason is required for a manual rollback"),
        (["rollback", "--tier", "qa", "--reason", "x"], "--tier qa: not a tier with an environ"),
        (["rollback", "--event", "missing.json"], "--event missing.json: cannot read"),
        (
            ["rollback", "--event", "e.json", "--tier", "canary"],
            "--event replays an event as it is",
        ),
        (["resume", "--reason", " "], "--reason must say why"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    make_stack: MakeStack, args: list[str], message: str
) -> None:
    stack = make_stack(week=8)
    code, _, err = _rollout(*args)
    assert code == 2
    assert err.strip().startswith(f"error: {message}")
    assert stack.weights() == {"sandbox": 10, "canary": 10, "production": 80}


def test_missing_environment_is_exit_2(
    make_stack: MakeStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_stack(week=8)
    monkeypatch.delenv("ROLLOUT_LISTENER_ARN")
    code, _, err = _rollout("rollback", "--tier", "canary", "--reason", "x")
    assert code == 2
    assert err.strip() == (
        "error: ROLLOUT_LISTENER_ARN: not set (the program sets it; see docs/rollback.md)"
    )


def test_aws_refusing_is_exit_1(make_stack: MakeStack, monkeypatch: pytest.MonkeyPatch) -> None:
    stack = make_stack(week=8)
    create = Clients.create

    def denied_clients(session: object = None) -> Clients:
        clients = create()
        inject_error(clients.elbv2, "ModifyListener", code="AccessDenied", status=403)
        return clients

    monkeypatch.setattr(Clients, "create", staticmethod(denied_clients))
    code, _, err = _rollout("rollback", "--tier", "canary", "--reason", "x")
    assert code == 1
    assert "error: rollback not completed:" in err
    assert "AccessDenied" in err
    assert stack.weights() == {"sandbox": 10, "canary": 10, "production": 80}
