"""The stand-in workload: the metric contract over HTTP, and each fault as Prometheus sees it."""

from __future__ import annotations

import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from rollout_cli.drill.workload import Workload

SAMPLE = re.compile(r'^([a-z_]+)(?:\{([a-z]+)="([^"]*)"\})? (\S+)$')


def _scrape(workload: Workload) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://{workload.target}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, line
        name, label, value, number = match.groups()
        samples[(name, ((label, value),) if label else ())] = float(number)
    return samples


def test_exposition_passes_promtool(promtool: str) -> None:
    text = Workload("codegen-api", "canary", 10).exposition()
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.fixture
def workload() -> Iterator[Workload]:
    w = Workload("codegen-api", "canary", requests_per_second=10)
    w.started -= 60  # a minute of healthy traffic already served
    w.start()
    yield w
    w.stop()


def test_healthy_traffic_has_a_5xx_series_at_zero(workload: Workload) -> None:
    samples = _scrape(workload)
    ok = samples[("http_requests_total", (("code", "200"),))]
    assert 599 <= ok <= 620
    assert samples[("http_requests_total", (("code", "500"),))] == 0
    below = samples[("http_request_duration_seconds_bucket", (("le", "0.1"),))]
    assert below == samples[("http_request_duration_seconds_count", ())]


def test_error_rate_fault_answers_half_with_500(workload: Workload) -> None:
    workload.inject("error-rate")
    workload.fault_at = time.time() - 10
    samples = _scrape(workload)
    assert 49 <= samples[("http_requests_total", (("code", "500"),))] <= 52


def test_latency_fault_puts_requests_above_half_a_second(workload: Workload) -> None:
    workload.inject("latency")
    workload.fault_at = time.time() - 10
    samples = _scrape(workload)
    total = samples[("http_request_duration_seconds_count", ())]
    under = samples[("http_request_duration_seconds_bucket", (("le", "0.5"),))]
    assert 99 <= total - under <= 102


def test_down_fault_stops_answering(workload: Workload) -> None:
    workload.inject("down")
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        _scrape(workload)
