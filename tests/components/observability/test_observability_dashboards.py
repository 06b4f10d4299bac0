"""Grafana dashboards: every query parses as PromQL (promql-parser) and names only contract
metrics, the recording rules derived from them, and ALERTS; the plan's panels are there."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import promql_parser
import pytest

from components.observability.contract import METRICS
from components.observability.render import render_files
from components.observability.rules import rule_groups
from infra.config import StackConfig
from infra.schedule import DEFAULT_PLAN, week_plan

CONTRACT_LABELS = {m.name: set(m.labels) for m in METRICS}
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


def allowed_names(config: StackConfig) -> set[str]:
    groups = rule_groups(config.services, config.observability.thresholds)
    recorded = {r["record"] for g in groups for r in g["rules"] if "record" in r}
    return set(CONTRACT_LABELS) | recorded | {"ALERTS"}


def foreign_names(expr: str, allowed: set[str]) -> list[str]:
    return [name for name, _ in selectors(expr) if name not in allowed]


@pytest.fixture
def boards(stack_config: StackConfig, tmp_path: Path) -> dict[str, dict[str, Any]]:
    render_files(stack_config, ("sandbox", "canary"), tmp_path)
    files = sorted((tmp_path / "grafana").glob("*.json"))
    loaded = {path.stem: json.loads(path.read_text()) for path in files}
    assert {uid: board["uid"] for uid, board in loaded.items()} == {u: u for u in loaded}
    return loaded


def panel_queries(board: dict[str, Any]) -> list[str]:
    queries = [
        target["expr"]
        for panel in board["panels"]
        for target in panel.get("targets", [])
        if "expr" in target
    ]
    return queries + [a["expr"] for a in board["annotations"]["list"] if "expr" in a]


def test_three_dashboards(boards: dict[str, dict[str, Any]]) -> None:
    assert set(boards) == UIDS
    for board in boards.values():
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids))


def test_every_query_parses_and_names_only_contract_metrics(
    boards: dict[str, dict[str, Any]], stack_config: StackConfig
) -> None:
    allowed = allowed_names(stack_config)
    total = 0
    for uid, board in boards.items():
        for expr in panel_queries(board):
            assert not foreign_names(expr, allowed), (uid, expr)
            for name, labels in selectors(expr):
                if name in CONTRACT_LABELS:  # only the contract's labels are matched on
                    assert labels <= CONTRACT_LABELS[name] | PUSHED_EXTRA, (uid, expr)
            total += 1
    assert total >= 20


def test_recording_rules_are_built_from_contract_metrics(stack_config: StackConfig) -> None:
    groups = rule_groups(stack_config.services, stack_config.observability.thresholds)
    allowed = allowed_names(stack_config) - {"ALERTS"}
    for rule in (r for g in groups for r in g["rules"]):
        assert not foreign_names(rule["expr"], allowed), rule


def test_the_checker_rejects_other_metrics(stack_config: StackConfig) -> None:
    allowed = allowed_names(stack_config)
    expr = "sum(rate(container_cpu_usage_seconds_total[5m])) / sum(up)"
    assert foreign_names(expr, allowed) == ["container_cpu_usage_seconds_total"]
    with pytest.raises(ValueError):
        promql_parser.parse("sum(rate(http_requests_total[5m])")


def _titles(board: dict[str, Any]) -> list[str]:
    return [p.get("title", "") for p in board["panels"]]


def _exprs(panel: dict[str, Any]) -> list[str]:
    return [t["expr"] for t in panel.get("targets", [])]


def test_system_health_panels(boards: dict[str, dict[str, Any]]) -> None:
    board = boards["codex-system-health"]
    panels = {p["title"]: p for p in board["panels"]}
    errors = next(p for t, p in panels.items() if "error" in t.lower() and "tier" in t.lower())
    (expr,) = _exprs(errors)
    names = {name for name, _ in selectors(expr)}
    assert any("error_ratio" in n for n in names)
    latency = next(p for t, p in panels.items() if "p50" in t and "p95" in t and "p99" in t)
    assert len(_exprs(latency)) == 3
    assert any(t == "Saturation" for t in _titles(board))


def test_deployment_panels(boards: dict[str, dict[str, Any]], stack_config: StackConfig) -> None:
    board = boards["codex-deployment"]
    panels = board["panels"]
    week = week_plan(stack_config.rollout.week, stack_config.schedule() or DEFAULT_PLAN)
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
