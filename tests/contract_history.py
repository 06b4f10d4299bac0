"""Synthetic history in the metric contract's shape (README, "Metric contract"), for backfilling
a real Prometheus (tests/prometheus_server.py).

A `History` describes a stretch of time ending now: per (service, tier) request rate, error
ratio, latency and scrape health; CI's deployments, coverage, pipeline duration and policy
violations; and any alerts that fired (as the `ALERTS` series Prometheus's rule evaluator would
have written). `openmetrics()` renders it; values vary from interval to interval (seeded), as
real traffic does, so statistical comparisons have something to work with.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from components.observability.contract import METRIC_NAMES
from tests.prometheus_server import OpenMetrics

BUCKETS = (0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0)
LATENCY_SIGMA = 0.45  # log-normal spread of one request's duration


@dataclass(frozen=True)
class Traffic:
    """What one service does in one tier."""

    rate: float = 3.0
    """Requests per second."""
    error_ratio: float = 0.0005
    latency_median: float = 0.06
    """Median request duration, seconds (p95 is about 2.1x this)."""
    up: float = 1.0
    """Share of scrapes that succeed."""
    codegen_success: float = 0.98
    codegen_share: float = 0.5
    """Share of the requests that are code generation requests."""


@dataclass(frozen=True)
class Alert:
    """An alert that was firing from `start` to `end` seconds before now."""

    labels: Mapping[str, str]
    start: float
    end: float


@dataclass(frozen=True)
class History:
    """Contract-shaped history over the last `hours`, one sample every `step` seconds."""

    stack: str
    traffic: Mapping[tuple[str, str], Traffic]
    hours: float = 4.0
    step: int = 60
    deployments: tuple[int, int] = (20, 0)
    """(succeeded, failed) deployments spread over the window."""
    coverage: float | None = 0.86
    pipeline_seconds: float | None = 240.0
    mandatory_violations: float | None = 0.0
    alerts: tuple[Alert, ...] = ()
    seed: int = 7
    end: float = field(default_factory=lambda: time.time() - 30)

    def with_traffic(self, **changes: Traffic) -> History:
        """A copy with some (service, tier) entries replaced; keys are `service__tier`."""
        traffic = dict(self.traffic)
        for key, value in changes.items():
            service, tier = key.replace("_", "-").split("--")
            traffic[(service, tier)] = value
        return replace(self, traffic=traffic)

    def openmetrics(self) -> str:
        return render(self)


def _poisson(rng: random.Random, mean: float) -> float:
    """A Poisson draw (Knuth's method for small means, the normal approximation above)."""
    if mean <= 0:
        return 0.0
    if mean > 50:
        return max(0.0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return float(k)


def _normal_cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def render(history: History) -> str:
    rng = random.Random(history.seed)
    out = OpenMetrics()
    steps = int(history.hours * 3600 / history.step)
    times = [history.end - (steps - i) * history.step for i in range(steps + 1)]
    for (service, tier), t in sorted(history.traffic.items()):
        base = {"service": service, "tier": tier}
        ok = errors = cg_ok = cg_fail = 0.0
        buckets = [0.0] * (len(BUCKETS) + 1)
        req_ok: list[tuple[float, float]] = []
        req_err: list[tuple[float, float]] = []
        bucket_points: list[list[tuple[float, float]]] = [[] for _ in buckets]
        ups: list[tuple[float, float]] = []
        cg_s: list[tuple[float, float]] = []
        cg_f: list[tuple[float, float]] = []
        for i, at in enumerate(times):
            if i:
                n = _poisson(rng, t.rate * history.step)
                err = min(n, _poisson(rng, n * t.error_ratio))
                errors += err
                ok += n - err
                median = t.latency_median * math.exp(rng.gauss(0, 0.06))
                below = [n * _normal_cdf(math.log(b / median) / LATENCY_SIGMA) for b in BUCKETS]
                for j, value in enumerate(below):
                    buckets[j] += round(value)
                buckets[-1] += n
                cg = round(n * t.codegen_share)
                good = min(cg, round(cg * t.codegen_success))
                cg_ok += good
                cg_fail += cg - good
            req_ok.append((at, ok))
            req_err.append((at, errors))
            for j, value in enumerate(buckets):
                bucket_points[j].append((at, value))
            ups.append((at, 1.0 if rng.random() < t.up else 0.0))
            cg_s.append((at, cg_ok))
            cg_f.append((at, cg_fail))
        out.add("http_requests", "counter", {**base, "code": "200"}, req_ok, suffix="_total")
        out.add("http_requests", "counter", {**base, "code": "503"}, req_err, suffix="_total")
        for j, points in enumerate(bucket_points):
            le = "+Inf" if j == len(BUCKETS) else f"{BUCKETS[j]:g}"
            out.add(
                "http_request_duration_seconds",
                "histogram",
                {**base, "le": le},
                points,
                suffix="_bucket",
            )
        out.add("up", "gauge", base, ups)
        out.add(
            "codegen_requests", "counter", {**base, "outcome": "success"}, cg_s, suffix="_total"
        )
        out.add(
            "codegen_requests", "counter", {**base, "outcome": "failure"}, cg_f, suffix="_total"
        )
    _ci(history, times, out)
    for alert in history.alerts:
        points = [
            (at, 1.0) for at in times if history.end - alert.start <= at <= history.end - alert.end
        ]
        out.add("ALERTS", "gauge", {**alert.labels, "alertstate": "firing"}, points)
    return out.text()


def _ci(history: History, times: list[float], out: OpenMetrics) -> None:
    succeeded, failed = history.deployments
    stack = {"stack": history.stack}
    # Deployments happen at evenly spaced times; the counters step up there.
    for outcome, count in (("success", succeeded), ("failure", failed)):
        if not count and outcome == "failure":
            continue
        every = max(1, len(times) // (count + 1)) if count else len(times) + 1
        points = [(at, float(min(count, i // every))) for i, at in enumerate(times)]
        out.add("deployments", "counter", {**stack, "outcome": outcome}, points, suffix="_total")
    pipeline = {"pipeline": "validate"}
    if history.coverage is not None:
        out.add("test_coverage_ratio", "gauge", pipeline, [(at, history.coverage) for at in times])
    if history.pipeline_seconds is not None:
        out.add(
            "validation_pipeline_duration_seconds",
            "gauge",
            pipeline,
            [(at, history.pipeline_seconds) for at in times],
        )
    if history.mandatory_violations is not None:
        for enforcement, value in (("mandatory", history.mandatory_violations), ("advisory", 3.0)):
            labels = {**stack, "pack": "codex-rollout/security", "enforcement": enforcement}
            out.add("policy_violations", "gauge", labels, [(at, value) for at in times])


# Every series name written above is in the contract (or is ALERTS, which Prometheus writes).
WRITTEN = {
    "http_requests_total",
    "http_request_duration_seconds_bucket",
    "up",
    "codegen_requests_total",
    "deployments_total",
    "test_coverage_ratio",
    "validation_pipeline_duration_seconds",
    "policy_violations",
}
assert WRITTEN <= METRIC_NAMES, WRITTEN - METRIC_NAMES
