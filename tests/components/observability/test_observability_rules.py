"""The Prometheus rules under the real promtool: `check rules`, and `test rules` for every alert.

Every alert gets a case that fires just past its threshold, one that stays silent just under
it, and one without traffic (for the CI alerts: nothing pushed). The expectations come from the
issue's alert table (names, severities, labels) and the config's thresholds, never from the rule
text: the inputs are synthetic series in the metric contract.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.observability.config import ThresholdsConfig
from components.observability.rules import rule_groups
from infra.config import StackConfig
from rollout_cli.stackfile import load_offline
from tests.components.observability.test_observability_dashboards import selectors

# The alert table of the issue: name -> the labels every alert of that name carries.
SPEC: dict[str, dict[str, str]] = {
    "CodexErrorRateHigh": {"severity": "high", "action": "rollback"},
    "CodexLatencyP95High": {"severity": "medium", "action": "rollback"},
    "CodexTierDown": {"severity": "critical", "action": "rollback"},
    "CodexErrorBudgetBurnFast": {"severity": "critical"},
    "CodexErrorBudgetBurnSlow": {"severity": "medium"},
    "CodexCodegenSuccessLow": {"severity": "high"},
    "CodexValidationPipelineSlow": {"severity": "medium"},
    "CodexDeploymentSuccessLow": {"severity": "high"},
    "CodexTestCoverageLow": {"severity": "low"},
    "CodexPolicyViolation": {"severity": "high", "category": "policy"},
}
TIER_SCOPED = {
    "CodexErrorRateHigh",
    "CodexLatencyP95High",
    "CodexTierDown",
    "CodexErrorBudgetBurnFast",
    "CodexErrorBudgetBurnSlow",
    "CodexCodegenSuccessLow",
}
# The SRE workbook's multi-window multi-burn-rate table: (factor, long window, short window).
FAST_BURN = ((14.4, "1h", "5m"), (6.0, "6h", "30m"))
SLOW_BURN = ((1.0, "3d", "6h"),)

SERVICE = "codegen-api"
TIER = "canary"
TARGET = {"job": "codex", "namespace": "codex-canary", "instance": "10.0.3.17:9090"}
RATE = 10.0  # requests per second of a tier with traffic
BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


# -- synthetic series in the metric contract --------------------------------------------------


def _selector(name: str, labels: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{name}{{{inner}}}"


def _per_step(per_second: float, step_s: int) -> str:
    return format(per_second * step_s, ".10g")


def counter(per_second: float, steps: int, step_s: int = 60) -> str:
    """A counter from 0 rising at `per_second`, sampled every `step_s` for `steps` steps."""
    return f"0+{_per_step(per_second, step_s)}x{steps}"


def phased(phases: list[tuple[float, int]], step_s: int = 60) -> str:
    """A counter rising at a different rate per phase: [(per_second, steps), ...]."""
    value = 0.0
    parts = [f"{value:.10g}"]
    for per_second, steps in phases:
        increment = per_second * step_s
        parts.append(f"{value + increment:.10g}+{increment:.10g}x{steps - 1}")
        value += increment * steps
    return " ".join(parts)


def requests(
    service: str,
    tier: str,
    per_second: float,
    error_ratio: float,
    steps: int,
    target: dict[str, str] | None = None,
) -> list[tuple[str, str]]:
    labels = {**(target or TARGET), "service": service, "tier": tier}
    ok = per_second * (1 - error_ratio)
    series = [(_selector("http_requests_total", {**labels, "code": "200"}), counter(ok, steps))]
    if error_ratio:
        errors = per_second * error_ratio
        series.append(
            (_selector("http_requests_total", {**labels, "code": "503"}), counter(errors, steps))
        )
    return series


def burst(
    per_second: float, phases: list[tuple[float, int]], service: str = SERVICE
) -> list[tuple[str, str]]:
    """Requests at a constant rate whose error ratio changes per phase: [(ratio, steps), ...]."""
    labels = {**TARGET, "service": service, "tier": TIER}
    ok = phased([(per_second * (1 - ratio), steps) for ratio, steps in phases])
    errors = phased([(per_second * ratio, steps) for ratio, steps in phases])
    return [
        (_selector("http_requests_total", {**labels, "code": "200"}), ok),
        (_selector("http_requests_total", {**labels, "code": "500"}), errors),
    ]


def latency(service: str, per_second: float, p95: float, steps: int) -> list[tuple[str, str]]:
    """Histogram buckets whose p95 (histogram_quantile's linear interpolation) is `p95`."""
    hi_index = next(i for i, le in enumerate(BUCKETS) if p95 < le)
    lo = BUCKETS[hi_index - 1] if hi_index else 0.0
    hi = BUCKETS[hi_index]
    fraction = (p95 - lo) / (hi - lo)
    below = (0.95 - fraction) / (1 - fraction)  # share of requests at or under `lo`
    labels = {**TARGET, "service": service, "tier": TIER}
    series = []
    for le in (*BUCKETS, "+Inf"):
        share = below if isinstance(le, float) and le <= lo else 1.0
        bucket = {**labels, "le": str(le)}
        series.append(
            (
                _selector("http_request_duration_seconds_bucket", bucket),
                counter(per_second * share, steps),
            )
        )
    return series + requests(service, TIER, per_second, 0.0, steps)


def targets(up_values: list[str]) -> list[tuple[str, str]]:
    return [
        (
            _selector(
                "up", {**TARGET, "instance": f"10.0.3.{i}:9090", "service": SERVICE, "tier": TIER}
            ),
            values,
        )
        for i, values in enumerate(up_values, start=10)
    ]


def deployment(
    service: str, tier: str, replicas: int, created_s: int, namespace: str | None = None
) -> list[tuple[str, str]]:
    """kube-state-metrics series of a Deployment, as kube-prometheus-stack scrapes them."""
    labels = {
        "job": "kube-state-metrics",
        "instance": "10.0.9.4:8080",
        "service": "kube-prometheus-stack-kube-state-metrics",
        "namespace": namespace or f"codex-{tier}",
        "deployment": service,
    }
    return [
        (_selector("kube_deployment_spec_replicas", labels), f"{replicas}x40"),
        (_selector("kube_deployment_created", labels), f"{created_s}x40"),
    ]


def gauge(name: str, labels: dict[str, str], value: float, steps: int = 30) -> tuple[str, str]:
    return _selector(name, {"job": "ci", "instance": "", **labels}), f"{value:.10g}x{steps}"


# -- cases -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One promtool unit test: input series, and the alert expected (or not) at `at`."""

    alert: str
    name: str
    series: list[tuple[str, str]]
    at: str
    fires: list[dict[str, str]] = field(default_factory=list)
    interval: str = "1m"
    evaluation_interval: str = "1m"

    @property
    def id(self) -> str:
        return f"{self.alert}-{self.name}"


def _tier(extra: dict[str, str] | None = None) -> list[dict[str, str]]:
    return [{"service": SERVICE, "tier": TIER, **(extra or {})}]


def _budget(config: StackConfig, service: str = SERVICE) -> float:
    return 1 - config.service(service).slo.availability / 100


def cases(config: StackConfig) -> list[Case]:
    t: ThresholdsConfig = config.observability.thresholds
    quiet = t.min_request_rate / 2
    out = [
        # CodexErrorRateHigh: 5xx share > error_rate (1 %) with traffic.
        Case(
            "CodexErrorRateHigh",
            "just-past",
            requests(SERVICE, TIER, RATE, t.error_rate * 1.1, 15),
            "10m",
            _tier(),
        ),
        Case(
            "CodexErrorRateHigh",
            "just-under",
            requests(SERVICE, TIER, RATE, t.error_rate * 0.9, 15),
            "10m",
        ),
        Case(
            "CodexErrorRateHigh",
            "no-traffic",
            requests(SERVICE, TIER, quiet, 0.5, 15),
            "10m",
        ),
        # CodexTierDown: the tier served traffic, then no target is up; evaluated 15 minutes
        # later, when the tier's own 5-minute request rate is long gone.
        Case(
            "CodexTierDown",
            "just-past",
            requests(SERVICE, TIER, RATE, 0, 20) + targets(["1x20 0x20", "1x20 0x20"]),
            "35m",
            _tier(),
        ),
        Case(
            "CodexTierDown",
            "targets-gone",
            requests(SERVICE, TIER, RATE, 0, 20) + targets(["1x20 stale", "1x20 stale"]),
            "35m",
            _tier(),
        ),
        Case(
            "CodexTierDown",
            "just-under",  # one target of two still up
            requests(SERVICE, TIER, RATE, 0, 20) + targets(["1x40", "1x20 0x20"]),
            "35m",
        ),
        # A tier whose pods never came up (a bad image at week 4, before it takes traffic) is
        # down as soon as it has an environment: scrape targets that never answered ...
        Case(
            "CodexTierDown",
            "never-up",
            targets(["0x40", "0x40"]),
            "35m",
            _tier(),
        ),
        Case(
            "CodexTierDown",
            "never-up-little-traffic",
            requests(SERVICE, TIER, quiet, 0, 20) + targets(["1x20 0x20", "1x20 0x20"]),
            "35m",
            _tier(),
        ),
        # ... or no `up` series at all while kube-state-metrics shows its Deployment wanting
        # replicas (created at t=0, past the grace period by 35m).
        Case(
            "CodexTierDown",
            "never-scraped",
            deployment(SERVICE, TIER, replicas=2, created_s=0),
            "35m",
            _tier(),
        ),
        Case(
            "CodexTierDown",
            "just-created",  # 5 minutes old: still pulling its image
            deployment(SERVICE, TIER, replicas=2, created_s=30 * 60),
            "35m",
        ),
        Case(
            "CodexTierDown",
            "just-under-never-scraped",  # one target up, the Deployment wants replicas
            deployment(SERVICE, TIER, replicas=2, created_s=0) + targets(["0x40", "1x40"]),
            "35m",
        ),
        Case(
            "CodexTierDown",
            "no-traffic",  # no environment: scaled to zero, never scraped, never served
            deployment(SERVICE, TIER, replicas=0, created_s=0),
            "35m",
        ),
        Case(
            "CodexTierDown",
            "not-ours",  # another namespace's Deployment of the same name
            deployment(SERVICE, TIER, replicas=2, created_s=0, namespace="default"),
            "35m",
        ),
        # CodexCodegenSuccessLow: success share < codegen_success_rate (90 %).
        *(
            Case(
                "CodexCodegenSuccessLow",
                name,
                [
                    (
                        _selector(
                            "codegen_requests_total",
                            {**TARGET, "service": SERVICE, "tier": TIER, "outcome": outcome},
                        ),
                        counter(per_second * share, 30),
                    )
                    for outcome, share in (("success", success), ("failure", 1 - success))
                    if share
                ],
                "25m",
                fires,
            )
            for name, per_second, success, fires in (
                ("just-past", 1.0, t.codegen_success_rate - 0.01, _tier()),
                ("just-under", 1.0, t.codegen_success_rate + 0.01, []),
                ("only-failures", 1.0, 0.0, _tier()),
                ("no-traffic", quiet, 0.5, []),
            )
        ),
        # CI: pushed gauges and counters.
        Case(
            "CodexValidationPipelineSlow",
            "just-past",
            [
                gauge(
                    "validation_pipeline_duration_seconds",
                    {"pipeline": "validate"},
                    t.validation_pipeline_seconds + 1,
                )
            ],
            "5m",
            [{"pipeline": "validate"}],
        ),
        Case(
            "CodexValidationPipelineSlow",
            "just-under",
            [
                gauge(
                    "validation_pipeline_duration_seconds",
                    {"pipeline": "validate"},
                    t.validation_pipeline_seconds - 1,
                )
            ],
            "5m",
        ),
        Case(
            "CodexTestCoverageLow",
            "just-past",
            [gauge("test_coverage_ratio", {"pipeline": "validate"}, t.test_coverage_ratio - 0.01)],
            "5m",
            [{"pipeline": "validate"}],
        ),
        Case(
            "CodexTestCoverageLow",
            "just-under",
            [gauge("test_coverage_ratio", {"pipeline": "validate"}, t.test_coverage_ratio + 0.01)],
            "5m",
        ),
        Case(
            "CodexPolicyViolation",
            "just-past",
            [
                gauge(
                    "policy_violations",
                    {"stack": "prod", "pack": "codex-rollout", "enforcement": "mandatory"},
                    1,
                ),
                gauge(
                    "policy_violations",
                    {"stack": "prod", "pack": "codex-rollout", "enforcement": "advisory"},
                    3,
                ),
            ],
            "5m",
            [{"stack": "prod", "pack": "codex-rollout"}],
        ),
        Case(
            "CodexPolicyViolation",
            "just-under",  # no mandatory violation; advisory ones never alert
            [
                gauge(
                    "policy_violations",
                    {"stack": "prod", "pack": "codex-rollout", "enforcement": "mandatory"},
                    0,
                ),
                gauge(
                    "policy_violations",
                    {"stack": "prod", "pack": "codex-rollout", "enforcement": "advisory"},
                    3,
                ),
            ],
            "5m",
        ),
    ]
    # CodexDeploymentSuccessLow: success share of the day's deployments < 95 %.
    rate = t.deployment_success_rate

    def deployments(success: int, failure: int) -> list[tuple[str, str]]:
        return [
            (
                _selector("deployments_total", {"job": "ci", "stack": "prod", "outcome": o}),
                f"0x10 {n}x100",
            )
            for o, n in (("success", success), ("failure", failure))
            if n
        ]

    below = round(100 * (rate - 0.01))
    above = round(100 * (rate + 0.01))
    out += [
        Case(
            "CodexDeploymentSuccessLow",
            "just-past",
            deployments(below, 100 - below),
            "20h",
            [{"stack": "prod"}],
            interval="10m",
        ),
        Case(
            "CodexDeploymentSuccessLow",
            "just-under",
            deployments(above, 100 - above),
            "20h",
            interval="10m",
        ),
        Case(
            "CodexDeploymentSuccessLow",
            "only-failures",
            deployments(0, 3),
            "20h",
            [{"stack": "prod"}],
            interval="10m",
        ),
        Case(
            "CodexDeploymentSuccessLow",
            "no-deployments",
            [
                (
                    _selector(
                        "deployments_total", {"job": "ci", "stack": "prod", "outcome": "success"}
                    ),
                    "7x150",
                )
            ],
            "20h",
            interval="10m",
        ),
    ]
    # CodexLatencyP95High, for every service: the one configured threshold (the plan's 0.5 s),
    # whatever the service's own SLO target.
    limit = t.latency_p95_seconds
    for service in (s.name for s in config.services):
        labels = [{"service": service, "tier": TIER}]
        out += [
            Case(
                "CodexLatencyP95High",
                f"{service}-just-past",
                latency(service, RATE, limit * 1.1, 15),
                "10m",
                labels,
            ),
            Case(
                "CodexLatencyP95High",
                f"{service}-just-under",
                latency(service, RATE, limit * 0.9, 15),
                "10m",
            ),
            Case(
                "CodexLatencyP95High",
                f"{service}-no-traffic",
                latency(service, quiet, limit * 2, 15),
                "10m",
            ),
        ]
    # CodexErrorBudgetBurnFast: one case per window pair, each isolated from the other.
    b = _budget(config)
    (fast_factor, _, _), (slow_factor, _, _) = FAST_BURN
    clean_6h = (0.0, 360)
    out += [
        # 14.4x for the last 65 minutes after a clean 6h: the 6h/30m pair stays under 6x.
        Case(
            "CodexErrorBudgetBurnFast",
            "14.4x-just-past",
            burst(RATE, [clean_6h, (fast_factor * b * 1.05, 65)]),
            "425m",
            _tier(),
        ),
        Case(
            "CodexErrorBudgetBurnFast",
            "14.4x-just-under",
            burst(RATE, [clean_6h, (fast_factor * b * 0.95, 65)]),
            "425m",
        ),
        # The burst stopped 10 minutes ago: the long window still burns, the short one not.
        Case(
            "CodexErrorBudgetBurnFast",
            "14.4x-recovered",
            burst(RATE, [clean_6h, (fast_factor * b * 2, 60), (0.0, 11)]),
            "430m",
        ),
        # 6x for 7h: only the 6h/30m pair can fire (the 1h ratio is 6x < 14.4x).
        Case(
            "CodexErrorBudgetBurnFast",
            "6x-just-past",
            burst(RATE, [(slow_factor * b * 1.05, 425)]),
            "420m",
            _tier(),
        ),
        Case(
            "CodexErrorBudgetBurnFast",
            "6x-just-under",
            burst(RATE, [(slow_factor * b * 0.95, 425)]),
            "420m",
        ),
        Case(
            "CodexErrorBudgetBurnFast",
            "no-traffic",
            burst(quiet, [(fast_factor * b * 3, 425)]),
            "420m",
        ),
    ]
    # CodexErrorBudgetBurnSlow: 1x over 3d and 6h. Evaluated every 4m (not every minute, for
    # speed): rules read other groups' results, which must stay within the 5m lookback.
    three_days = 3 * 24 * 60
    (factor, _, _) = SLOW_BURN[0]
    slow = {"interval": "1m", "evaluation_interval": "4m"}
    out += [
        Case(
            "CodexErrorBudgetBurnSlow",
            "just-past",
            burst(1.0, [(factor * b * 1.1, three_days + 70)]),
            "73h",
            _tier(),
            **slow,
        ),
        Case(
            "CodexErrorBudgetBurnSlow",
            "just-under",
            burst(1.0, [(factor * b * 0.9, three_days + 70)]),
            "73h",
            **slow,
        ),
        Case(
            "CodexErrorBudgetBurnSlow",
            "short-window-clean",  # 3d over budget, but nothing in the last 6h
            burst(1.0, [(factor * b * 3, three_days - 360), (0.0, 430)]),
            "73h",
            **slow,
        ),
        Case(
            "CodexErrorBudgetBurnSlow",
            "no-traffic",
            burst(quiet, [(factor * b * 3, three_days + 70)]),
            "73h",
            **slow,
        ),
    ]
    return out


# -- running promtool ----------------------------------------------------------------------------


def without_annotations(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rules as they are, minus annotations: promtool compares annotations verbatim, and the
    tests check firing and labels, not wording (annotation templates: test_annotations_*)."""
    return [
        {**g, "rules": [{k: v for k, v in r.items() if k != "annotations"} for r in g["rules"]]}
        for g in groups
    ]


def _names(expr: str) -> set[str]:
    """The metric names `expr` reads."""
    return {name for name, _ in selectors(expr)}


def rules_for(groups: list[dict[str, Any]], alerts: set[str]) -> list[dict[str, Any]]:
    """`groups` cut to the `alerts` and every recording rule they read, directly or through
    other recording rules (each rule unchanged, in its group and order). Nothing else can change
    what those alerts do, and promtool then evaluates only what the case is about. An expression
    that reads ALERTS keeps every alert."""
    rules = [rule for group in groups for rule in group["rules"]]
    keep = [rule for rule in rules if rule.get("alert") in alerts]
    needed: set[str] = set()
    pending = [rule["expr"] for rule in keep]
    while pending:
        for name in _names(pending.pop()) - needed:
            needed.add(name)
            if name in ("ALERTS", "ALERTS_FOR_STATE"):
                pending += [r["expr"] for r in rules if "alert" in r and r not in keep]
                keep += [r for r in rules if "alert" in r and r not in keep]
            for rule in rules:
                if rule.get("record") == name:
                    pending.append(rule["expr"])
    kept = [
        {**group, "rules": [r for r in group["rules"] if r in keep or r.get("record") in needed]}
        for group in groups
    ]
    return [group for group in kept if group["rules"]]


def run_promtool_test(
    promtool: str, tmp: Path, config: StackConfig, tests: list[dict[str, Any]], interval: str
) -> subprocess.CompletedProcess[str]:
    """`promtool test rules` of `tests` against the stack's rules, cut to the alerts the tests
    name (`rules_for`)."""
    groups = rule_groups(config.services, config.observability.thresholds)
    alerts = {t["alertname"] for test in tests for t in test.get("alert_rule_test", [])}
    groups = rules_for(groups, alerts)
    (tmp / "rules.yaml").write_text(yaml.safe_dump({"groups": without_annotations(groups)}))
    (tmp / "test.yaml").write_text(
        yaml.safe_dump(
            {"rule_files": ["rules.yaml"], "evaluation_interval": interval, "tests": tests}
        )
    )
    return subprocess.run(
        [promtool, "test", "rules", "test.yaml"],
        cwd=tmp,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def _expected(case: Case) -> list[dict[str, Any]]:
    return [{"exp_labels": {**labels, **SPEC[case.alert]}} for labels in case.fires]


def _promtool_case(case: Case) -> dict[str, Any]:
    return {
        "interval": case.interval,
        "input_series": [{"series": s, "values": v} for s, v in case.series],
        "alert_rule_test": [
            {"eval_time": case.at, "alertname": case.alert, "exp_alerts": _expected(case)}
        ],
    }


PROD_CASES = cases(load_offline("prod").model)


@pytest.mark.parametrize("case", PROD_CASES, ids=lambda c: c.id)
def test_alert_case_under_promtool(
    promtool: str, prod_config: StackConfig, tmp_path: Path, case: Case
) -> None:
    result = run_promtool_test(
        promtool, tmp_path, prod_config, [_promtool_case(case)], case.evaluation_interval
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_the_three_cases() -> None:
    by_alert: dict[str, set[str]] = {}
    for case in PROD_CASES:
        kind = "fires" if case.fires else "silent"
        if "no-traffic" in case.name or "no-deployments" in case.name:
            kind = "no-traffic"
        by_alert.setdefault(case.alert, set()).add(kind)
    assert set(by_alert) | {"CodexValidationPipelineSlow"} >= set(SPEC)
    for alert in SPEC:
        kinds = by_alert[alert]
        assert {"fires", "silent"} <= kinds, alert
        # Tier alerts: traffic under the minimum; CI alerts: test_nothing_pushed_is_silent.
        if alert in TIER_SCOPED or alert == "CodexDeploymentSuccessLow":
            assert "no-traffic" in kinds, alert


def test_nothing_pushed_or_scraped_is_silent(
    promtool: str, stack_config: StackConfig, tmp_path: Path
) -> None:
    """No data at all: no alert fires (the CI alerts' 'no traffic' case)."""
    tests = [
        {
            "interval": "1m",
            "input_series": [],
            "alert_rule_test": [
                {"eval_time": "30m", "alertname": alert, "exp_alerts": []} for alert in SPEC
            ],
        }
    ]
    result = run_promtool_test(promtool, tmp_path, stack_config, tests, "1m")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_failing_expectation_fails(
    promtool: str, prod_config: StackConfig, tmp_path: Path
) -> None:
    """The harness can fail: the just-under error rate case, expected to fire, is reported."""
    case = next(c for c in PROD_CASES if c.id == "CodexErrorRateHigh-just-under")
    wrong = Case(case.alert, case.name, case.series, case.at, _tier())
    result = run_promtool_test(promtool, tmp_path, prod_config, [_promtool_case(wrong)], "1m")
    assert result.returncode != 0
    assert "CodexErrorRateHigh" in result.stdout + result.stderr


def test_sandbox_burn_thresholds_follow_its_slo(
    promtool: str, tmp_path: Path, stack_config: StackConfig
) -> None:
    """Each stack's own availability target sets the burn thresholds (sandbox: 99.5 %)."""
    relevant = [
        c for c in cases(stack_config) if c.alert == "CodexErrorBudgetBurnFast" and "6x" in c.name
    ]
    result = run_promtool_test(
        promtool, tmp_path, stack_config, [_promtool_case(c) for c in relevant], "1m"
    )
    assert result.returncode == 0, result.stdout + result.stderr


# -- static checks ---------------------------------------------------------------------------------


def test_rule_file_passes_promtool_check(
    promtool: str, stack_config: StackConfig, tmp_path: Path
) -> None:
    groups = rule_groups(stack_config.services, stack_config.observability.thresholds)
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_check_catches_a_broken_rule(promtool: str, tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        yaml.safe_dump({"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "sum(("}]}]})
    )
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0


def test_alert_names_and_labels_are_the_issues(stack_config: StackConfig) -> None:
    groups = rule_groups(stack_config.services, stack_config.observability.thresholds)
    alerts = [r for g in groups for r in g["rules"] if "alert" in r]
    assert {a["alert"] for a in alerts} == set(SPEC)
    for alert in alerts:
        assert alert["labels"] == SPEC[alert["alert"]], alert["alert"]


def test_annotations_name_the_pair_or_the_pushed_subject(stack_config: StackConfig) -> None:
    groups = rule_groups(stack_config.services, stack_config.observability.thresholds)
    for rule in (r for g in groups for r in g["rules"] if "alert" in r):
        text = rule["annotations"]["summary"] + rule["annotations"]["description"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        if rule["alert"] in TIER_SCOPED:
            assert "$labels.service" in text and "$labels.tier" in text, rule["alert"]


def test_thresholds_default_to_the_plan() -> None:
    t = ThresholdsConfig()
    plan = {
        "error_rate": 0.01,
        "latency_p95_seconds": 0.5,
        "codegen_success_rate": 0.90,
        "validation_pipeline_seconds": 7 * 60,
        "deployment_success_rate": 0.95,
        "test_coverage_ratio": 0.70,
    }
    assert {k: getattr(t, k) for k in plan} == plan


def test_every_service_has_latency_cases() -> None:
    services = {s.name for s in load_offline("prod").model.services}
    names = {c.name for c in PROD_CASES if c.alert == "CodexLatencyP95High"}
    for service in services:
        for kind in ("just-past", "just-under", "no-traffic"):
            assert f"{service}-{kind}" in names


def test_latency_threshold_ignores_the_service_slo(
    promtool: str, prod_config: StackConfig, tmp_path: Path
) -> None:
    """The p95 alert threshold is the configured one for every service: a service whose SLO
    target is slower (2 s) still alerts just past 0.5 s."""
    slow = "validation-worker"
    services = [
        s.model_copy(update={"slo": s.slo.model_copy(update={"latency_p95_ms": 2000})})
        if s.name == slow
        else s
        for s in prod_config.services
    ]
    relaxed = prod_config.model_copy(update={"services": services})
    case = next(c for c in PROD_CASES if c.id == f"CodexLatencyP95High-{slow}-just-past")
    result = run_promtool_test(promtool, tmp_path, relaxed, [_promtool_case(case)], "1m")
    assert result.returncode == 0, result.stdout + result.stderr


def test_slo_latency_targets_sit_under_the_alert_threshold(stack_config: StackConfig) -> None:
    """A service meeting its p95 target never trips the p95 rollback trigger."""
    limit = stack_config.observability.thresholds.latency_p95_seconds
    for service in stack_config.services:
        assert service.slo.latency_p95_ms / 1000 < limit, service.name


def test_thresholds_come_from_config(
    promtool: str, prod_config: StackConfig, tmp_path: Path
) -> None:
    """A stricter error-rate threshold in config makes the 0.9 % case fire."""
    thresholds = prod_config.observability.thresholds.model_copy(update={"error_rate": 0.005})
    observability = prod_config.observability.model_copy(update={"thresholds": thresholds})
    strict = prod_config.model_copy(update={"observability": observability})
    case = next(c for c in PROD_CASES if c.id == "CodexErrorRateHigh-just-under")
    firing = Case(case.alert, case.name, case.series, case.at, _tier())
    result = run_promtool_test(promtool, tmp_path, strict, [_promtool_case(firing)], "1m")
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_for_keeps_the_alert_and_what_it_reads(prod_config: StackConfig) -> None:
    groups = rule_groups(prod_config.services, prod_config.observability.thresholds)
    cut = rules_for(groups, {"CodexErrorBudgetBurnFast"})
    kept = {r.get("record") or r["alert"] for g in cut for r in g["rules"]}
    assert "CodexErrorBudgetBurnFast" in kept
    assert {
        "service:slo_error_budget:ratio",
        "service_tier:http_request_error_ratio:rate1h",
    } <= kept
    # Read through another recording rule: the 5m ratio divides by the 5m request rate.
    assert "service_tier:http_requests:rate5m" in kept
    assert "service_tier:http_requests:rate3d" not in kept
    assert "CodexErrorBudgetBurnSlow" not in kept
    assert {g["name"] for g in cut} < {g["name"] for g in groups}


def test_rules_for_an_expression_reading_alerts_keeps_every_alert() -> None:
    groups = [
        {"name": "a", "rules": [{"alert": "A", "expr": "up == 0"}, {"record": "x", "expr": "up"}]},
        {"name": "b", "rules": [{"alert": "B", "expr": 'count(ALERTS{alertstate="firing"}) > 1'}]},
    ]
    cut = rules_for(groups, {"B"})
    assert [[r.get("alert") or r["record"] for r in g["rules"]] for g in cut] == [["A"], ["B"]]
