"""Grafana dashboards, built with grafana-foundation-sdk (pure: config in, dashboard JSON out).

Three dashboards, the plan's: System Health, Deployment, Compliance. Every panel query names only
contract metrics (contract.py): where a panel shows what a recording rule of rules.py records, its
query is the rule's own expression, substituted by `rules.expand`, so panel and rule cannot drift.
The rollback annotations (not panels) read `ALERTS`, the series Prometheus keeps for the alert
rules of rules.py: a rollback event is an alert, and no contract metric records it.

Saturation: the contract carries no container resource metrics, so saturation is shown as load per
ready target and the share of targets up; kube-prometheus-stack's own dashboards (installed with
the chart) show CPU and memory per namespace and pod.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus, stat, table, text, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.common import (
    BigValueColorMode,
    BigValueGraphMode,
    GraphTresholdsStyleMode,
    LegendDisplayMode,
)

from components.environment.config import ServiceConfig
from components.observability import rules as r
from components.observability.config import ThresholdsConfig
from rollout_rules.plan import WeekPlan

PROMETHEUS = model.DataSourceRef(type_val="prometheus", uid="prometheus")
CLOUDWATCH_UID = "cloudwatch"
ROLLBACK_EVENTS = 'ALERTS{alertstate="firing", action="rollback"}'
TIER_TARGETS = 'up{tier=~".+"}'
REFRESH = "30s"


@dataclass(frozen=True)
class Query:
    """One panel query: PromQL and its legend."""

    expr: str
    legend: str = ""


def _target(query: Query, ref: str) -> prometheus.Dataquery:
    target = prometheus.Dataquery().expr(query.expr).ref_id(ref).datasource(PROMETHEUS)
    if query.legend:
        target = target.legend_format(query.legend)
    return target


def _thresholds(*steps: tuple[float | None, str]) -> dash.ThresholdsConfig:
    return (
        dash.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps([model.Threshold(value=value, color=color) for value, color in steps])
    )


def _series(
    title: str,
    queries: Sequence[Query],
    unit: str,
    *,
    description: str = "",
    width: int = 12,
    alert_above: float | None = None,
    alert_below: float | None = None,
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(PROMETHEUS)
        .unit(unit)
        .span(width)
        .height(8)
        .legend(
            common_builder.VizLegendOptions()
            .show_legend(True)
            .display_mode(LegendDisplayMode.TABLE)
        )
    )
    for index, query in enumerate(queries):
        panel = panel.with_target(_target(query, chr(ord("A") + index)))
    if alert_above is not None:
        panel = panel.thresholds(_thresholds((None, "green"), (alert_above, "red")))
    elif alert_below is not None:
        panel = panel.thresholds(_thresholds((None, "red"), (alert_below, "green")))
    if alert_above is not None or alert_below is not None:
        panel = panel.thresholds_style(
            common_builder.GraphThresholdsStyleConfig().mode(GraphTresholdsStyleMode.DASHED)
        )
    return panel


def _stat(
    title: str,
    query: Query,
    unit: str,
    *,
    description: str = "",
    width: int = 6,
    steps: Sequence[tuple[float | None, str]] = ((None, "green"),),
) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(PROMETHEUS)
        .with_target(_target(query, "A"))
        .unit(unit)
        .span(width)
        .height(6)
        .color_mode(BigValueColorMode.BACKGROUND)
        .graph_mode(BigValueGraphMode.NONE)
        .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]))
        .thresholds(_thresholds(*steps))
    )


def _rollback_annotations() -> dash.AnnotationQuery:
    return (
        dash.AnnotationQuery()
        .name("Rollbacks")
        .datasource(PROMETHEUS)
        .enable(True)
        .icon_color("red")
        .expr(ROLLBACK_EVENTS)
    )


def _dashboard(uid: str, title: str, description: str, tags: list[str]) -> dash.Dashboard:
    return (
        dash.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["codex", *tags])
        .refresh(REFRESH)
        .time("now-6h", "now")
        .timezone("utc")
        .readonly()
        .annotation(_rollback_annotations())
    )


Expand = Callable[[str], str]
"""An expression over recording rules -> the same over contract metrics (`rules.expand`)."""


def system_health(t: ThresholdsConfig, x: Expand) -> dash.Dashboard:
    pair = "{{service}} / {{tier}}"
    quantiles = [Query(x(r.latency_quantile(q)), f"p{round(q * 100)} {pair}") for q in r.QUANTILES]
    return (
        _dashboard(
            "codex-system-health",
            "Codex / System Health",
            "Real-time request rate, errors by component and tier, latency and saturation.",
            ["health"],
        )
        .with_row(dash.Row("Traffic and errors"))
        .with_panel(
            _series(
                "Request rate by component and tier",
                [Query(x(r.request_rate("5m")), pair)],
                "reqps",
            )
        )
        .with_panel(
            _series(
                "5xx error rate by component and tier",
                [Query(x(r.error_ratio("5m")), pair)],
                "percentunit",
                description="Share of requests answered 5xx over 5 minutes; the line is the "
                "rollback threshold.",
                alert_above=t.error_rate,
            )
        )
        .with_row(dash.Row("Latency"))
        .with_panel(
            _series(
                "Request duration p50 / p95 / p99",
                quantiles,
                "s",
                width=16,
                alert_above=t.latency_p95_seconds,
            )
        )
        .with_panel(
            _series(
                "p95 against the alert threshold",
                [Query(x(f"{r.latency_quantile(0.95)} / {r.num(t.latency_p95_seconds)}"), pair)],
                "percentunit",
                description=f"1 = {r.num(t.latency_p95_seconds)} s, the p95 that triggers a "
                "rollback (the same threshold for every service).",
                width=8,
                alert_above=1,
            )
        )
        .with_row(dash.Row("Saturation"))
        .with_panel(
            _series(
                "Requests per ready target",
                [
                    Query(
                        x(
                            f"{r.request_rate('5m')} / on ({r.BY}) "
                            f"count by ({r.BY}) ({TIER_TARGETS} == 1)"
                        ),
                        pair,
                    )
                ],
                "reqps",
                description="Load each ready replica carries.",
                width=8,
            )
        )
        .with_panel(
            _series(
                "Targets up",
                [Query(f"avg by ({r.BY}) ({TIER_TARGETS})", pair)],
                "percentunit",
                width=8,
                alert_below=1,
            )
        )
        .with_panel(
            _stat(
                "Tiers with no target up",
                Query(f"count (max by ({r.BY}) ({TIER_TARGETS}) == 0) or vector(0)"),
                "short",
                width=8,
                steps=((None, "green"), (1, "red")),
            )
        )
        .with_row(dash.Row("Code generation and error budget"))
        .with_panel(
            _series(
                "Code generation success rate",
                [Query(x(r.CODEGEN_SUCCESS), pair)],
                "percentunit",
                alert_below=t.codegen_success_rate,
            )
        )
        .with_panel(
            _series(
                "Error budget burn rate (1h)",
                [
                    Query(
                        x(f"{r.error_ratio('1h')} / on (service) group_left () {r.ERROR_BUDGET}"),
                        pair,
                    )
                ],
                "x",
                description="1 = spending the error budget exactly as fast as it accrues; "
                "14.4 over 1h pages.",
                alert_above=14.4,
            )
        )
    )


def _side_by_side(
    title: str, expr: Callable[[str], str], unit: str, threshold: float
) -> list[timeseries.Panel]:
    return [
        _series(
            f"{title}: {tier}",
            [Query(expr(tier), "{{service}}")],
            unit,
            alert_above=threshold,
        )
        for tier in ("canary", "production")
    ]


def deployment(
    t: ThresholdsConfig, x: Expand, routed_service: str, week: WeekPlan
) -> dash.Dashboard:
    routed = f'service="{routed_service}"'
    rate = r.request_rate("5m")
    shares = "\n".join(
        f"| {tier} | {weight} % |" for tier, weight in week.allocation.as_dict().items()
    )
    board = _dashboard(
        "codex-deployment",
        "Codex / Deployment",
        "Rollout progress, canary against production, deployments and CI.",
        ["deployment"],
    )
    board = (
        board.with_row(dash.Row("Rollout"))
        .with_panel(
            text.Panel()
            .title("Current week and phase")
            .content(
                f"## Week {week.week}: {week.phase}\n\n"
                f"Planned traffic for `{routed_service}` this week:\n\n"
                f"| tier | weight |\n|---|---|\n{shares}\n\n"
                "Rollback annotations mark alerts that moved traffic off a tier."
            )
            .span(8)
            .height(8)
        )
        .with_panel(
            _series(
                "Traffic weight per tier (observed)",
                [
                    Query(
                        x(
                            f"sum by (tier) ({rate}{{{routed}}}) / ignoring (tier) group_left () "
                            f"sum ({rate}{{{routed}}})"
                        ),
                        "{{tier}}",
                    )
                ],
                "percentunit",
                description=f"Share of {routed_service} requests each tier served.",
                width=16,
            )
        )
        .with_row(dash.Row("Canary and production side by side"))
    )
    for left, right in (
        _side_by_side(
            "5xx error rate",
            lambda tier: x(f'{r.error_ratio("5m")}{{tier="{tier}"}}'),
            "percentunit",
            t.error_rate,
        ),
        _side_by_side(
            "p95 latency",
            lambda tier: x(f'{r.latency_quantile(0.95)}{{tier="{tier}"}}'),
            "s",
            t.latency_p95_seconds,
        ),
    ):
        board = board.with_panel(left).with_panel(right)
    return (
        board.with_row(dash.Row("Deployments and CI"))
        .with_panel(
            _stat(
                "Deployments (24h)",
                Query("sum by (stack) (increase(deployments_total[1d]))", "{{stack}}"),
                "short",
            )
        )
        .with_panel(
            _stat(
                "Deployment success rate (24h)",
                Query(x(r.DEPLOYMENT_SUCCESS), "{{stack}}"),
                "percentunit",
                steps=((None, "red"), (t.deployment_success_rate, "green")),
            )
        )
        .with_panel(
            _stat(
                "Test coverage",
                Query("min by (pipeline) (test_coverage_ratio)", "{{pipeline}}"),
                "percentunit",
                steps=((None, "red"), (t.test_coverage_ratio, "green")),
            )
        )
        .with_panel(
            _stat(
                "Validation pipeline duration",
                Query("max by (pipeline) (validation_pipeline_duration_seconds)", "{{pipeline}}"),
                "s",
                steps=((None, "green"), (t.validation_pipeline_seconds, "red")),
            )
        )
    )


def compliance() -> dash.Dashboard:
    def violations(selector: str) -> Query:
        return Query(f"sum by (stack) (policy_violations{{{selector}}}) or vector(0)", "{{stack}}")

    failing = ((None, "green"), (1, "red"))
    return (
        _dashboard(
            "codex-compliance",
            "Codex / Compliance",
            "Policy evaluation results pushed by CI: by framework (pack), security, licences.",
            ["compliance"],
        )
        .with_row(dash.Row("Policy evaluation"))
        .with_panel(
            _stat(
                "Mandatory violations",
                violations('enforcement="mandatory"'),
                "short",
                steps=failing,
            )
        )
        .with_panel(
            _stat(
                "Security scan status",
                violations('pack=~".*security.*"'),
                "short",
                description="Violations of the security policies (0 = passing).",
                steps=failing,
            )
        )
        .with_panel(
            _stat(
                "Licence compliance",
                violations('pack=~".*licens.*"'),
                "short",
                description="Violations of the licensing policies (0 = compliant).",
                steps=failing,
            )
        )
        .with_panel(
            _stat(
                "GDPR and SOC 2",
                violations('pack=~".*(gdpr|soc2).*"'),
                "short",
                steps=failing,
            )
        )
        .with_panel(
            table.Panel()
            .title("Policy results by framework")
            .description("Violations per stack, pack (framework) and enforcement level.")
            .datasource(PROMETHEUS)
            .with_target(
                _target(
                    Query("sum by (stack, pack, enforcement) (policy_violations)"), "A"
                ).instant()
            )
            .span(24)
            .height(10)
        )
        .with_panel(
            _series(
                "Violations over time",
                [
                    Query(
                        "sum by (pack, enforcement) (policy_violations)", "{{pack}} {{enforcement}}"
                    )
                ],
                "short",
                width=24,
            )
        )
    )


def dashboards(
    services: Sequence[ServiceConfig],
    thresholds: ThresholdsConfig,
    routed_service: str,
    week: WeekPlan,
) -> dict[str, dict[str, Any]]:
    """uid -> dashboard JSON model, for every dashboard.

    `services` and `thresholds` are the rules' (rules.rule_groups): panels showing what a
    recording rule records use that rule's expression.
    """
    groups = r.rule_groups(services, thresholds)

    def x(expr: str) -> str:
        return r.expand(expr, groups)

    built = [
        system_health(thresholds, x),
        deployment(thresholds, x, routed_service, week),
        compliance(),
    ]
    out: dict[str, dict[str, Any]] = {}
    for board in built:
        document: dict[str, Any] = json.loads(json.dumps(board.build(), cls=JSONEncoder))
        for panel_id, panel in enumerate(document["panels"], start=1):
            panel["id"] = panel_id  # Grafana needs unique ids to link and edit panels
        out[document["uid"]] = document
    return out


def to_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def panel_queries(document: dict[str, Any]) -> list[str]:
    """The PromQL expressions of a dashboard's panels (contract metrics only)."""
    return [
        target["expr"]
        for panel in document.get("panels", [])
        for target in panel.get("targets", [])
        if "expr" in target
    ]


def annotation_queries(document: dict[str, Any]) -> list[str]:
    """The PromQL expressions of a dashboard's annotations (contract metrics or `ALERTS`)."""
    return [a["expr"] for a in document.get("annotations", {}).get("list", []) if "expr" in a]


def queries(document: dict[str, Any]) -> list[str]:
    """Every PromQL expression of a dashboard: panel targets and annotations."""
    return panel_queries(document) + annotation_queries(document)
