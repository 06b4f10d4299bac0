"""`rollout rollback` / `rollout resume` for an on-call engineer: the configuration from the
stack's outputs, the region from the listener, unknown events refused before any AWS call, no
tracebacks, JSON logs only when asked."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from components.rollback.function.store import Clients
from rollout_cli.app import app
from rollout_rules.contract import ENV_VARS, FUNCTION_TYPE, PURPOSE_ROLLBACK, PURPOSE_TAG
from rollout_rules.rollback import rollback_plan
from tests.components.rollback.conftest import (
    REGION,
    STACK,
    MakeStack,
    RollbackStack,
    alarm_message,
    build_stack,
    inject_error,
    server_client,
    sns_event,
)
from tests.conftest import plan_of

ROLLOUT = Path(sys.executable).with_name("rollout")


def _rollout(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def _outputs_file(tmp_path: Path, env: dict[str, str]) -> Path:
    """What `pulumi stack output --json --show-secrets` prints for the stack (its rollback part)."""
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"week": 8, "rollback": {"environment": env}}))
    return path


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _process(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The console script with exactly `env` (plus PATH to this interpreter, no AWS config)."""
    base = {
        "PATH": str(ROLLOUT.parent),
        "HOME": str(cwd),
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        "AWS_CONFIG_FILE": str(cwd / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(cwd / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    return subprocess.run(
        [str(ROLLOUT), *args],
        env={**base, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


# -- the configuration from the stack's outputs ------------------------------------------------


def test_the_program_exports_the_functions_configuration() -> None:
    result = plan_of("prod", 8)
    [function] = [
        r
        for r in result.by_type(FUNCTION_TYPE)
        if (r.inputs.get("tags") or {}).get(PURPOSE_TAG) == PURPOSE_ROLLBACK
    ]
    exported = result.stack_outputs["rollback"]["environment"]
    assert set(exported) == set(ENV_VARS)
    assert exported == function.inputs["environment"]["variables"]


def test_outputs_file_replaces_the_environment(
    make_stack: MakeStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = make_stack(week=8)
    for name in ENV_VARS:
        monkeypatch.delenv(name)
    outputs = _outputs_file(tmp_path, stack.env)
    code, out, err = _rollout(
        "rollback", "--stack", STACK, "--outputs", str(outputs), "--tier", "canary",
        "--reason", "bug",
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("rolled-back: manual")
    assert stack.weights() == {"sandbox": 11, "canary": 0, "production": 89}
    code, out, err = _rollout("resume", "--outputs", str(outputs), "--reason", "fixed")
    assert code == 0, err
    assert out.startswith("resumed: resume")


def test_outputs_of_another_stack_are_refused(make_stack: MakeStack, tmp_path: Path) -> None:
    stack = make_stack(week=8)
    outputs = _outputs_file(tmp_path, stack.env)
    code, _, err = _rollout(
        "rollback", "--stack", "prod", "--outputs", str(outputs), "--tier", "canary",
        "--reason", "bug",
    )  # fmt: skip
    assert code == 2
    assert "these are the outputs of stack 'test', not 'prod'" in _one_line(err)
    assert stack.weights() == {"sandbox": 10, "canary": 10, "production": 80}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{}", "no rollback.environment in the stack outputs"),
        ('{"rollback": {"environment": {"ROLLOUT_STACK": "test"}}}', "has no ROLLOUT_LISTENER_ARN"),
        ("{", "not JSON"),
    ],
)
def test_bad_outputs_are_one_line_exit_2(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "outputs.json"
    path.write_text(content)
    code, _, err = _rollout("resume", "--outputs", str(path), "--reason", "x")
    assert code == 2
    assert message in _one_line(err)


def test_stack_without_the_pulumi_cli_asks_for_outputs(tmp_path: Path) -> None:
    result = _process(
        ["rollback", "--stack", "prod", "--tier", "canary", "--reason", "x"], {}, tmp_path
    )
    assert result.returncode == 2
    line = _one_line(result.stderr)
    assert "the Pulumi CLI is not installed; give --outputs FILE" in line
    assert "pulumi stack output --json --show-secrets --stack prod" in line


def test_stack_asks_the_pulumi_cli_for_its_outputs(tmp_path: Path) -> None:
    # A stand-in for the Pulumi CLI (not installable here) that records how it is called.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    argv = tmp_path / "argv"
    (bin_dir / "pulumi").write_text(
        f'#!/bin/sh\necho "$@" > {argv}\necho "error: no stack named prod found" >&2\nexit 255\n'
    )
    (bin_dir / "pulumi").chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}{ROLLOUT.parent}"}
    result = _process(["resume", "--stack", "prod", "--reason", "x"], env, tmp_path)
    assert result.returncode == 2
    assert argv.read_text().split() == [
        "stack",
        "output",
        "--json",
        "--show-secrets",
        "--stack",
        "prod",
    ]
    assert _one_line(result.stderr) == (
        "error: `pulumi stack output --json --show-secrets --stack prod` failed (exit 255): "
        "error: no stack named prod found"
    )


# -- the region, and missing AWS settings --------------------------------------------------------


@pytest.fixture
def server_stack(moto_endpoint: str) -> RollbackStack:
    return build_stack(server_client(moto_endpoint), week=8)


def test_the_region_comes_from_the_listener(
    moto_endpoint: str, server_stack: RollbackStack, tmp_path: Path
) -> None:
    outputs = _outputs_file(tmp_path, server_stack.env)
    # As the README told operators: AWS_REGION only (botocore reads AWS_DEFAULT_REGION).
    env = {
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": moto_endpoint,
    }
    args = ["--outputs", str(outputs), "--tier", "canary", "--reason", "bug"]
    result = _process(["rollback", *args], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("rolled-back: manual")
    assert result.stderr == ""
    assert server_stack.weights() == {"sandbox": 11, "canary": 0, "production": 89}
    # No region setting at all: the listener's ARN still says where the stack is.
    del env["AWS_REGION"]
    result = _process(["resume", "--outputs", str(outputs), "--reason", "fixed"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert server_stack.ledger()["held"] is False


def test_missing_credentials_are_one_line(server_stack: RollbackStack, tmp_path: Path) -> None:
    outputs = _outputs_file(tmp_path, server_stack.env)
    result = _process(
        ["rollback", "--outputs", str(outputs), "--tier", "canary", "--reason", "bug"],
        {"AWS_REGION": REGION},
        tmp_path,
    )
    assert result.returncode == 2
    assert _one_line(result.stderr) == (
        "error: rollback not started: AWS: Unable to locate credentials"
    )
    assert server_stack.weights() == {"sandbox": 10, "canary": 10, "production": 80}


# -- events: recognised or refused before any AWS call ---------------------------------------------


@pytest.mark.parametrize(
    ("event", "why"),
    [
        ({"hello": "world"}, "neither SNS records nor an EventBridge event"),
        (
            {"id": "e-1", "source": "aws.ec2", "detail-type": "EC2 State Change", "detail": {}},
            "unsupported event aws.ec2 / EC2 State Change",
        ),
        (
            sns_event({"text": "hi"}),
            "SNS message is neither a CloudWatch alarm nor an Alertmanager notification",
        ),
    ],
    ids=["unknown-shape", "unsupported-source", "unknown-sns-message"],
)
def test_an_unrecognised_event_is_exit_2_before_any_aws_call(
    tmp_path: Path, event: dict[str, Any], why: str
) -> None:
    stack = {
        "ROLLOUT_STACK": "test",
        "ROLLOUT_LISTENER_ARN": f"arn:aws:elasticloadbalancing:{REGION}:123456789012:"
        "listener/app/codex-test/50dc6c495c0c9188/f2f7dc8efc522ab2",
        "ROLLOUT_TARGET_GROUPS": json.dumps(
            {"sandbox": f"arn:aws:elasticloadbalancing:{REGION}:123456789012:targetgroup/s/1"}
        ),
        "ROLLOUT_ROLLBACK_PLAN": rollback_plan(3, ("sandbox",)).to_json(),
        "ROLLOUT_LEDGER_PARAMETER": "/codex-rollout/test/rollback-ledger",
        "ROLLOUT_AUDIT_TABLE": "audit",
        "ROLLOUT_NOTIFY_TOPIC_ARN": f"arn:aws:sns:{REGION}:123456789012:people",
    }
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    # AWS points at a closed port and there are no credentials: any AWS call would fail.
    env = {**stack, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{_closed_port()}"}
    result = _process(["rollback", "--event", str(path)], env, tmp_path)
    assert result.returncode == 2, result.stderr
    assert _one_line(result.stderr) == (
        f"error: --event {path}: not an event the rollback function knows: {why}"
    )
    assert result.stdout == ""


def test_the_function_itself_still_ignores_and_logs_unknown_events(
    make_stack: MakeStack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = make_stack(week=8)
    result = stack.invoke({"hello": "world"})
    assert [o["action"] for o in result["outcomes"]] == ["ignored"]
    assert "neither SNS records nor an EventBridge event" in capsys.readouterr().out


def test_a_recognised_event_that_asks_for_nothing_is_not_an_error(
    make_stack: MakeStack, tmp_path: Path
) -> None:
    stack = make_stack(week=8)
    path = tmp_path / "ok.json"
    path.write_text(json.dumps(alarm_message("p", stack.suffix("canary"), state="OK")))
    code, out, err = _rollout("rollback", "--event", str(path))
    assert code == 0, err
    assert out.startswith("ignored: cloudwatch-alarm")


# -- failures and logs -----------------------------------------------------------------------------


def test_a_failed_resume_says_resume_not_completed(
    make_stack: MakeStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = make_stack(week=8)
    assert _rollout("rollback", "--tier", "canary", "--reason", "bug")[0] == 0
    create = Clients.create

    def denied_clients(session: object = None) -> Clients:
        clients = create()
        inject_error(clients.ssm, "PutParameter", code="AccessDenied", status=403)
        return clients

    monkeypatch.setattr(Clients, "create", staticmethod(denied_clients))
    code, _, err = _rollout("resume", "--reason", "fixed")
    assert code == 1
    assert _one_line(err).startswith("error: resume not completed: ")
    assert "AccessDenied" in err
    assert stack.ledger()["held"] is True


def test_log_json_puts_the_functions_log_lines_on_stderr(make_stack: MakeStack) -> None:
    make_stack(week=8)
    code, out, err = _rollout("rollback", "--tier", "canary", "--reason", "bug", "--log-json")
    assert code == 0, err
    assert out.startswith("rolled-back: manual")
    records = [json.loads(line) for line in err.splitlines()]
    assert records and records[-1]["message"] == "rollback applied"
