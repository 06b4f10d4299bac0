"""`rollout advance` end to end: the console script against a real Prometheus (backfilled), the
real policy pack for the target week, a moto server for the SSM ledger, and stack files copied
to a temporary project. Exit 0 allowed, 1 refused, 2 bad input; nothing written unless allowed.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from rollout_rules.contract import ledger_parameter_name
from rollout_rules.ledger import NOT_HELD
from tests.conftest import edit_stack, run_cli
from tests.contract_history import History, Traffic
from tests.prometheus_server import PrometheusServer

pytestmark = pytest.mark.slow

SERVICES = ("codegen-api", "validation-worker")
TIERS = ("sandbox", "canary", "production")
HEALTHY = History(
    stack="prod", traffic={(s, t): Traffic() for s in SERVICES for t in TIERS}, hours=2.5
)
FAILING = replace(
    HEALTHY,
    traffic={**HEALTHY.traffic, ("codegen-api", "canary"): Traffic(error_ratio=0.03)},
    coverage=0.74,
)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Any AWS call made by a run with --ledger would go here and fail.
NO_AWS = {
    "AWS_ENDPOINT_URL": f"http://127.0.0.1:{_closed_port()}",
    "AWS_ACCESS_KEY_ID": "none",
    "AWS_SECRET_ACCESS_KEY": "none",
}


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with PrometheusServer(tmp_path_factory.mktemp("healthy")) as server:
        server.backfill(HEALTHY.openmetrics())
        yield server.start()


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with PrometheusServer(tmp_path_factory.mktemp("failing")) as server:
        server.backfill(FAILING.openmetrics())
        yield server.start()


@pytest.fixture
def project(stack_root: Path) -> Path:
    """The project's stack files with prod at week 8, and a ledger file that is not held."""
    edit_stack(stack_root, "prod", lambda c: c["codex-rollout:rollout"].update(week=8))
    (stack_root / "ledger.json").write_text(json.dumps(NOT_HELD))
    return stack_root


