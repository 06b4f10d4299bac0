"""`rollout render` writes the observability outputs, and each is valid for its real tool."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from rollout_cli.render import render
from tests.conftest import STACKS, plan_of

pytestmark = pytest.mark.slow  # starts servers / renders whole plans


@pytest.fixture(scope="module", params=[(s, w) for s in STACKS for w in (1, 8)], ids=str)
def out(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    stack, week = request.param
    directory = tmp_path_factory.mktemp(f"render-{stack}-{week}")
    render(plan_of(stack, week), directory)
    return directory


def test_rule_file_is_the_prometheus_rules(out: Path, promtool: str) -> None:
    path = out / "prometheus" / "rules.yaml"
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    groups = yaml.safe_load(path.read_text())["groups"]
    declared = [
        group
        for manifest in sorted((out / "k8s").glob("monitoring--prometheusrule--*.yaml"))
        for group in yaml.safe_load(manifest.read_text())["spec"]["groups"]
    ]
    assert sorted(groups, key=lambda g: g["name"]) == sorted(declared, key=lambda g: g["name"])


def test_alertmanager_file_passes_check_config(out: Path, amtool: str) -> None:
    path = out / "alertmanager" / "alertmanager.yaml"
    result = subprocess.run(
        [amtool, "check-config", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = path.read_text()
    assert "[secret]" not in text and "offline-secret-placeholder" not in text


def test_alertmanager_file_names_the_plans_rollback_topic(out: Path) -> None:
    resources = json.loads((out / "resources.json").read_text())["deployment"]["resources"]
    (topic,) = [r for r in resources if r["urn"].endswith("::rollback-topic")]
    document = yaml.safe_load((out / "alertmanager" / "alertmanager.yaml").read_text())
    (rollback,) = [r for r in document["receivers"] if r["name"] == "rollback"]
    assert rollback["sns_configs"][0]["topic_arn"] == topic["outputs"]["arn"]


def test_dashboards_are_the_configmaps(out: Path) -> None:
    files = {p.stem: json.loads(p.read_text()) for p in (out / "grafana").glob("*.json")}
    assert len(files) == 3
    for uid, board in files.items():
        assert board["uid"] == uid
        manifest = yaml.safe_load((out / "k8s" / f"monitoring--configmap--{uid}.yaml").read_text())
        assert json.loads(manifest["data"][f"{uid}.json"]) == board
