"""The Alertmanager configuration under the real amtool: check-config, every row of the alerting
table through `amtool config routes test`, the inhibition rules, and the SNS message rendered by
Alertmanager's own template engine (`amtool template render`)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from components.observability.alertmanager import routes_to_pagerduty
from infra.config import StackConfig
from rollout_cli.renderers.observability import render_files

TOPIC = "arn:aws:sns:eu-west-1:111122223333:rollback-topic"
PAIR = {"service": "codegen-api", "tier": "canary"}


def _seconds(duration: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smhd])", duration))


@pytest.fixture
def rendered(stack_config: StackConfig, tmp_path: Path) -> Path:
    """alertmanager.yaml as `rollout render` writes it (placeholder secrets)."""
    render_files(stack_config, 12, tmp_path, TOPIC)
    return tmp_path / "alertmanager" / "alertmanager.yaml"


@pytest.fixture
def document(rendered: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(rendered.read_text())
    return loaded


def amtool_run(amtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([amtool, *args], capture_output=True, text=True, check=False, timeout=60)


def test_check_config(amtool: str, rendered: Path) -> None:
    result = amtool_run(amtool, "check-config", str(rendered))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_check_config_catches_an_unknown_receiver(amtool: str, document: dict, tmp_path: Path):
    document["route"]["routes"][0]["receiver"] = "nobody"
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(document))
    assert amtool_run(amtool, "check-config", str(broken)).returncode != 0


# The alerting table of the plan, as issue 4 states it: labels -> (receivers, repeat at most,
# first notification within). Label sets are those of the Codex alerts.
ROWS: list[tuple[str, dict[str, str], list[str], str | None]] = [
    (
        "critical",
        {"alertname": "CodexErrorBudgetBurnFast", "severity": "critical", **PAIR},
        ["pagerduty"],
        "5m",
    ),
    (
        "critical-rollback",
        {"alertname": "CodexTierDown", "severity": "critical", "action": "rollback", **PAIR},
        ["rollback", "pagerduty"],
        "5m",
    ),
    (
        "high",
        {"alertname": "CodexCodegenSuccessLow", "severity": "high", **PAIR},
        ["slack-email"],
        "15m",
    ),
    (
        "high-ci",
        {"alertname": "CodexDeploymentSuccessLow", "severity": "high", "stack": "prod"},
        ["slack-email"],
        "15m",
    ),
    (
        "high-rollback",
        {"alertname": "CodexErrorRateHigh", "severity": "high", "action": "rollback", **PAIR},
        ["rollback", "slack-email"],
        "15m",
    ),
    (
        "policy",
        {
            "alertname": "CodexPolicyViolation",
            "severity": "high",
            "category": "policy",
            "stack": "prod",
            "pack": "codex-rollout",
        },
        ["slack-email"],
        "1h",
    ),
    (
        "medium",
        {"alertname": "CodexErrorBudgetBurnSlow", "severity": "medium", **PAIR},
        ["slack"],
        "4h",
    ),
    (
        "medium-ci",
        {"alertname": "CodexValidationPipelineSlow", "severity": "medium", "pipeline": "v"},
        ["slack"],
        "4h",
    ),
    (
        "medium-rollback",
        {"alertname": "CodexLatencyP95High", "severity": "medium", "action": "rollback", **PAIR},
        ["rollback", "slack"],
        "4h",
    ),
    (
        "low",
        {"alertname": "CodexTestCoverageLow", "severity": "low", "pipeline": "v"},
        ["email"],
        "24h",
    ),
]
INTEGRATIONS = {
    "pagerduty": {"pagerduty_configs"},
    "slack-email": {"slack_configs", "email_configs"},
    "slack": {"slack_configs"},
    "email": {"email_configs"},
    "rollback": {"sns_configs"},
}


def _matched_routes(tree: str) -> list[tuple[str, str]]:
    """(matchers, receiver) of each route amtool's --tree output shows as matching."""
    return re.findall(r"(\{.*\})\s+receiver: (\S+)", tree)


def _route(document: dict[str, Any], matchers: str) -> dict[str, Any]:
    for route in document["route"]["routes"]:
        if "{" + ", ".join(route["matchers"]) + "}" == matchers:
            found: dict[str, Any] = route
            return found
    raise AssertionError(f"no route with matchers {matchers}")