def advance(project: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    """`rollout advance --stack prod ARGS` run from `project` (in this process, `run_cli`) with
    `env` added to the environment."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in (env or {}).items():
            patch.setenv(name, value)
        return run_cli("advance", "--stack", "prod", *args, cwd=project)


def test_healthy_week_dry_run_json(project: Path, healthy: str) -> None:
    before = (project / "Pulumi.prod.yaml").read_bytes()
    done = advance(
        project,
        "--prometheus",
        healthy,
        "--window",
        "2h",
        "--ledger",
        "ledger.json",
        "--dry-run",
        "--format",
        "json",
        env=NO_AWS,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    report = json.loads(done.stdout)
    assert {k: report[k] for k in ("stack", "fromWeek", "toWeek", "allowed")} == {
        "stack": "prod",
        "fromWeek": 8,
        "toWeek": 9,
        "allowed": True,
    }
    assert report["refusals"] == []
    for gate in report["gates"]:
        assert {"name", "status", "value", "threshold", "query", "tier", "service"} <= set(gate)
        assert gate["status"] == "pass"
    assert {g["name"] for g in report["gates"]} >= {"policy-pack", "compare-latency-p95"}
    assert (project / "Pulumi.prod.yaml").read_bytes() == before


def test_healthy_week_writes_the_week_and_prints_the_traffic_diff(
    project: Path, healthy: str
) -> None:
    path = project / "Pulumi.prod.yaml"
    before = path.read_text()
    done = advance(
        project,
        "--prometheus",
        healthy,
        "--window",
        "2h",
        "--ledger",
        "ledger.json",
        "--to-week",
        "9",
        env=NO_AWS,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    after = path.read_text()
    assert after == before.replace("    week: 8\n", "    week: 9\n", 1)
    assert "ALLOWED, written" in done.stdout
    assert "traffic: sandbox 10 → 5, canary 10 → 5, production 80 → 90" in done.stdout
    # The program reads the new week.
    check = subprocess.run(
        [str(Path(sys.executable).with_name("rollout")), "config", "validate", "--stack", "prod"],
        capture_output=True,
        text=True,
        cwd=project,
        check=False,
    )
    assert "week 9" in check.stdout, check.stderr


def test_failing_week_is_refused_with_a_markdown_report(
    project: Path, failing: str, tmp_path: Path
) -> None:
    before = (project / "Pulumi.prod.yaml").read_bytes()
    report = tmp_path / "advance.md"
    done = advance(
        project,
        "--prometheus",
        failing,
        "--window",
        "2h",
        "--ledger",
        "ledger.json",
        "--format",
        "markdown",
        "--output",
        str(report),
        env=NO_AWS,
    )
    assert done.returncode == 1, done.stderr + done.stdout
    assert "REFUSED" in done.stdout
    text = report.read_text()
    assert text.startswith("## Advance `prod` from week 8 to week 9: refused")
    assert "| **fail** | error-ratio | canary | codegen-api |" in text
    assert "| **fail** | test-coverage |" in text
    assert "```promql" in text
    assert (project / "Pulumi.prod.yaml").read_bytes() == before


def test_prometheus_down_is_refused(project: Path) -> None:
    done = advance(
        project,
        "--prometheus",
        f"http://127.0.0.1:{_closed_port()}",
        "--window",
        "2h",
        "--ledger",
        "ledger.json",
        "--format",
        "json",
        env=NO_AWS,
    )
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["allowed"] is False
    assert any("Prometheus unreachable" in r for r in report["refusals"])
    statuses = {g["status"] for g in report["gates"] if g["query"]}
    assert statuses == {"inconclusive"}


def test_held_ledger_is_refused(project: Path, healthy: str, held_ledger: dict) -> None:
    (project / "held.json").write_text(json.dumps(held_ledger))
    done = advance(
        project,
        "--prometheus",
        healthy,
        "--window",
        "2h",
        "--ledger",
        "held.json",
        "--format",
        "json",
        env=NO_AWS,
    )
    assert done.returncode == 1, done.stderr
    refusals = json.loads(done.stdout)["refusals"]
    assert any(
        r.startswith("rollback-ledger: fail") and "rollback held since" in r for r in refusals
    )


def test_mandatory_policy_violation_for_the_target_week_is_refused(
    project: Path, healthy: str
) -> None:
    edit_stack(
        project, "prod", lambda c: c["codex-rollout:routing"].update(deletionProtection=False)
    )
    done = advance(
        project,
        "--prometheus",
        healthy,
        "--window",
        "2h",
        "--ledger",
        "ledger.json",
        "--format",
        "json",
        env=NO_AWS,
    )
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    policy = next(g for g in report["gates"] if g["name"] == "policy-pack")
    assert policy["status"] == "fail"
    assert {v["policy"] for v in policy["violations"]} == {"soc2-deletion-protection"}
    assert [r for r in report["refusals"] if r.startswith("policy-pack")]
    assert sum(g["status"] != "pass" for g in report["gates"]) == 1


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = _closed_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # no instance is launched
        server.start()
        yield f"http://127.0.0.1:{port}"
        server.stop()


def test_ledger_is_read_from_ssm_without_ledger_file(
    project: Path, healthy: str, moto: str, held_ledger: dict
) -> None:
    import boto3

    env = {
        "AWS_ENDPOINT_URL": moto,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "eu-west-1",
    }
    ssm = boto3.client(
        "ssm",
        endpoint_url=moto,
        region_name="eu-west-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    name = ledger_parameter_name("prod")
    ssm.put_parameter(Name=name, Value=json.dumps(held_ledger), Type="String", Overwrite=True)
    done = advance(
        project, "--prometheus", healthy, "--window", "2h", "--dry-run", "--format", "json", env=env
    )
    assert done.returncode == 1, done.stderr
    ledger_gate = json.loads(done.stdout)["gates"][0]
    assert ledger_gate["status"] == "fail"
    assert ledger_gate["ledgerSource"] == f"SSM parameter {name}"
    ssm.put_parameter(Name=name, Value=json.dumps(NOT_HELD), Type="String", Overwrite=True)
    done = advance(
        project, "--prometheus", healthy, "--window", "2h", "--dry-run", "--format", "json", env=env
    )
    assert done.returncode == 0, done.stderr + done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--to-week", "10"), "--to-week 10: `rollout advance` moves one week forward"),
        (("--to-week", "8"), "--to-week 8: `rollout advance` moves one week forward"),
        (("--window", "2 hours"), "--window '2 hours': not a duration"),
        (("--format", "xml"), "--format 'xml': expected one of text, json, markdown"),
        (("--ledger", "missing.json"), "--ledger missing.json: cannot read"),
        (("--prometheus", "localhost:9090"), "--prometheus 'localhost:9090': not an http(s) URL"),
        ((), "not in a git repository"),  # no --window outside git
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    project: Path, args: tuple[str, ...], message: str
) -> None:
    before = (project / "Pulumi.prod.yaml").read_bytes()
    base = ["--ledger", "ledger.json"] if "--ledger" not in args else []
    if "--window" not in args and args:
        base += ["--window", "2h"]
    done = advance(project, *base, *args, env=NO_AWS)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("error: ") and message in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stdout == ""
    assert (project / "Pulumi.prod.yaml").read_bytes() == before


def test_bad_promotion_config_exits_2(project: Path) -> None:
    edit_stack(
        project,
        "prod",
        lambda c: c.update(
            {"codex-rollout:promotion": {"maxErrorRatio": 0.001, "targetErrorRatio": 0.01}}
        ),
    )
    done = advance(project, "--window", "2h", "--ledger", "ledger.json", env=NO_AWS)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: codex-rollout:promotion.targetErrorRatio: 0.01 is above maxErrorRatio 0.001 "
        "(the target must be the stricter one)"
    )


def test_promotion_overrides_change_the_thresholds(project: Path, healthy: str) -> None:
    edit_stack(
        project, "prod", lambda c: c.update({"codex-rollout:promotion": {"minTestCoverage": 0.9}})
    )
    done = advance(
        project,
        "--prometheus",
        healthy,
        "--window",
        "2h",
        "--ledger",
        "ledger.json",
        "--format",
        "json",
        "--dry-run",
        env=NO_AWS,
    )
    assert done.returncode == 1, done.stderr
    coverage = next(g for g in json.loads(done.stdout)["gates"] if g["name"] == "test-coverage")
    assert (coverage["status"], coverage["threshold"], coverage["value"]) == ("fail", 0.9, 0.86)
    assert (
        yaml.safe_load((project / "Pulumi.prod.yaml").read_text())["config"][
            "codex-rollout:rollout"
        ]["week"]
        == 8
    )
