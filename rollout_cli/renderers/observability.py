"""Render outputs of the observability stack for `rollout render --out DIR`.

- DIR/prometheus/rules.yaml: a plain Prometheus rule file (the PrometheusRule groups);
- DIR/alertmanager/alertmanager.yaml: the Alertmanager configuration with each secret replaced by
  a placeholder of the same shape, so `amtool check-config` accepts the file;
- DIR/grafana/<uid>.json: one file per dashboard.

"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from components.observability import alertmanager as am
from components.observability.dashboards import dashboards, to_json
from components.observability.rules import rule_file
from components.yaml_text import to_yaml
from infra.config import StackConfig
from rollout_rules.contract import PURPOSE_ROLLBACK, PURPOSE_TAG, TOPIC_TYPE
from rollout_rules.plan import week_plan

ROLLBACK_TOPIC_NAME = "codex-rollback"


def placeholder_topic_arn(config: StackConfig) -> str:
    """The rollback topic's ARN as the stack would have it (account of the cluster's OIDC)."""
    return f"arn:aws:sns:{config.region}:{config.account_id}:{ROLLBACK_TOPIC_NAME}"


def render_files(
    config: StackConfig,
    week: int,
    out: Path,
    rollback_topic_arn: str | None = None,
) -> None:
    """Write the rule file, the Alertmanager config (placeholder secrets) and the dashboards.

    Rules and dashboards are the same for every set of tiers (they select by label); only the
    ServiceMonitors differ, and those are among the rendered Kubernetes objects.
    """
    prometheus = out / "prometheus"
    prometheus.mkdir(parents=True, exist_ok=True)
    rules = rule_file(
        config.services,
        config.observability.thresholds,
        config.observability.runbook_base_url(),
    )
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
        week_plan(week, config.schedule()),
    )
    for uid, board in boards.items():
        (grafana / f"{uid}.json").write_text(to_json(board))


def _rollback_topic_arn(plan: Any) -> str | None:
    """The ARN of the plan's rollback topic (the topic tagged purpose=rollback), if any."""
    for record in getattr(plan, "records", []):
        tags = record.inputs.get("tags") or {}
        if record.type == TOPIC_TYPE and tags.get(PURPOSE_TAG) == PURPOSE_ROLLBACK:
            arn = (record.outputs or {}).get("arn")
            if isinstance(arn, str) and arn.startswith("arn:"):
                return arn
    return None


def render_plan(plan: Any, out: Path) -> None:
    """The observability outputs of an offline plan under `out` (for `rollout render`)."""
    render_files(plan.config, plan.week, out, _rollback_topic_arn(plan))


__all__ = ["render_files", "render_plan"]
