"""`rollout policy check --rego`: the Gatekeeper policies over a render or an export, in a fresh
process, with the pack's output formats and exit codes."""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rollout_cli.render import render
from tests.conftest import plan_of

pytestmark = pytest.mark.slow  # whole-program renders and the console script

Cli = Callable[..., subprocess.CompletedProcess[str]]


def _rendered(tmp_path: Path, week: int) -> Path:
    out = tmp_path / f"week{week}"
    render(plan_of("sandbox", week), out)
    return out


def _with_bad_pod(rendered: Path, namespace: str) -> Path:
    """The render plus a privileged Pod, as `kubectl run` by hand would add it."""
    state = json.loads((rendered / "resources.json").read_text())
    resources = state["deployment"]["resources"]
    deployment = next(r for r in resources if r["type"] == "kubernetes:apps/v1:Deployment")
    template = deployment["inputs"]["spec"]["template"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            **copy.deepcopy(template["metadata"]),
            "name": "debug",
            "namespace": namespace,
        },
        "spec": copy.deepcopy(template["spec"]),
    }
    pod["spec"]["containers"][0]["securityContext"]["privileged"] = True
    urn = (
        deployment["urn"].rsplit("::", 1)[0].rsplit("::", 1)[0] + "::kubernetes:core/v1:Pod::debug"
    )
    resources.append(
        {
            "urn": urn,
            "custom": True,
            "type": "kubernetes:core/v1:Pod",
            "inputs": pod,
            "outputs": pod,
        }
    )
    path = rendered.parent / f"{rendered.name}-bad.json"
    path.write_text(json.dumps(state))
    return path


def test_a_clean_render_passes(cli: Cli, tmp_path: Path) -> None:
    result = cli("policy", "check", "--export", str(_rendered(tmp_path, 12)), "--rego")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "policy check PASS: 0 violation(s)" in result.stdout


def test_a_bad_pod_fails_where_its_tier_denies(cli: Cli, tmp_path: Path) -> None:
    bad = _with_bad_pod(_rendered(tmp_path, 12), "codex-production")
    result = cli("policy", "check", "--export", str(bad), "--rego", "--format", "json")
    assert result.returncode == 1, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    (violation,) = report["violations"]
    assert violation["policy"] == "CodexPodSecurity"
    assert violation["enforcementLevel"] == "mandatory"
    assert violation["urn"].endswith("::debug")
    assert "[k8s-pod-security-restricted-production] (deny)" in violation["message"]
    assert "container 'codegen-api' is privileged" in violation["message"]
    assert violation["framework"]  # the pack's framework reference comes along

    sarif = tmp_path / "gk.sarif"
    result = cli("policy", "check", "--export", str(bad), "--rego", "-f", "sarif", "-o", str(sarif))
    assert result.returncode == 1
    assert json.loads(sarif.read_text())["runs"][0]["results"]


def test_in_dryrun_weeks_it_is_reported_not_refused(cli: Cli, tmp_path: Path) -> None:
    # Week 1: every tier's constraints are dryrun.
    bad = _with_bad_pod(_rendered(tmp_path, 1), "codex-sandbox")
    result = cli("policy", "check", "--export", str(bad), "--rego", "--format", "json")
    assert result.returncode == 0, result.stderr
    (violation,) = json.loads(result.stdout)["violations"]
    assert violation["enforcementLevel"] == "advisory"
    assert "(dryrun)" in violation["message"]


def test_stack_and_week_render_offline(cli: Cli) -> None:
    result = cli("policy", "check", "--stack", "prod", "--week", "8", "--rego")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 policies" in result.stdout


def test_bad_input_is_one_line_and_exit_2(cli: Cli, tmp_path: Path) -> None:
    no_templates = tmp_path / "state.json"
    no_templates.write_text(json.dumps({"version": 3, "deployment": {"resources": []}}))
    result = cli("policy", "check", "--export", str(no_templates), "--rego")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "no Gatekeeper ConstraintTemplate" in result.stderr
    config = tmp_path / "config.json"
    config.write_text("{}")
    result = cli("policy", "check", "--stack", "prod", "--rego", "--config", str(config))
    assert result.returncode == 2
    assert "--config" in result.stderr
