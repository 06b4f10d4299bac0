"""The rendered configuration, made local: only endpoints and credentials change.

Prometheus gets the rendered rule file as it is, the evaluation interval the stack declares,
and one scrape job per stand-in workload built from the rendered ServiceMonitor of that service
and tier (interval, timeout, path, the relabelling that sets `service` and `tier`). Alertmanager
gets the rendered configuration with the rollback receiver's SNS endpoint, topic and SigV4
credentials pointed at the moto server, and the people's channels (PagerDuty, Slack, email) at
local sinks; routes, group_wait, inhibition and the message template stay as rendered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from components.observability.alertmanager import ROLLBACK_RECEIVER

LOCAL_ACCESS_KEY = "testing"
LOCAL_SECRET_KEY = "testing"


def service_monitors(k8s_dir: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """(service, tier) -> the first endpoint of its rendered ServiceMonitor."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(k8s_dir.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not isinstance(doc, dict) or doc.get("kind") != "ServiceMonitor":
                continue
            endpoint = doc["spec"]["endpoints"][0]
            labels = {
                r["targetLabel"]: r["replacement"]
                for r in endpoint.get("relabelings", [])
                if r.get("action", "replace") == "replace"
            }
            if "service" in labels and "tier" in labels:
                found[(labels["service"], labels["tier"])] = endpoint
    return found


def scrape_job(service: str, tier: str, endpoint: Mapping[str, Any], target: str) -> dict[str, Any]:
    """A static scrape job equivalent to the ServiceMonitor endpoint, for one local target."""
    job: dict[str, Any] = {
        "job_name": f"{service}-{tier}",
        "metrics_path": endpoint.get("path", "/metrics"),
        "honor_labels": bool(endpoint.get("honorLabels", False)),
        "static_configs": [{"targets": [target]}],
        "relabel_configs": [
            {
                "action": r.get("action", "replace"),
                "target_label": r["targetLabel"],
                "replacement": r["replacement"],
            }
            for r in endpoint.get("relabelings", [])
        ],
    }
    if "interval" in endpoint:
        job["scrape_interval"] = endpoint["interval"]
    if "scrapeTimeout" in endpoint:
        job["scrape_timeout"] = endpoint["scrapeTimeout"]
    return job


def prometheus_config(
    evaluation_interval: str,
    rule_file: Path,
    alertmanager: str,
    jobs: Sequence[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "global": {"evaluation_interval": evaluation_interval},
        "rule_files": [str(rule_file)],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": list(jobs),
    }


def local_alertmanager(
    rendered: Mapping[str, Any],
    *,
    sns_endpoint: str,
    topic_arn: str,
    region: str,
    sink_url: str,
    smarthost: str,
) -> dict[str, Any]:
    """`rendered` with local endpoints and credentials; nothing else changes."""
    config: dict[str, Any] = yaml.safe_load(yaml.safe_dump(dict(rendered)))  # a deep copy
    for receiver in config["receivers"]:
        for sns in receiver.get("sns_configs", []):
            if receiver["name"] != ROLLBACK_RECEIVER:
                continue
            sns["api_url"] = sns_endpoint
            sns["topic_arn"] = topic_arn
            sns["sigv4"] = {
                "region": region,
                "access_key": LOCAL_ACCESS_KEY,
                "secret_key": LOCAL_SECRET_KEY,
            }
        for pagerduty in receiver.get("pagerduty_configs", []):
            pagerduty["url"] = f"{sink_url}/pagerduty"
        for slack in receiver.get("slack_configs", []):
            slack["api_url"] = f"{sink_url}/slack"
        for email in receiver.get("email_configs", []):
            email["smarthost"] = smarthost
    return config