@pytest.mark.parametrize(("row", "labels", "receivers", "repeat"), ROWS, ids=[r[0] for r in ROWS])
def test_alerting_table_row(
    amtool: str,
    rendered: Path,
    document: dict[str, Any],
    row: str,
    labels: dict[str, str],
    receivers: list[str],
    repeat: str,
) -> None:
    pairs = [f"{k}={v}" for k, v in labels.items()]
    verify = amtool_run(
        amtool,
        "config",
        "routes",
        "test",
        f"--config.file={rendered}",
        f"--verify.receivers={','.join(receivers)}",
        *pairs,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    tree = amtool_run(
        amtool, "config", "routes", "test", f"--config.file={rendered}", "--tree", *pairs
    )
    matched = _matched_routes(tree.stdout)
    assert [receiver for _, receiver in matched] == receivers, tree.stdout
    people = _route(document, matched[-1][0])
    assert _seconds(people["repeat_interval"]) == _seconds(repeat)
    if labels["severity"] == "critical":  # sent at once
        assert _seconds(people["group_wait"]) <= 10
    if "rollback" in receivers:
        rollback = _route(document, matched[0][0])
        assert rollback["continue"] is True  # the human routes still get it
        assert _seconds(rollback["group_wait"]) <= 10
    kinds = {r["name"]: set(r) - {"name"} for r in document["receivers"]}
    for receiver in receivers:
        assert kinds[receiver] == INTEGRATIONS[receiver], receiver


def test_routes_test_detects_a_wrong_receiver(amtool: str, rendered: Path) -> None:
    result = amtool_run(
        amtool,
        "config",
        "routes",
        "test",
        f"--config.file={rendered}",
        "--verify.receivers=email",
        "severity=critical",
        "alertname=CodexTierDown",
    )
    assert result.returncode != 0


def test_rollback_receiver_publishes_to_the_topic_with_sigv4(
    document: dict[str, Any], stack_config: StackConfig
) -> None:
    (receiver,) = [r for r in document["receivers"] if r["name"] == "rollback"]
    (sns,) = receiver["sns_configs"]
    assert sns["topic_arn"] == TOPIC
    assert sns["sigv4"] == {"region": stack_config.region}  # credentials: IRSA, not the file
    assert sns["attributes"] and all(isinstance(v, str) for v in sns["attributes"].values())


def test_inhibition_critical_silences_lower_for_the_same_pair(document: dict[str, Any]) -> None:
    rules = document["inhibit_rules"]
    assert rules
    for rule in rules:
        assert 'severity="critical"' in rule["source_matchers"]
        assert 'severity=~"high|medium|low"' in rule["target_matchers"]
        assert rule["equal"] == ["service", "tier"]
        # Only alerts about a pair inhibit: a critical without service/tier silences nothing.
        assert {'service=~".+"', 'tier=~".+"'} <= set(rule["source_matchers"])
    # A critical that is no rollback trigger never silences a rollback trigger.
    guarded = [r for r in rules if 'action!="rollback"' in r["source_matchers"]]
    assert guarded and all('action!="rollback"' in r["target_matchers"] for r in guarded)


def _sns_message(document: dict[str, Any]) -> str:
    (receiver,) = [r for r in document["receivers"] if r["name"] == "rollback"]
    message: str = receiver["sns_configs"][0]["message"]
    return message


def test_sns_message_renders_to_json_with_the_alert_labels(
    amtool: str, document: dict[str, Any], tmp_path: Path
) -> None:
    labels = {
        "alertname": "CodexErrorRateHigh",
        "service": "codegen-api",
        "tier": "canary",
        "severity": "high",
        "action": "rollback",
    }
    data = {
        "receiver": "rollback",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": 'quotes " and \\ survive'},
                "startsAt": "2026-11-26T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus/graph",
                "fingerprint": "3f2a9c0d1b7e4a55",
            }
        ],
        "groupLabels": {k: labels[k] for k in ("alertname", "service", "tier")},
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
    }
    (tmp_path / "data.json").write_text(json.dumps(data))
    (tmp_path / "empty.tmpl").write_text("")
    result = amtool_run(
        amtool,
        "template",
        "render",
        f"--template.glob={tmp_path / 'empty.tmpl'}",
        f"--template.text={_sns_message(document)}",
        f"--template.data={tmp_path / 'data.json'}",
    )
    assert result.returncode == 0, result.stderr
    message = json.loads(result.stdout)
    (alert,) = message["alerts"]
    assert alert["status"] == "firing"
    assert alert["labels"]["tier"] == "canary" and alert["labels"]["action"] == "rollback"
    assert alert["fingerprint"] == "3f2a9c0d1b7e4a55"
    assert alert["startsAt"] == "2026-11-26T10:00:00Z"


