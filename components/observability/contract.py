"""The metric contract: the series services, scraping and CI provide, and nothing else.

Rules name only these metrics and the recording rules derived from them in rules.py; dashboard
panels name only these metrics (annotations may also read Prometheus's `ALERTS`).
docs/observability.md documents the same table for the teams that emit them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Metric:
    """One metric of the contract."""

    name: str
    kind: Literal["counter", "gauge", "histogram"]
    labels: tuple[str, ...]
    source: str
    help: str


# Every series scraped from a service carries `service` and `tier`: the ServiceMonitor sets them
# from the config (see component.py), whatever the service itself exports.
TIER_LABELS = ("service", "tier")

METRICS: tuple[Metric, ...] = (
    Metric(
        "http_requests_total",
        "counter",
        ("service", "tier", "code"),
        "service",
        "HTTP requests served, by status code (5xx count as errors).",
    ),
    Metric(
        "http_request_duration_seconds_bucket",
        "histogram",
        ("service", "tier", "le"),
        "service",
        "Buckets of the HTTP request duration histogram, in seconds.",
    ),
    Metric(
        "codegen_requests_total",
        "counter",
        ("service", "tier", "outcome"),
        "service",
        'Code generation requests by outcome, "success" or "failure".',
    ),
    Metric("up", "gauge", ("service", "tier"), "scraping", "1 if the last scrape succeeded."),
    Metric(
        "validation_pipeline_duration_seconds",
        "gauge",
        ("pipeline",),
        "CI (Pushgateway)",
        "Duration of the last validation pipeline run, in seconds.",
    ),
    Metric(
        "deployments_total",
        "counter",
        ("stack", "outcome"),
        "CI (Pushgateway)",
        'Deployments by outcome ("success" counts as successful; anything else does not).',
    ),
    Metric(
        "test_coverage_ratio",
        "gauge",
        ("pipeline",),
        "CI (Pushgateway)",
        "Test coverage of the last pipeline run, 0..1.",
    ),
    Metric(
        "policy_violations",
        "gauge",
        ("stack", "pack", "enforcement"),
        "CI (Pushgateway)",
        "Policy violations of the last policy check, by pack and enforcement level.",
    ),
    # kube-state-metrics (shipped in kube-prometheus-stack): CodexTierDown sees a tier whose
    # pods never came up, and so were never scraped, by its Deployment wanting replicas.
    Metric(
        "kube_deployment_spec_replicas",
        "gauge",
        ("namespace", "deployment"),
        "kube-state-metrics",
        "Replicas a Deployment's spec asks for.",
    ),
    Metric(
        "kube_deployment_created",
        "gauge",
        ("namespace", "deployment"),
        "kube-state-metrics",
        "Creation time of a Deployment, Unix seconds.",
    ),
)

METRIC_NAMES: frozenset[str] = frozenset(m.name for m in METRICS)
