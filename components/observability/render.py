"""Render outputs of the observability stack for `rollout render --out DIR`.

- DIR/prometheus/rules.yaml: a plain Prometheus rule file (the PrometheusRule groups);
- DIR/alertmanager/alertmanager.yaml: the Alertmanager configuration with each secret replaced by
  a placeholder of the same shape, so `amtool check-config` accepts the file;
- DIR/grafana/<uid>.json: one file per dashboard.

Importing this module registers the renderer with infra.render.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from components.observability import alertmanager as am
from components.observability.component import this_week
from components.observability.dashboards import dashboards, to_json
from components.observability.rules import rule_file
from components.yaml_text import to_yaml
from infra.config import StackConfig
from infra.schedule import DEFAULT_PLAN, tiers_with_environment

ROLLBACK_TOPIC_NAME = "codex-rollback"


def placeholder_topic_arn(config: StackConfig) -> str:
    """The rollback topic's ARN as the stack would have it (account of the cluster's OIDC)."""
    account = config.cluster.oidc_provider_arn.split(":")[4]
    return f"arn:aws:sns:{config.region}:{account}:{ROLLBACK_TOPIC_NAME}"


def render_files(
    config: StackConfig,
    tiers: tuple[str, ...],
    out: Path,
    rollback_topic_arn: str | None = None,
) -> None:
    """Write the rule file, the Alertmanager config (placeholder secrets) and the dashboards.

    `tiers` is accepted for symmetry with the component: rules and dashboards are the same for
    every set of tiers (they select by label), only the ServiceMonitors differ, and those are in
    the rendered Kubernetes objects.
    """
    del tiers
    prometheus = out / "prometheus"
    prometheus.mkdir(parents=True, exist_ok=True)
    rules = rule_file(config.services, config.observability.thresholds)
    (prometheus / "rules.yaml").write_text(to_yaml(rules))

    alertmanager = out / "alertmanager"
    alertmanager.mkdir(parents=True, exist_ok=True)
    channels = am.Channels.from_config(config.alerting).with_placeholders()
    document = am.alertmanager_config(
        channels, rollback_topic_arn or placeholder_topic_arn(config), config.region
    )
    (alertmanager / "alertmanager.yaml").write_text(am.to_yaml(document))

    grafana = out / "grafana"
    grafana.mkdir(parents=True, exist_ok=True)
    boards = dashboards(
        config.services,
        config.observability.thresholds,
        config.routing.service,
        this_week(config),
    )
    for uid, board in boards.items():
        (grafana / f"{uid}.json").write_text(to_json(board))


def _rollback_topic_arn(plan: Any) -> str | None:
    """The rollback topic's ARN from a plan's records, if the plan declares one."""
    for record in getattr(plan, "records", []):
        if record.type == "aws:sns/topic:Topic" and "rollback" in record.name:
            arn = (record.outputs or {}).get("arn")
            if isinstance(arn, str) and arn.startswith("arn:"):
                return arn
    return None


def render_plan(plan: Any, out: Path) -> None:
    """The observability outputs of an offline plan under `out` (for `rollout render`)."""
    config: StackConfig = plan.config
    tiers = tiers_with_environment(plan.week, config.schedule() or DEFAULT_PLAN)
    render_files(config, tiers, out, _rollback_topic_arn(plan))


__all__ = ["render_files", "render_plan"]
