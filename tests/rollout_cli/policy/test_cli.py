"""`rollout policy`: exit codes, formats, --output, bad input as one line with exit 2, render
directories, and the coverage command, each in a fresh process."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.policies.state import StateBuilder

pytestmark = pytest.mark.slow  # the command starts the pack process

Cli = Callable[..., subprocess.CompletedProcess[str]]


def write(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document))
    return path


def test_cli_exit_codes_and_formats(
    cli: Cli, tmp_path: Path, violating_state: dict[str, Any]
) -> None:
    bad = write(tmp_path / "bad.json", violating_state)
    result = cli("policy", "check", "--export", str(bad), "--format", "json")
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["summary"]["mandatory"] == 1

    config = write(tmp_path / "config.json", {"security-group-no-public-ingress": "advisory"})
    out = tmp_path / "report.sarif"
    result = cli(
        "policy",
        "check",
        "--export",
        str(bad),
        "--config",
        str(config),
        "--format",
        "sarif",
        "--output",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("policy check PASS")
    assert json.loads(out.read_text())["version"] == "2.1.0"


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--export", "missing.json"], "error: --export missing.json: cannot read"),
        (
            ["--export", "{state}", "--config", "{config}"],
            "error: invalid policy config: gdpr-log-retention: maxRetentionDays",
        ),
        (["--export", "{state}", "--format", "yaml"], "error: --format 'yaml'"),
        (
            ["--export", "{state}", "--stack", "prod"],
            "error: give exactly one of --stack or --export",
        ),
        (
            ["--export", "{state}", "--week", "3"],
            "error: --week, --from-week and --ledger go with --stack",
        ),
        (
            ["--export", "{state}", "--from-week", "3"],
            "error: --week, --from-week and --ledger go with --stack",
        ),
        (["--stack", "nosuchstack"], "error: "),
        (["--export", "{garbage}"], "error: --export"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(
    cli: Cli, builder: StateBuilder, tmp_path: Path, args: list[str], error: str
) -> None:
    files = {
        "state": write(tmp_path / "state.json", builder.state()),
        "config": write(tmp_path / "c.json", {"gdpr-log-retention": {"maxRetentionDays": -1}}),
        "garbage": tmp_path / "garbage.json",
    }
    files["garbage"].write_text("{oops")
    argv = [a.format(**{k: str(v) for k, v in files.items()}) for a in args]
    result = cli("policy", "check", *argv)
    assert result.returncode == 2
    assert result.stderr.startswith(error)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_cli_reads_a_render_directory(
    cli: Cli,
    builder: StateBuilder,
    compliant_deployment: Callable[[], dict[str, Any]],
    tmp_path: Path,
) -> None:
    builder.add("kubernetes:apps/v1:Deployment", "api", compliant_deployment())
    write(tmp_path / "resources.json", builder.state())
    result = cli("policy", "check", "--export", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_cli_coverage(cli: Cli) -> None:
    result = cli("policy", "coverage", "--format", "markdown")
    assert result.returncode == 0
    assert "`rollout-rollback-budget`" in result.stdout