def test_placeholders_replace_every_secret(
    amtool: str, stack_config: StackConfig, tmp_path: Path
) -> None:
    secrets = {
        "pagerduty": "pd-routing-key-that-must-not-leak",
        "slack": "https://hooks.slack.com/services/TREAL/BREAL/must-not-leak",
        "smtp": "smtp-password-that-must-not-leak",
    }
    alerting = stack_config.alerting.model_copy(
        update={
            "pagerduty_routing_key": SecretStr(secrets["pagerduty"]),
            "slack_webhook_url": SecretStr(secrets["slack"]),
            "email": stack_config.alerting.email.model_copy(
                update={"password": SecretStr(secrets["smtp"])}
            ),
        }
    )
    render_files(stack_config.model_copy(update={"alerting": alerting}), 1, tmp_path, TOPIC)
    text = (tmp_path / "alertmanager" / "alertmanager.yaml").read_text()
    for value in secrets.values():
        assert value not in text
    document = yaml.safe_load(text)
    slack = next(r for r in document["receivers"] if r["name"] == "slack")["slack_configs"][0]
    assert slack["api_url"].startswith("https://")  # URL-shaped, so the file stays valid
    assert stack_config.alerting.slack_channel == slack["channel"]
    check = amtool_run(amtool, "check-config", str(tmp_path / "alertmanager" / "alertmanager.yaml"))
    assert check.returncode == 0, check.stdout + check.stderr


def test_pagerduty_route_detection(document: dict[str, Any]) -> None:
    assert routes_to_pagerduty(document)
    without = {
        **document,
        "route": {
            **document["route"],
            "routes": [r for r in document["route"]["routes"] if r["receiver"] != "pagerduty"],
        },
    }
    assert not routes_to_pagerduty(without)


DOC = Path(__file__).resolve().parents[3] / "docs" / "observability.md"


def test_documented_sns_message_is_what_alertmanager_renders(
    amtool: str, document: dict[str, Any], tmp_path: Path
) -> None:
    """docs/observability.md shows the exact message for its example alert."""
    labels = {
        "alertname": "CodexErrorRateHigh",
        "service": "codegen-api",
        "tier": "canary",
        "severity": "high",
        "action": "rollback",
    }
    data = {
        "receiver": "rollback",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": {},
                "startsAt": "2026-11-26T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus/graph",
                "fingerprint": "3f2a9c0d1b7e4a55",
            }
        ],
        "groupLabels": {k: labels[k] for k in ("alertname", "service", "tier")},
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": "http://kube-prometheus-stack-alertmanager.monitoring:9093",
    }
    (tmp_path / "data.json").write_text(json.dumps(data))
    (tmp_path / "empty.tmpl").write_text("")
    result = amtool_run(
        amtool,
        "template",
        "render",
        f"--template.glob={tmp_path / 'empty.tmpl'}",
        f"--template.text={_sns_message(document)}",
        f"--template.data={tmp_path / 'data.json'}",
    )
    assert result.returncode == 0, result.stderr
    documented = DOC.read_text().split("<!-- sns-message -->")[1].split("```json\n")[1]
    assert result.stdout.strip() == documented.split("```")[0].strip()


def test_documented_alerts_are_the_rules() -> None:
    text = DOC.read_text()
    for alert in [
        "CodexErrorRateHigh",
        "CodexLatencyP95High",
        "CodexTierDown",
        "CodexErrorBudgetBurnFast",
        "CodexErrorBudgetBurnSlow",
        "CodexCodegenSuccessLow",
        "CodexValidationPipelineSlow",
        "CodexDeploymentSuccessLow",
        "CodexTestCoverageLow",
        "CodexPolicyViolation",
    ]:
        assert f"| `{alert}` |" in text, alert
