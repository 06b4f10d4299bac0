"""The configuration in a real Alertmanager (Debian's prometheus-alertmanager): inhibition as the
issue states it, and the rollback receiver's SigV4-signed SNS Publish with the JSON message.

Slack, PagerDuty and SNS point at a local HTTP recorder (the file's routing is unchanged; only
the endpoints and the secrets differ from what the program deploys).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.observability.alertmanager import Channels, alertmanager_config
from infra.config import StackConfig
from rollout_cli.drill.processes import free_port

pytestmark = pytest.mark.slow  # starts servers / renders whole plans

TOPIC = "arn:aws:sns:eu-central-1:444455556666:codex-rollback"
CANARY = {"service": "codegen-api", "tier": "canary"}
PRODUCTION = {"service": "codegen-api", "tier": "production"}


class Recorder(ThreadingHTTPServer):
    """Answers every POST like the service would, and keeps (path, headers, body)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    def bodies(self, path: str) -> list[bytes]:
        return [body for p, _, body in self.requests if p.startswith(path)]


class _Handler(BaseHTTPRequestHandler):
    server: Recorder

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.requests.append((self.path, dict(self.headers), body))
        if self.path.startswith("/sns"):
            payload = (
                b'<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
                b"<PublishResult><MessageId>4f2c</MessageId></PublishResult>"
                b"<ResponseMetadata><RequestId>5e1d</RequestId></ResponseMetadata>"
                b"</PublishResponse>"
            )
            content_type = "text/xml"
        else:
            payload, content_type = b'{"status":"success"}', "application/json"
        self.send_response(202 if self.path.startswith("/pagerduty") else 200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def alertmanager(prod_config: StackConfig, recorder: Recorder, tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    assert binary, "prometheus-alertmanager is not installed (Debian: prometheus-alertmanager)"
    local = f"http://127.0.0.1:{recorder.server_address[1]}"
    channels = Channels.from_config(prod_config.alerting).with_placeholders()
    channels = Channels(
        **{**channels.__dict__, "slack_webhook_url": f"{local}/slack", "smarthost": "127.0.0.1:9"}
    )
    document = alertmanager_config(channels, TOPIC, prod_config.region)
    for receiver in document["receivers"]:
        for pagerduty in receiver.get("pagerduty_configs", []):
            pagerduty["url"] = f"{local}/pagerduty"
        for sns in receiver.get("sns_configs", []):
            sns["api_url"] = f"{local}/sns"
    (tmp_path / "alertmanager.yaml").write_text(yaml.safe_dump(document))
    port = free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEEXAMPLE00",
        "AWS_SECRET_ACCESS_KEY": "example-secret-key",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path / 'alertmanager.yaml'}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "alertmanager.log").open("w"),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{url}/-/ready", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError((tmp_path / "alertmanager.log").read_text())
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def post_alerts(url: str, alerts: list[dict[str, str]]) -> None:
    body = json.dumps(
        [{"labels": labels, "annotations": {"summary": labels["alertname"]}} for labels in alerts]
    ).encode()
    request = urllib.request.Request(
        f"{url}/api/v2/alerts", data=body, headers={"Content-Type": "application/json"}
    )
    urllib.request.urlopen(request, timeout=5)


def inhibited(url: str) -> dict[tuple[str, str], bool]:
    with urllib.request.urlopen(f"{url}/api/v2/alerts", timeout=5) as response:
        alerts = json.loads(response.read())
    return {
        (a["labels"]["alertname"], a["labels"].get("tier", "")): bool(a["status"]["inhibitedBy"])
        for a in alerts
    }


def wait_for(condition: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_critical_silences_lower_alerts_of_the_same_pair(alertmanager: str) -> None:
    post_alerts(
        alertmanager,
        [
            {"alertname": "CodexTierDown", "severity": "critical", "action": "rollback", **CANARY},
            {"alertname": "CodexCodegenSuccessLow", "severity": "high", **CANARY},
            {"alertname": "CodexErrorBudgetBurnSlow", "severity": "medium", **CANARY},
            {"alertname": "CodexCodegenSuccessLow", "severity": "high", **PRODUCTION},
            {"alertname": "CodexTestCoverageLow", "severity": "low", "pipeline": "validate"},
        ],
    )
    wait_for(lambda: len(inhibited(alertmanager)) == 5)
    state = inhibited(alertmanager)
    assert state[("CodexCodegenSuccessLow", "canary")]
    assert state[("CodexErrorBudgetBurnSlow", "canary")]
    assert not state[("CodexTierDown", "canary")]
    assert not state[("CodexCodegenSuccessLow", "production")]  # another pair
    assert not state[("CodexTestCoverageLow", "")]  # not about a pair


def test_fast_burn_never_silences_a_rollback_trigger(alertmanager: str) -> None:
    post_alerts(
        alertmanager,
        [
            {"alertname": "CodexErrorBudgetBurnFast", "severity": "critical", **CANARY},
            {"alertname": "CodexErrorRateHigh", "severity": "high", "action": "rollback", **CANARY},
            {"alertname": "CodexCodegenSuccessLow", "severity": "high", **CANARY},
        ],
    )
    wait_for(lambda: len(inhibited(alertmanager)) == 3)
    state = inhibited(alertmanager)
    assert not state[("CodexErrorRateHigh", "canary")]
    assert state[("CodexCodegenSuccessLow", "canary")]


def test_rollback_alert_publishes_to_sns_and_pages(alertmanager: str, recorder: Recorder) -> None:
    post_alerts(
        alertmanager,
        [{"alertname": "CodexTierDown", "severity": "critical", "action": "rollback", **CANARY}],
    )
    wait_for(lambda: recorder.bodies("/sns") and recorder.bodies("/pagerduty"))
    (_path, headers, body) = next(r for r in recorder.requests if r[0].startswith("/sns"))
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 ")
    assert "/eu-central-1/sns/aws4_request" in headers["Authorization"]
    form = urllib.parse.parse_qs(body.decode())
    assert form["Action"] == ["Publish"]
    assert form["TopicArn"] == [TOPIC]
    message = json.loads(form["Message"][0])
    (alert,) = message["alerts"]
    assert alert["status"] == "firing"
    assert alert["labels"] == {
        "alertname": "CodexTierDown",
        "severity": "critical",
        "action": "rollback",
        **CANARY,
    }
    assert alert["fingerprint"] and alert["startsAt"].endswith("Z")
