"""Observability: Prometheus, Alertmanager and Grafana for the coding system, in one component.

Declares, in the `monitoring` namespace: kube-prometheus-stack and the Pushgateway (Helm), the
Alertmanager configuration Secret (built from Pulumi secrets), Grafana's admin Secret, one
PrometheusRule per rule group, one ServiceMonitor per service and tier with an environment, one
ConfigMap per dashboard; and the IRSA roles of Grafana (CloudWatch, read-only) and Alertmanager
(publish to the rollback topic). What goes into them is decided by the pure builders beside this
module (rules, alertmanager, dashboards, charts), which `rollout render` uses too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.helm.v3 import RepositoryOptsArgs
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from components.environment.config import ServiceConfig
from components.iam import ClusterIdentity, ServiceAccountIdentity, irsa_role
from components.labels import k8s_labels, selector_labels
from components.observability import alertmanager as am
from components.observability import charts
from components.observability.config import AlertingConfig, ObservabilityConfig
from components.observability.dashboards import dashboards, to_json
from components.observability.rules import rollback_triggers, rule_groups
from rollout_rules.contract import (
    ANNOTATION_PAGERDUTY_ROUTE,
    LABEL_LICENSE,
    LABEL_MONITORED_TIER,
    LABEL_TIER,
    namespace_for,
)
from rollout_rules.plan import WeekPlan

TIER = "shared"


@dataclass(frozen=True)
class ObservabilityArgs:
    """What the observability stack needs from the program."""

    services: Sequence[ServiceConfig]
    """The services to scrape, alert on and chart."""
    routed_service: str
    """The service the load balancer fronts (the Deployment dashboard's canary panels)."""
    settings: ObservabilityConfig
    """Thresholds, retention, storage, evaluation interval and Grafana's admin password."""
    alerting: AlertingConfig
    """The channels people are alerted through (credentials are secrets)."""
    cluster: ClusterIdentity
    """The EKS cluster and its OIDC provider (IRSA roles of Grafana and Alertmanager)."""
    region: str
    """The stack's AWS region (CloudWatch datasource, SNS endpoint)."""
    week: WeekPlan
    """This week's row of the plan (the Deployment dashboard shows it)."""
    tags: Mapping[str, str]
    """Tags of the AWS resources (the IRSA roles)."""
    tiers: tuple[str, ...]
    """Tiers that have an environment this week: each gets ServiceMonitors."""
    rollback_topic_arn: pulumi.Input[str]
    """SNS topic of the rollback function; Alertmanager's rollback receiver publishes to it."""
    tier_namespaces: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Namespace per tier (default codex-<tier>); pass the Environment's output to depend on it."""
    rollback_topic_kms_key_arn: pulumi.Input[str] | None = None
    """KMS key of the rollback topic, when it is encrypted with a customer managed key."""


def labels(name: str, license_id: str = charts.LICENSE) -> dict[str, str]:
    """Labels of a monitoring object (tier `shared`)."""
    return k8s_labels(name, TIER, license_id)


def service_monitor_spec(service: str, tier: str, namespace: pulumi.Input[str]) -> dict[str, Any]:
    """Scrape one service in one tier; every series gets `service` and `tier` from config."""
    return {
        "namespaceSelector": {"matchNames": [namespace]},
        "selector": {"matchLabels": selector_labels(service, tier)},
        "endpoints": [
            {
                "port": "metrics",
                "path": "/metrics",
                "interval": charts.SERVICE_SCRAPE_INTERVAL,
                "scrapeTimeout": "10s",
                # The contract's labels come from here, never from what a service exports.
                "honorLabels": False,
                "relabelings": [
                    {"action": "replace", "targetLabel": "service", "replacement": service},
                    {"action": "replace", "targetLabel": "tier", "replacement": tier},
                ],
            }
        ],
    }


class Observability(pulumi.ComponentResource):
    """Metrics, alerts and dashboards of the coding system."""

    namespace: pulumi.Output[str]
    """The monitoring namespace."""
    grafana_role_arn: pulumi.Output[str]
    """IRSA role of Grafana (CloudWatch read-only)."""
    alertmanager_role_arn: pulumi.Output[str]
    """IRSA role of Alertmanager (publish to the rollback topic)."""
    alertmanager_config_secret: pulumi.Output[str]
    """Name of the Secret holding alertmanager.yaml."""
    pushgateway_url: pulumi.Output[str]
    """In-cluster URL CI pushes its metrics to."""
    dashboard_uids: pulumi.Output[list[str]]
    """Grafana dashboard uids."""
    rollback_alerts: pulumi.Output[dict[str, str]]
    """Alerts that trigger a rollback, with their `for` durations (rollback budget)."""

    def __init__(
        self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("codex:observability:Observability", name, None, opts)
        obs = args.settings
        tags = dict(args.tags)
        child = pulumi.ResourceOptions(parent=self)

        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=ObjectMetaArgs(
                name=charts.NAMESPACE,
                labels={
                    **labels(charts.NAMESPACE),
                    # baseline forbids host access, so node-exporter is off (see charts.py).
                    "pod-security.kubernetes.io/enforce": "baseline",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                    "pod-security.kubernetes.io/audit": "restricted",
                    "pod-security.kubernetes.io/warn": "restricted",
                },
            ),
            opts=child,
        )
        ns = namespace.metadata.apply(lambda m: m.name or charts.NAMESPACE)

        def meta(
            obj_name: str,
            extra_labels: Mapping[str, str] | None = None,
            annotations: Mapping[str, str] | None = None,
        ) -> ObjectMetaArgs:
            return ObjectMetaArgs(
                name=obj_name,
                namespace=ns,
                labels={**labels(obj_name), **(extra_labels or {})},
                annotations=dict(annotations) if annotations else None,
            )

        # -- IRSA roles ------------------------------------------------------------------------
        cluster = args.cluster

        def identity(service_account: str) -> ServiceAccountIdentity:
            return ServiceAccountIdentity(
                cluster.oidc_provider_arn,
                cluster.oidc_issuer,
                charts.NAMESPACE,
                service_account,
            )

        grafana_role = irsa_role(
            f"{name}-grafana-cloudwatch",
            f"{name}-grafana-cloudwatch",
            description="IRSA role of Grafana: read CloudWatch metrics (ALB) for dashboards",
            identity=identity(charts.GRAFANA_SERVICE_ACCOUNT),
            policy=charts.cloudwatch_read_policy(),
            tags=tags,
            opts=child,
        )
        alertmanager_role = irsa_role(
            f"{name}-alertmanager-sns",
            f"{name}-alertmanager-sns",
            description="IRSA role of Alertmanager: publish to the rollback topic",
            identity=identity(charts.ALERTMANAGER_SERVICE_ACCOUNT),
            policy=pulumi.Output.all(
                pulumi.Output.from_input(args.rollback_topic_arn),
                pulumi.Output.from_input(args.rollback_topic_kms_key_arn),
            ).apply(lambda a: charts.sns_publish_policy(a[0], a[1])),
            tags=tags,
            opts=child,
        )

        # -- Secrets (before the chart, whose pods mount them) ----------------------------------
        channels = pulumi.Output.secret(am.Channels.from_config(args.alerting))
        region = args.region
        alertmanager_yaml = pulumi.Output.all(
            channels, pulumi.Output.from_input(args.rollback_topic_arn)
        ).apply(lambda a: am.to_yaml(am.alertmanager_config(a[0], a[1], region)))
        # The routing tree does not depend on secret values: decide the annotation from its shape.
        shape = am.alertmanager_config(
            am.Channels.from_config(args.alerting).with_placeholders(), "arn", region
        )
        annotations = (
            {ANNOTATION_PAGERDUTY_ROUTE: "true"} if am.routes_to_pagerduty(shape) else None
        )
        alertmanager_secret = k8s.core.v1.Secret(
            f"{name}-alertmanager-config",
            metadata=meta(charts.ALERTMANAGER_SECRET, annotations=annotations),
            type="Opaque",
            # Secret, since `channels` is: every value derived from it stays secret.
            string_data={am.CONFIG_KEY: alertmanager_yaml},
            opts=child,
        )
        grafana_secret = k8s.core.v1.Secret(
            f"{name}-grafana-admin",
            metadata=meta(charts.GRAFANA_ADMIN_SECRET),
            type="Opaque",
            string_data={
                "admin-user": "admin",
                "admin-password": pulumi.Output.secret(
                    obs.grafana_admin_password.get_secret_value()
                ),
            },
            opts=child,
        )

        # -- Dashboards (the Grafana sidecar loads ConfigMaps carrying its label) --------------
        boards = dashboards(args.services, obs.thresholds, args.routed_service, args.week)
        for uid, document in boards.items():
            k8s.core.v1.ConfigMap(
                f"{name}-dashboard-{uid}",
                metadata=meta(uid, {charts.DASHBOARD_LABEL: "1"}),
                data={f"{uid}.json": to_json(document)},
                opts=child,
            )

        # -- Helm releases ------------------------------------------------------------------------
        chart_labels = {
            LABEL_TIER: TIER,
            LABEL_LICENSE: charts.LICENSE,
        }
        stack = k8s.helm.v3.Release(
            f"{name}-kube-prometheus-stack",
            name=charts.RELEASE,
            chart=charts.KUBE_PROMETHEUS_STACK,
            version=charts.KUBE_PROMETHEUS_STACK_VERSION,
            namespace=ns,
            repository_opts=RepositoryOptsArgs(repo=charts.REPOSITORY),
            atomic=True,
            cleanup_on_fail=True,
            timeout=900,
            values=charts.kube_prometheus_stack_values(
                obs,
                region=region,
                cluster_name=cluster.name,
                grafana_role_arn=grafana_role.arn,
                alertmanager_role_arn=alertmanager_role.arn,
                labels=chart_labels,
            ),
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[alertmanager_secret, grafana_secret]
            ),
        )
        # Everything below uses the chart's CRDs.
        after_chart = pulumi.ResourceOptions(parent=self, depends_on=[stack])
        k8s.helm.v3.Release(
            f"{name}-pushgateway",
            name=charts.PUSHGATEWAY_RELEASE,
            chart=charts.PUSHGATEWAY,
            version=charts.PUSHGATEWAY_VERSION,
            namespace=ns,
            repository_opts=RepositoryOptsArgs(repo=charts.REPOSITORY),
            atomic=True,
            cleanup_on_fail=True,
            values=charts.pushgateway_values(obs, chart_labels),
            opts=after_chart,
        )

        # -- Rules and scrape targets ----------------------------------------------------------
        groups = rule_groups(args.services, obs.thresholds, obs.runbook_base_url())
        for group in groups:
            k8s.apiextensions.CustomResource(
                f"{name}-rules-{group['name']}",
                api_version="monitoring.coreos.com/v1",
                kind="PrometheusRule",
                metadata=meta(group["name"]),
                spec={"groups": [group]},
                opts=after_chart,
            )
        for tier in args.tiers:
            tier_namespace = args.tier_namespaces.get(tier, namespace_for(tier))
            for service in args.services:
                monitor = f"{service.name}-{tier}"
                k8s.apiextensions.CustomResource(
                    f"{name}-monitor-{monitor}",
                    api_version="monitoring.coreos.com/v1",
                    kind="ServiceMonitor",
                    metadata=meta(monitor, {LABEL_MONITORED_TIER: tier}),
                    spec=service_monitor_spec(service.name, tier, tier_namespace),
                    opts=after_chart,
                )

        self.namespace = ns
        self.grafana_role_arn = grafana_role.arn
        self.alertmanager_role_arn = alertmanager_role.arn
        self.alertmanager_config_secret = pulumi.Output.from_input(charts.ALERTMANAGER_SECRET)
        self.pushgateway_url = pulumi.Output.from_input(charts.PUSHGATEWAY_URL)
        self.dashboard_uids = pulumi.Output.from_input(sorted(boards))
        self.rollback_alerts = pulumi.Output.from_input(rollback_triggers(groups))
        self.register_outputs(
            {
                "namespace": self.namespace,
                "grafanaRoleArn": self.grafana_role_arn,
                "alertmanagerRoleArn": self.alertmanager_role_arn,
                "alertmanagerConfigSecret": self.alertmanager_config_secret,
                "pushgatewayUrl": self.pushgateway_url,
                "dashboardUids": self.dashboard_uids,
                "rollbackAlerts": self.rollback_alerts,
            }
        )
