"""The drill's local configuration: only endpoints and credentials differ from what `rollout
render` produces, and the real amtool and promtool accept the result."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from rollout_cli.drill.configs import (
    local_alertmanager,
    prometheus_config,
    scrape_job,
    service_monitors,
)
from rollout_cli.render import render
from tests.conftest import plan_of

SWAPPED = {"api_url", "topic_arn", "sigv4", "url", "smarthost"}


def _without(value: object, keys: set[str]) -> object:
    if isinstance(value, dict):
        return {k: _without(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [_without(v, keys) for v in value]
    return value


def test_local_alertmanager_changes_only_endpoints_and_credentials(
    tmp_path: Path, amtool: str
) -> None:
    render(plan_of("prod", 8), tmp_path)
    rendered = yaml.safe_load((tmp_path / "alertmanager" / "alertmanager.yaml").read_text())
    local = local_alertmanager(
        rendered,
        sns_endpoint="http://127.0.0.1:5000",
        topic_arn="arn:aws:sns:eu-central-1:123456789012:rollback-topic",
        region="eu-central-1",
        sink_url="http://127.0.0.1:5001",
        smarthost="127.0.0.1:2525",
    )
    assert _without(local, SWAPPED) == _without(rendered, SWAPPED)
    (rollback,) = [r for r in local["receivers"] if r["name"] == "rollback"]
    sns = rollback["sns_configs"][0]
    assert sns["api_url"] == "http://127.0.0.1:5000"
    assert sns["sigv4"] == {
        "region": "eu-central-1",
        "access_key": "testing",
        "secret_key": "testing",
    }
    path = tmp_path / "local.yaml"
    path.write_text(yaml.safe_dump(local, width=1000))
    checked = subprocess.run(
        [amtool, "check-config", str(path)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_scrape_jobs_follow_the_rendered_service_monitors(tmp_path: Path, promtool: str) -> None:
    render(plan_of("prod", 8), tmp_path)
    monitors = service_monitors(tmp_path / "k8s")
    services = {s.name for s in plan_of("prod", 8).config.services}
    assert set(monitors) == {(s, t) for s in services for t in ("sandbox", "canary", "production")}
    endpoint = monitors[("codegen-api", "canary")]
    job = scrape_job("codegen-api", "canary", endpoint, "127.0.0.1:9999")
    assert job["scrape_interval"] == endpoint["interval"]
    assert job["scrape_timeout"] == endpoint["scrapeTimeout"]
    assert {(r["target_label"], r["replacement"]) for r in job["relabel_configs"]} == {
        ("service", "codegen-api"),
        ("tier", "canary"),
    }
    rules = tmp_path / "prometheus" / "rules.yaml"
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(prometheus_config("10s", rules, "127.0.0.1:9093", [job])))
    checked = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
