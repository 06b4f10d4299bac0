"""Every promotion gate against a real Prometheus holding a week's history in the contract's
shape: a healthy week passes everything; each failing gate fails alone; too little traffic, no
data and an unreachable server are inconclusive, never a pass.

The prod stack at week 8 (sandbox 10, canary 10, production 80; next week 5/5/90): every tier
has traffic, and canary is compared with production.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from rollout_cli.advance.gates import Gate, Judge
from rollout_cli.advance.prometheus import Prometheus
from rollout_cli.advance.window import Window
from rollout_cli.stackfile import load_offline
from rollout_rules.ledger import Ledger, parse_ledger
from tests.contract_history import Alert, History, Traffic
from tests.prometheus_server import PrometheusServer

pytestmark = pytest.mark.slow

SERVICES = ("codegen-api", "validation-worker")
TIERS = ("sandbox", "canary", "production")
WEEK = 8
WINDOW = 7200

HEALTHY = History(
    stack="prod",
    traffic={(s, t): Traffic() for s in SERVICES for t in TIERS},
    hours=2.5,
)


def judge(
    workdir: Path, history: History | None, ledger: Ledger | None = None, url: str | None = None
) -> list[Gate]:
    """Backfill `history` into a fresh server, run every gate over the last 2h of it."""
    model = load_offline("prod", week=WEEK).model
    end = history.end if history is not None else HEALTHY.end
    window = Window(WINDOW, end, "--window 2h")
    with PrometheusServer(workdir) as server:
        if history is not None:
            server.backfill(history.openmetrics())
        address = url or server.start()
        return Judge("prod", model, WEEK, WEEK + 1, window, Prometheus(address)).run(ledger, "test")


def by_status(gates: list[Gate], status: str) -> set[str]:
    return {g.subject for g in gates if g.status == status}


def test_healthy_week_passes_every_gate(tmp_path: Path) -> None:
    gates = judge(tmp_path, HEALTHY)
    assert by_status(gates, "fail") == set()
    assert by_status(gates, "inconclusive") == set()
    names = {g.name for g in gates}
    assert names >= {
        "rollback-ledger",
        "traffic",
        "error-ratio",
        "latency-p95",
        "latency-p95-slo",
        "availability-slo",
        "up",
        "codegen-success",
        "deployment-success",
        "test-coverage",
        "validation-pipeline",
        "ci-policy-violations",
        "critical-alerts",
        "rollbacks",
        "compare-error-ratio",
        "compare-latency-p95",
    }
    # Per service in each tier with traffic, `up` for each tier with traffic next week.
    assert {(g.tier, g.service) for g in gates if g.name == "error-ratio"} == {
        (t, s) for t in TIERS for s in SERVICES
    }
    compare = next(g for g in gates if g.name == "compare-error-ratio")
    assert compare.extra["baseline"] == "production"
    assert 0 <= compare.extra["pValue"] <= 1
    assert compare.extra["samples"] == {"canary": 12, "production": 12}
    for gate in gates:
        assert gate.query or gate.name in ("rollback-ledger",), gate.name
    p95 = next(g for g in gates if g.subject == "latency-p95 [production/codegen-api]")
    # Log-normal durations: p95 = median * exp(1.645 * sigma) ~ 126 ms for a 60 ms median.
    assert p95.value is not None and 100 < p95.value < 160


def _traffic(**changes: object) -> Callable[[History], History]:
    def apply(history: History) -> History:
        traffic = dict(history.traffic)
        for key, fields in changes.items():
            service, tier = key.split(":")
            traffic[(service, tier)] = replace(traffic[(service, tier)], **fields)  # type: ignore[arg-type]
        return replace(history, traffic=traffic)

    return apply


def _ci(**fields: object) -> Callable[[History], History]:
    return lambda history: replace(history, **fields)  # type: ignore[arg-type]


FAILING: dict[str, tuple[Callable[[History], History], set[str]]] = {
    "error ratio over 1 %": (
        _traffic(**{"codegen-api:canary": {"error_ratio": 0.03}}),
        {
            "error-ratio [canary/codegen-api]",
            "availability-slo [canary/codegen-api]",
            "compare-error-ratio [canary/codegen-api]",
        },
    ),
    "p95 over 500 ms (and the SLO)": (
        _traffic(**{"validation-worker:production": {"latency_median": 0.3}}),
        {
            "latency-p95 [production/validation-worker]",
            "latency-p95-slo [production/validation-worker]",
        },
    ),
    "p95 over the service SLO only": (
        _traffic(**{"codegen-api:sandbox": {"latency_median": 0.12}}),
        {"latency-p95-slo [sandbox/codegen-api]"},
    ),
    "error budget exhausted under 1 %": (
        _traffic(**{"codegen-api:production": {"error_ratio": 0.004}}),
        {"availability-slo [production/codegen-api]"},
    ),
    "targets down": (
        _traffic(**{"validation-worker:canary": {"up": 0.85}}),
        {"up [canary/validation-worker]"},
    ),
    "code generation success under 95 %": (
        _traffic(
            **{
                "codegen-api:sandbox": {"codegen_success": 0.9},
                "validation-worker:sandbox": {"codegen_success": 0.9},
            }
        ),
        {"codegen-success [sandbox]"},
    ),
    "deployment success under 99 %": (_ci(deployments=(18, 2)), {"deployment-success"}),
    "test coverage under 80 %": (_ci(coverage=0.75), {"test-coverage"}),
    "validation pipeline over 5 min": (_ci(pipeline_seconds=400.0), {"validation-pipeline"}),
    "mandatory violations in CI": (_ci(mandatory_violations=2.0), {"ci-policy-violations"}),
    "a critical alert fired": (
        _ci(
            alerts=(
                Alert(
                    {
                        "alertname": "CodexErrorBudgetBurnFast",
                        "severity": "critical",
                        "service": "codegen-api",
                        "tier": "production",
                    },
                    3000,
                    2400,
                ),
            )
        ),
        {"critical-alerts"},
    ),
    "a rollback alert fired": (
        _ci(
            alerts=(
                Alert(
                    {
                        "alertname": "CodexErrorRateHigh",
                        "severity": "high",
                        "action": "rollback",
                        "service": "codegen-api",
                        "tier": "canary",
                    },
                    1800,
                    1500,
                ),
            )
        ),
        {"rollbacks"},
    ),
    "canary significantly worse than production": (
        _traffic(**{"validation-worker:canary": {"error_ratio": 0.004, "latency_median": 0.1}}),
        {
            "compare-error-ratio [canary/validation-worker]",
            "compare-latency-p95 [canary/validation-worker]",
        },
    ),
}


@pytest.mark.parametrize("case", FAILING, ids=list(FAILING))
def test_each_failing_gate_fails_alone(tmp_path: Path, case: str) -> None:
    change, expected = FAILING[case]
    gates = judge(tmp_path, change(HEALTHY))
    assert by_status(gates, "fail") == expected
    assert by_status(gates, "inconclusive") == set()


def test_the_comparison_reports_p_values_and_effect_sizes(tmp_path: Path) -> None:
    change, _ = FAILING["canary significantly worse than production"]
    gates = judge(tmp_path, change(HEALTHY))
    latency = next(
        g for g in gates if g.subject == "compare-latency-p95 [canary/validation-worker]"
    )
    assert latency.extra["pValue"] < 0.05
    # Median 100 ms vs 60 ms: the median p95 is about two thirds higher.
    assert 0.4 < latency.extra["effectSize"] < 0.9
    assert latency.extra["commonLanguageEffect"] > 0.9
    errors = next(g for g in gates if g.subject == "compare-error-ratio [canary/validation-worker]")
    assert errors.extra["medianCandidate"] > errors.extra["medianBaseline"]
    # Within limits on its own: error ratio under 1 % and inside the 99.5 % SLO.
    own = next(g for g in gates if g.subject == "error-ratio [canary/validation-worker]")
    assert own.status == "pass" and own.extra["meetsTarget"] is False


def test_canary_compares_with_sandbox_before_production_exists(tmp_path: Path) -> None:
    model = load_offline("prod", week=7).model  # sandbox 20, canary 80, production 0
    history = replace(
        HEALTHY, traffic={(s, t): Traffic() for s in SERVICES for t in ("sandbox", "canary")}
    )
    with PrometheusServer(tmp_path) as server:
        server.backfill(history.openmetrics())
        judge_ = Judge(
            "prod", model, 7, 8, Window(WINDOW, history.end, "2h"), Prometheus(server.start())
        )
        gates = judge_.run(None, "test")
    assert {g.extra["baseline"] for g in gates if g.name.startswith("compare-")} == {"sandbox"}
    # Production takes traffic next week for the first time: its environment must be up.
    assert by_status(gates, "inconclusive") == {
        "up [production/codegen-api]",
        "up [production/validation-worker]",
    }
    assert by_status(gates, "fail") == set()


def test_too_little_traffic_is_inconclusive(tmp_path: Path) -> None:
    quiet = _traffic(
        **{"codegen-api:canary": {"rate": 0.05}, "validation-worker:canary": {"rate": 0.05}}
    )(HEALTHY)
    gates = judge(tmp_path, quiet)
    assert by_status(gates, "fail") == set()
    undecided = by_status(gates, "inconclusive")
    for service in SERVICES:
        for name in (
            "traffic",
            "error-ratio",
            "latency-p95",
            "latency-p95-slo",
            "availability-slo",
        ):
            assert f"{name} [canary/{service}]" in undecided
    assert "codegen-success [canary]" in undecided
    traffic = next(g for g in gates if g.subject == "traffic [canary/codegen-api]")
    assert traffic.value is not None and traffic.value < 1000
    assert "fewer than the 1000 needed" in traffic.detail


def test_no_data_is_inconclusive(tmp_path: Path) -> None:
    gates = judge(tmp_path, None)
    passed = by_status(gates, "pass")
    # Only what is judged by absence passes: no ledger, no alert series.
    assert passed == {"rollback-ledger", "critical-alerts", "rollbacks"}
    assert all(
        g.detail.startswith(("no data", "not judged"))
        or g.status == "pass"
        or "intervals" in g.detail
        for g in gates
    )


def test_prometheus_down_is_inconclusive(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    gates = judge(tmp_path, None, url=closed)
    assert by_status(gates, "pass") == {"rollback-ledger"}
    assert by_status(gates, "fail") == set()
    assert all("unreachable" in g.detail for g in gates if g.name != "rollback-ledger")


def test_a_held_ledger_fails(tmp_path: Path, held_ledger: dict) -> None:
    import json

    ledger = parse_ledger(json.dumps(held_ledger))
    gates = judge(tmp_path, HEALTHY, ledger)
    assert by_status(gates, "fail") == {"rollback-ledger"}
    assert "rollback held since 2026-11-26T10:00:00Z" in gates[0].detail
