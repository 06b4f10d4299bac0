"""Grafana dashboards: every query parses as PromQL (promql-parser); panel queries name only
contract metrics (no recording rule, no ALERTS), annotations only contract metrics or ALERTS;
the recording rules expanded into panels compute what the rules record (promtool); the plan's
panels are there."""

from __future__ import annotations

import json
import subprocess
from itertools import pairwise
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from components.observability import rules as r
from components.observability.config import ThresholdsConfig
from components.observability.contract import METRICS
from components.observability.dashboards import annotation_queries, panel_queries
from components.observability.rules import rule_groups
from infra.config import StackConfig
from rollout_cli.renderers.observability import render_files
from rollout_rules.plan import week_plan

CONTRACT_LABELS = {m.name: set(m.labels) for m in METRICS}
CONTRACT = set(CONTRACT_LABELS)
# Annotations (rollback events) may also read the series Prometheus keeps for alert rules.
ANNOTATION_NAMES = CONTRACT | {"ALERTS"}
# The labels CI's pushed series carry besides the contract's (the Pushgateway's grouping key).
PUSHED_EXTRA = {"job", "instance"}
UIDS = {"codex-system-health", "codex-deployment", "codex-compliance"}


def selectors(expr: str) -> list[tuple[str, set[str]]]:
    """(metric name, label names matched) of every vector selector in `expr`."""
    found: list[tuple[str, set[str]]] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            matchers = node.matchers.matchers
            name = node.name or next(m.value for m in matchers if m.name == "__name__")
            found.append((name, {m.name for m in matchers if m.name != "__name__"}))

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def ranged_names(expr: str) -> set[str]:
    """The metric names `expr` reads over a range (`name[5m]`)."""
    found: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.MatrixSelector):
            found.update(name for name, _ in selectors(node.vector_selector.prettify()))

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def recorded_names(config: StackConfig) -> set[str]:
    return r.recorded_names(rule_groups(config.services, config.observability.thresholds))


def foreign_names(expr: str, allowed: set[str]) -> list[str]:
    return [name for name, _ in selectors(expr) if name not in allowed]


@pytest.fixture
def boards(stack_config: StackConfig, tmp_path: Path) -> dict[str, dict[str, Any]]:
    render_files(stack_config, stack_config.rollout.week, tmp_path)
    files = sorted((tmp_path / "grafana").glob("*.json"))
    loaded = {path.stem: json.loads(path.read_text()) for path in files}
    assert {uid: board["uid"] for uid, board in loaded.items()} == {u: u for u in loaded}
    return loaded


def _raw_panel_queries(board: dict[str, Any]) -> list[str]:
    """Panel queries read from the JSON directly (not through the module under test)."""
    return [
        target["expr"]
        for panel in board["panels"]
        for target in panel.get("targets", [])
        if "expr" in target
    ]


def test_three_dashboards(boards: dict[str, dict[str, Any]]) -> None:
    assert set(boards) == UIDS
    for board in boards.values():
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids))


def _contract_labels_only(uid: str, expr: str) -> None:
    for name, labels in selectors(expr):
        if name in CONTRACT_LABELS:  # only the contract's labels are matched on
            assert labels <= CONTRACT_LABELS[name] | PUSHED_EXTRA, (uid, expr)


def test_every_panel_query_parses_and_names_only_contract_metrics(
    boards: dict[str, dict[str, Any]],
) -> None:
    total = 0
    for uid, board in boards.items():
        queries = _raw_panel_queries(board)
        assert queries == panel_queries(board)
        for expr in queries:
            assert not foreign_names(expr, CONTRACT), (uid, expr)
            _contract_labels_only(uid, expr)
            total += 1
    assert total >= 20


def test_annotation_queries_name_only_contract_metrics_or_alerts(
    boards: dict[str, dict[str, Any]],
) -> None:
    for uid, board in boards.items():
        queries = [a["expr"] for a in board["annotations"]["list"] if "expr" in a]
        assert queries and queries == annotation_queries(board)
        for expr in queries:
            assert not foreign_names(expr, ANNOTATION_NAMES), (uid, expr)
            _contract_labels_only(uid, expr)


def test_recording_rules_are_built_from_contract_metrics(stack_config: StackConfig) -> None:
    groups = rule_groups(stack_config.services, stack_config.observability.thresholds)
    allowed = CONTRACT | recorded_names(stack_config)
    for rule in (rule for group in groups for rule in group["rules"]):
        assert not foreign_names(rule["expr"], allowed), rule


