"""Helm values for kube-prometheus-stack and the Pushgateway, and the IAM documents (pure).

Pinned charts from https://prometheus-community.github.io/helm-charts:
kube-prometheus-stack 67.8.0 (Prometheus Operator v0.79.2, Grafana chart 8.8) and
prometheus-pushgateway 3.2.0 (Pushgateway v1.11.1).

The monitoring namespace enforces Pod Security `baseline` (audit and warn at `restricted`).
node-exporter is disabled: it needs host network, host PID and hostPath mounts, which only a
`privileged` namespace admits, and node metrics are not part of the Codex metric contract.
EKS runs the control plane, so the chart's etcd, scheduler, controller-manager and kube-proxy
scrapes (and their rules) are off too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pulumi

from components.observability.config import ObservabilityConfig

REPOSITORY = "https://prometheus-community.github.io/helm-charts"
KUBE_PROMETHEUS_STACK = "kube-prometheus-stack"
KUBE_PROMETHEUS_STACK_VERSION = "67.8.0"
PUSHGATEWAY = "prometheus-pushgateway"
PUSHGATEWAY_VERSION = "3.2.0"

NAMESPACE = "monitoring"
RELEASE = "kube-prometheus-stack"
PUSHGATEWAY_RELEASE = "pushgateway"
PUSHGATEWAY_URL = f"http://{PUSHGATEWAY_RELEASE}.{NAMESPACE}.svc:9091"
GRAFANA_SERVICE_ACCOUNT = "grafana"
ALERTMANAGER_SERVICE_ACCOUNT = "alertmanager"
ALERTMANAGER_SECRET = "codex-alertmanager-config"
GRAFANA_ADMIN_SECRET = "codex-grafana-admin"
DASHBOARD_LABEL = "grafana_dashboard"
SCRAPE_INTERVAL = "15s"
# The coding system's own services are scraped faster: their scrape interval is a term of the
# rollback budget (fault -> Prometheus sees it), which `rollout drill` measures.
SERVICE_SCRAPE_INTERVAL = "10s"
LICENSE = "Apache-2.0"
# Grafana itself is AGPL-3.0 (since 8.0); its pods say so.
GRAFANA_LICENSE = "AGPL-3.0-only"

IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
# Read-only access the Grafana CloudWatch data source needs (CloudWatch APIs take no resource ARNs).
CLOUDWATCH_READ_ACTIONS = [
    "cloudwatch:DescribeAlarmsForMetric",
    "cloudwatch:DescribeAlarmHistory",
    "cloudwatch:DescribeAlarms",
    "cloudwatch:ListMetrics",
    "cloudwatch:GetMetricData",
    "cloudwatch:GetInsightRuleReport",
    "ec2:DescribeRegions",
    "tag:GetResources",
]


def _storage(storage_class: str, size: str) -> dict[str, Any]:
    return {
        "volumeClaimTemplate": {
            "spec": {
                "storageClassName": storage_class,
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": size}},
            }
        }
    }


def kube_prometheus_stack_values(
    obs: ObservabilityConfig,
    *,
    region: str,
    cluster_name: str,
    grafana_role_arn: pulumi.Input[str],
    alertmanager_role_arn: pulumi.Input[str],
    labels: Mapping[str, str],
) -> dict[str, Any]:
    """Values for kube-prometheus-stack.

    `labels` are the codex.dev/* labels every object of the chart gets (the chart sets its own
    app.kubernetes.io/* labels; repeating those keys would make duplicate YAML keys).
    """
    return {
        "fullnameOverride": RELEASE,
        "commonLabels": dict(labels),
        "defaultRules": {
            "create": True,
            "rules": {
                "etcd": False,
                "kubeControllerManager": False,
                "kubeProxy": False,
                "kubeSchedulerAlerting": False,
                "kubeSchedulerRecording": False,
                "nodeExporterAlerting": False,
                "nodeExporterRecording": False,
                "windows": False,
            },
        },
        "kubeEtcd": {"enabled": False},
        "kubeControllerManager": {"enabled": False},
        "kubeScheduler": {"enabled": False},
        "kubeProxy": {"enabled": False},
        "nodeExporter": {"enabled": False},
        "windowsMonitoring": {"enabled": False},
        "kube-state-metrics": {"customLabels": dict(labels)},
        "prometheus": {
            "prometheusSpec": {
                "retention": obs.retention,
                "scrapeInterval": SCRAPE_INTERVAL,
                "evaluationInterval": obs.evaluation_interval,
                "externalLabels": {"cluster": cluster_name},
                # Select every ServiceMonitor and PrometheusRule, not only the chart's own.
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "podMonitorSelectorNilUsesHelmValues": False,
                "ruleSelectorNilUsesHelmValues": False,
                "storageSpec": _storage(obs.storage_class, obs.storage_size),
            }
        },
        "alertmanager": {
            "serviceAccount": {
                "create": True,
                "name": ALERTMANAGER_SERVICE_ACCOUNT,
                "annotations": {IRSA_ANNOTATION: alertmanager_role_arn},
            },
            "alertmanagerSpec": {
                # The configuration is the Secret this program builds from Pulumi secrets.
                "useExistingSecret": True,
                "configSecret": ALERTMANAGER_SECRET,
                "storage": _storage(obs.storage_class, "2Gi"),
            },
        },
        "grafana": {
            "enabled": True,
            "defaultDashboardsEnabled": True,
            "extraLabels": {**labels, "codex.dev/license": GRAFANA_LICENSE},
            "admin": {
                "existingSecret": GRAFANA_ADMIN_SECRET,
                "userKey": "admin-user",
                "passwordKey": "admin-password",
            },
            "serviceAccount": {
                "create": True,
                "name": GRAFANA_SERVICE_ACCOUNT,
                "annotations": {IRSA_ANNOTATION: grafana_role_arn},
            },
            "persistence": {"enabled": False},
            "sidecar": {
                "dashboards": {"enabled": True, "label": DASHBOARD_LABEL, "labelValue": "1"},
                "datasources": {
                    "enabled": True,
                    "defaultDatasourceEnabled": True,
                    "uid": "prometheus",
                },
            },
            "additionalDataSources": [
                {
                    "name": "CloudWatch",
                    "type": "cloudwatch",
                    "uid": "cloudwatch",
                    "access": "proxy",
                    "editable": False,
                    # `default` = the AWS SDK chain: the pod's IRSA web identity token.
                    "jsonData": {"authType": "default", "defaultRegion": region},
                }
            ],
            "grafana.ini": {
                "analytics": {"check_for_updates": False, "reporting_enabled": False},
                "users": {"allow_sign_up": False},
                "auth.anonymous": {"enabled": False},
            },
        },
    }


def pushgateway_values(obs: ObservabilityConfig, labels: Mapping[str, str]) -> dict[str, Any]:
    """Values for prometheus-pushgateway: CI pushes its metrics here (via kubectl port-forward;
    the gateway has no ingress)."""
    return {
        "fullnameOverride": PUSHGATEWAY_RELEASE,
        "podLabels": dict(labels),
        "serviceLabels": dict(labels),
        "automountServiceAccountToken": False,
        "securityContext": {
            "fsGroup": 65534,
            "runAsUser": 65534,
            "runAsGroup": 65534,
            "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containerSecurityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "resources": {
            "requests": {"cpu": "50m", "memory": "64Mi"},
            "limits": {"memory": "128Mi"},
        },
        # Pushed series survive a restart.
        "persistentVolume": {"enabled": True, "size": "2Gi", "storageClass": obs.storage_class},
        "extraArgs": ["--persistence.file=/data/pushgateway.data", "--persistence.interval=1m"],
        "serviceMonitor": {
            "enabled": True,
            "namespace": NAMESPACE,
            # Keep the job/instance labels CI pushed, not the gateway's.
            "honorLabels": True,
            "interval": "30s",
            "additionalLabels": dict(labels),
        },
    }


def cloudwatch_read_policy() -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": CLOUDWATCH_READ_ACTIONS, "Resource": "*"}],
        }
    )


def sns_publish_policy(topic_arn: str, kms_key_arn: str | None = None) -> str:
    """Publish to the rollback topic only (and use its KMS key, when it has one)."""
    statements: list[dict[str, Any]] = [
        {"Effect": "Allow", "Action": "sns:Publish", "Resource": topic_arn}
    ]
    if kms_key_arn:
        statements.append(
            {
                "Effect": "Allow",
                "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                "Resource": kms_key_arn,
            }
        )
    return json.dumps({"Version": "2012-10-17", "Statement": statements})
