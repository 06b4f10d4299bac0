"""Admission: OPA Gatekeeper from its pinned Helm chart, in its own namespace, and the
ConstraintTemplates and Constraints of the tier namespaces (see templates.py).

Enforcement rolls out like the rest: every tier's constraints exist from week 1 in `dryrun`
(Gatekeeper's audit reports, nothing is refused) and switch to `deny` in the week the stack
config gives (`rollout_rules.admission`: by default the week before the tier first takes
traffic), so the change that starts refusing is a one-field diff of that tier's constraints.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.helm.v3 import RepositoryOptsArgs
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from components.admission.config import AdmissionConfig
from components.admission.templates import RULES, Settings, constraint, constraint_template
from rollout_rules.admission import enforcement_action
from rollout_rules.contract import LABEL_LICENSE, LABEL_TIER

CHART = "gatekeeper"
CHART_REPOSITORY = "https://open-policy-agent.github.io/gatekeeper/charts"
NAMESPACE = "gatekeeper-system"
# The chart's webhooks skip namespaces with this label; Gatekeeper must never review itself.
IGNORE_LABEL = "admission.gatekeeper.sh/ignore"
LICENSE = "Apache-2.0"
SHARED_LABELS = {
    "app.kubernetes.io/part-of": "codex",
    "app.kubernetes.io/managed-by": "pulumi",
    LABEL_TIER: "shared",
    LABEL_LICENSE: LICENSE,
}


@dataclass(frozen=True)
class AdmissionArgs:
    """What the admission policies need: the settings and this week's deny weeks."""

    settings: AdmissionConfig
    week: int
    deny_from: Mapping[str, int | None]
    """Per tier: the week its constraints deny from (None: dryrun throughout)."""


def gatekeeper_values(settings: AdmissionConfig) -> dict[str, object]:
    """Helm values: pod-security 'restricted' compatible, bounded resources, no extra jobs."""
    resources = {
        "requests": {"cpu": settings.resources.cpu_request, "memory": settings.resources.memory},
        "limits": {"cpu": settings.resources.cpu_limit, "memory": settings.resources.memory},
    }
    job_resources = {
        "requests": {"cpu": "50m", "memory": "64Mi"},
        "limits": {"cpu": "200m", "memory": "128Mi"},
    }
    return {
        "replicas": settings.replicas,
        "validatingWebhookFailurePolicy": settings.failure_policy,
        "logDenies": True,
        "enableRuntimeDefaultSeccompProfile": True,
        "podLabels": {**SHARED_LABELS, "app.kubernetes.io/name": CHART},
        "controllerManager": {"resources": resources},
        "audit": {"resources": resources},
        "crds": {"resources": job_resources},
        # The namespace is declared here with its labels, so the chart's label job (and the
        # curl probe that follows it) is not needed.
        "postInstall": {"labelNamespace": {"enabled": False}, "probeWebhook": {"enabled": False}},
        "postUpgrade": {"labelNamespace": {"enabled": False}},
    }


class Admission(pulumi.ComponentResource):
    """OPA Gatekeeper and the Codex admission constraints."""

    namespace: pulumi.Output[str]
    """The Gatekeeper namespace."""
    enforcement: dict[str, str]
    """This week's enforcement action per tier (dryrun or deny)."""
    templates: list[str]
    """Names of the ConstraintTemplates."""

    def __init__(
        self, name: str, args: AdmissionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("codex:admission:Admission", name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self)
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=ObjectMetaArgs(
                name=NAMESPACE,
                labels={
                    **SHARED_LABELS,
                    "app.kubernetes.io/name": CHART,
                    IGNORE_LABEL: "no-self-managing",
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                    "pod-security.kubernetes.io/audit": "restricted",
                    "pod-security.kubernetes.io/warn": "restricted",
                },
            ),
            opts=child,
        )
        release = k8s.helm.v3.Release(
            f"{name}-release",
            name=CHART,
            chart=CHART,
            version=settings.chart_version,
            namespace=NAMESPACE,
            repository_opts=RepositoryOptsArgs(repo=CHART_REPOSITORY),
            atomic=True,
            cleanup_on_fail=True,
            values=gatekeeper_values(settings),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace]),
        )
        # Templates need the chart's CRDs; constraints need their template's CRD.
        after_release = pulumi.ResourceOptions(parent=self, depends_on=[release])
        template_settings = Settings(
            allowed_registries=settings.allowed_registries,
            allowed_licenses=settings.allowed_licenses,
            denied_licenses=settings.denied_licenses,
        )
        self.templates = []
        self.enforcement = {
            tier: enforcement_action(args.week, week) for tier, week in args.deny_from.items()
        }
        for rule in RULES:
            manifest = constraint_template(rule, SHARED_LABELS)
            template = k8s.apiextensions.CustomResource(
                f"{name}-{rule.template_name}",
                api_version=manifest["apiVersion"],
                kind=manifest["kind"],
                metadata=manifest["metadata"],
                spec=manifest["spec"],
                opts=after_release,
            )
            self.templates.append(rule.template_name)
            for tier, action in self.enforcement.items():
                c = constraint(rule, tier, action, template_settings, SHARED_LABELS)
                k8s.apiextensions.CustomResource(
                    f"{name}-{rule.template_name}-{tier}",
                    api_version=c["apiVersion"],
                    kind=c["kind"],
                    metadata=c["metadata"],
                    spec=c["spec"],
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[template]),
                )
        self.namespace = namespace.metadata.apply(lambda m: m.name or NAMESPACE)
        self.register_outputs(
            {
                "namespace": self.namespace,
                "enforcement": self.enforcement,
                "templates": self.templates,
            }
        )