def test_the_checker_rejects_other_metrics(stack_config: StackConfig) -> None:
    expr = "sum(rate(container_cpu_usage_seconds_total[5m])) / sum(up)"
    assert foreign_names(expr, CONTRACT) == ["container_cpu_usage_seconds_total"]
    for name in [*sorted(recorded_names(stack_config)), "ALERTS"]:
        assert foreign_names(f"sum({name})", CONTRACT) == [name]
    assert foreign_names('ALERTS{action="rollback"}', ANNOTATION_NAMES) == []
    with pytest.raises(ValueError):
        promql_parser.parse("sum(rate(http_requests_total[5m])")


# -- rules.expand: recording rules as contract expressions ---------------------------------------


def test_expand_leaves_only_contract_metrics(stack_config: StackConfig) -> None:
    groups = rule_groups(stack_config.services, stack_config.observability.thresholds)
    for name in recorded_names(stack_config):
        for expr in (name, f"sum by (service) ({name}) / 2"):
            expanded = r.expand(expr, groups)
            assert not foreign_names(expanded, CONTRACT), (name, expanded)
    tiered = r.expand(r.error_ratio("5m") + '{tier="canary"}', groups)
    http = [labels for name, labels in selectors(tiered) if name == "http_requests_total"]
    assert len(http) == 3 and all("tier" in labels for labels in http), tiered


def test_expand_refuses_matchers_it_cannot_push_down(stack_config: StackConfig) -> None:
    """A matcher on a label the rule aggregates away (or on a constant) would change the
    result: refused rather than silently wrong."""
    groups = rule_groups(stack_config.services, stack_config.observability.thresholds)
    for expr in (r.error_ratio("5m") + '{code="500"}', r.ERROR_BUDGET + '{service="x"}'):
        with pytest.raises(ValueError):
            r.expand(expr, groups)


# Minutes before the evaluation time (73h) at which every synthetic rate changes, so that windows
# of 5m, 10m, 30m, 1h, 6h, 1d and 3d each see a different mix (a linear counter would give every
# window the same rate and hide a wrong window).
PHASE_ENDS = (4380, 2000, 600, 180, 45, 20, 8, 4, 0)
EVAL = "73h"


def _phased(per_minute: list[float]) -> str:
    """A counter from 0 over the phases of PHASE_ENDS, rising per_minute[i] in phase i."""
    value, parts = 0.0, ["0"]
    for rate, (begin, end) in zip(per_minute, pairwise(PHASE_ENDS), strict=True):
        steps = begin - end
        parts.append(f"{value + rate:.10g}+{rate:.10g}x{steps - 1}")
        value += rate * steps
    return " ".join(parts)


def _contract_series() -> list[dict[str, str]]:
    """Synthetic contract series: two services, three (service, tier) pairs, CI deployments."""

    def series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
        inner = ",".join(f'{k}="{v}"' for k, v in {"job": "codex", **labels}.items())
        return {"series": f"{name}{{{inner}}}", "values": values}

    phases = len(PHASE_ENDS) - 1
    wobble = [1 + (i % 3) * 0.5 for i in range(phases)]  # 1, 1.5, 2, 1, ...
    out = []
    for service, tier, base in (
        ("codegen-api", "canary", 60),
        ("codegen-api", "production", 600),
        ("validation-worker", "canary", 30),
    ):
        pair = {"service": service, "tier": tier}
        errors = [0.01 * (i + 1) for i in range(phases)]  # a different 5xx share per phase
        for code, shares in (("200", [1 - e for e in errors]), ("503", errors)):
            values = _phased([base * w * sh for w, sh in zip(wobble, shares, strict=True)])
            out.append(series("http_requests_total", {**pair, "code": code}, values))
        for le, slow, fast in (
            ("0.1", 0.2, 0.6),
            ("0.5", 0.7, 0.8),
            ("1", 0.92, 0.97),
            ("2.5", 0.995, 0.999),
            ("+Inf", 1, 1),
        ):  # p50, p95 and p99 each fall inside a finite bucket
            shares = [slow if i % 2 else fast for i in range(phases)]
            values = _phased([base * w * sh for w, sh in zip(wobble, shares, strict=True)])
            out.append(series("http_request_duration_seconds_bucket", {**pair, "le": le}, values))
        for outcome, shares in (
            ("success", [0.9 - 0.05 * i for i in range(phases)]),
            ("failure", [0.1 + 0.05 * i for i in range(phases)]),
        ):
            values = _phased([base * sh for sh in shares])
            out.append(series("codegen_requests_total", {**pair, "outcome": outcome}, values))
    for outcome, shares in (("success", [1, 0.9, 0.8, 0.9] * 2), ("failure", [0, 0.1] * 4)):
        values = _phased([0.01 * sh for sh in shares])
        out.append(series("deployments_total", {"stack": "prod", "outcome": outcome}, values))
    return out


def test_expanded_rules_compute_what_the_rules_record(
    promtool: str, stack_config: StackConfig, tmp_path: Path
) -> None:
    """For every recording rule (and a tier-filtered one), the expression the dashboards get
    from `expand` yields exactly the rule's series at the same instant."""
    groups = rule_groups(stack_config.services, stack_config.observability.thresholds)
    checks = [
        *sorted(recorded_names(stack_config)),
        r.error_ratio("5m") + '{tier="canary"}',
        r.latency_quantile(0.95) + '{service="codegen-api"}',
        r.request_rate("1h") + '{tier="production"}',
    ]
    expr_tests = []
    for recorded in checks:
        expanded = r.expand(recorded, groups)
        assert not foreign_names(expanded, CONTRACT), expanded
        differs = (
            f"({recorded}) != ({expanded}) or ({recorded}) unless ({expanded}) "
            f"or ({expanded}) unless ({recorded})"
        )
        expr_tests += [
            {"expr": f"absent({recorded})", "eval_time": EVAL, "exp_samples": []},
            {"expr": differs, "eval_time": EVAL, "exp_samples": []},
        ]
    # promtool evaluates the rules every evaluation_interval from 0 to EVAL. Every check is at
    # EVAL, and no recording rule reads a recorded series over a range (asserted here), so the
    # evaluations before EVAL cannot change a result: evaluate at 0 and EVAL only.
    assert ranged_names("max_over_time(a:b[1h]) + rate(c[5m]) / d") == {"a:b", "c"}
    for group in groups:
        for rule in group["rules"]:
            if "record" in rule:
                assert not ranged_names(rule["expr"]) & recorded_names(stack_config), rule
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    (tmp_path / "test.yaml").write_text(
        yaml.safe_dump(
            {
                "rule_files": ["rules.yaml"],
                "evaluation_interval": EVAL,
                "tests": [
                    {
                        "interval": "1m",
                        "input_series": _contract_series(),
                        "promql_expr_test": expr_tests,
                    }
                ],
            }
        )
    )
    result = subprocess.run(
        [promtool, "test", "rules", "test.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _titles(board: dict[str, Any]) -> list[str]:
    return [p.get("title", "") for p in board["panels"]]


def _exprs(panel: dict[str, Any]) -> list[str]:
    return [t["expr"] for t in panel.get("targets", [])]


def test_system_health_panels(boards: dict[str, dict[str, Any]]) -> None:
    board = boards["codex-system-health"]
    panels = {p["title"]: p for p in board["panels"]}
    errors = next(p for t, p in panels.items() if "error" in t.lower() and "tier" in t.lower())
    (expr,) = _exprs(errors)
    assert expr == r.expand(r.error_ratio("5m"), rule_groups([], ThresholdsConfig()))
    assert ("http_requests_total", {"code"}) in selectors(expr)
    latency = next(p for t, p in panels.items() if "p50" in t and "p95" in t and "p99" in t)
    assert len(_exprs(latency)) == 3
    assert any(t == "Saturation" for t in _titles(board))


def test_deployment_panels(boards: dict[str, dict[str, Any]], stack_config: StackConfig) -> None:
    board = boards["codex-deployment"]
    panels = board["panels"]
    week = week_plan(stack_config.rollout.week, stack_config.schedule())
    (text,) = [p for p in panels if p["type"] == "text"]
    content = text["options"]["content"]
    assert f"Week {week.week}" in content and week.phase in content
    for tier, weight in week.allocation.as_dict().items():
        assert f"| {tier} | {weight} % |" in content
    assert any("weight per tier" in p.get("title", "").lower() for p in panels)
    # Canary and production side by side: same row, same height, canary on the left.
    canary = [p for p in panels if any('tier="canary"' in e for e in _exprs(p))]
    production = [p for p in panels if any('tier="production"' in e for e in _exprs(p))]
    assert canary and len(canary) == len(production)
    for left, right in zip(canary, production, strict=True):
        assert left["gridPos"]["y"] == right["gridPos"]["y"]
        assert left["gridPos"]["x"] < right["gridPos"]["x"]
    (annotation,) = board["annotations"]["list"]
    assert 'action="rollback"' in annotation["expr"]


def test_compliance_panels(boards: dict[str, dict[str, Any]]) -> None:
    titles = " | ".join(_titles(boards["codex-compliance"])).lower()
    for wanted in ("by framework", "security scan", "licence"):
        assert wanted in titles
