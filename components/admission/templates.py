"""The Gatekeeper objects, as plain manifests (pure): one ConstraintTemplate per admission rule,
its Rego read from policies/rego/<template>.rego, and one Constraint per template and tier.

Constraints match Pods and the workload kinds directly (the Rego finds the pod template of each
kind the way the CrossGuard pack does), so `kubectl apply` of a bad Deployment is refused at
once instead of leaving a ReplicaSet that cannot create its Pods. They match only the tier
namespaces: everything else (kube-system, the Gatekeeper and monitoring namespaces, the load
balancer controller's) is out of scope; see docs/admission.md for why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rollout_rules.admission import ALLOWED_ADDED_CAPABILITIES, ALLOWED_SECCOMP_PROFILES
from rollout_rules.contract import ANNOTATION_NEEDS_API_TOKEN, LABEL_LICENSE, namespace_for

REGO_DIR = Path(__file__).resolve().parents[2] / "policies" / "rego"
TARGET = "admission.k8s.gatekeeper.sh"
TEMPLATE_API_VERSION = "templates.gatekeeper.sh/v1"
CONSTRAINT_GROUP = "constraints.gatekeeper.sh"
CONSTRAINT_API_VERSION = f"{CONSTRAINT_GROUP}/v1beta1"
REGO_VERSION = "v1"
"""Rego v1 syntax (`if`, `contains`) in `code[].source.version`: Gatekeeper >= 3.19."""

# Kinds the constraints review: Pods and every kind that carries a pod template.
MATCH_KINDS: list[dict[str, list[str]]] = [
    {"apiGroups": [""], "kinds": ["Pod", "ReplicationController"]},
    {"apiGroups": ["apps"], "kinds": ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"]},
    {"apiGroups": ["batch"], "kinds": ["Job", "CronJob"]},
]

_STRINGS: dict[str, Any] = {"type": "array", "items": {"type": "string"}}


@dataclass(frozen=True)
class Settings:
    """The values the constraints' parameters come from (the stack's admission config)."""

    allowed_registries: Sequence[str]
    allowed_licenses: Sequence[str]
    denied_licenses: Sequence[str]


@dataclass(frozen=True)
class Rule:
    """One admission rule: its template kind, the pack policy it mirrors, its parameters."""

    kind: str
    policy: str
    description: str
    parameters_schema: Mapping[str, Any]

    @property
    def template_name(self) -> str:
        return self.kind.lower()

    @property
    def rego_path(self) -> Path:
        return REGO_DIR / f"{self.template_name}.rego"

    def rego(self) -> str:
        return self.rego_path.read_text()

    def parameters(self, settings: Settings) -> dict[str, Any]:
        values: dict[str, Any] = {
            "allowedAddedCapabilities": list(ALLOWED_ADDED_CAPABILITIES),
            "allowedSeccompProfiles": list(ALLOWED_SECCOMP_PROFILES),
            "allowedRegistries": list(settings.allowed_registries),
            "annotation": ANNOTATION_NEEDS_API_TOKEN,
            "label": LABEL_LICENSE,
            "allowedLicenses": list(settings.allowed_licenses),
            "deniedLicenses": list(settings.denied_licenses),
        }
        return {k: values[k] for k in self.parameters_schema}


RULES: tuple[Rule, ...] = (
    Rule(
        "CodexPodSecurity",
        "k8s-pod-security-restricted",
        "Pod Security Standard 'restricted': not privileged, no privilege escalation, non-root, "
        "all capabilities dropped, seccomp, no host namespaces or hostPath.",
        {"allowedAddedCapabilities": _STRINGS, "allowedSeccompProfiles": _STRINGS},
    ),
    Rule(
        "CodexImagePinned",
        "k8s-image-pinned",
        "Images pinned by digest, from an allowed registry.",
        {"allowedRegistries": _STRINGS},
    ),
    Rule(
        "CodexResourceLimits",
        "k8s-resource-limits",
        "Every container declares CPU and memory requests and limits.",
        {},
    ),
    Rule(
        "CodexServiceAccountToken",
        "k8s-service-account-token",
        "No automounted service account token unless the pod is annotated with a reason.",
        {"annotation": {"type": "string"}},
    ),
    Rule(
        "CodexLicenseLabel",
        "license-allowlist",
        "The workload's licence label names an allowed, not denied, SPDX licence.",
        {"label": {"type": "string"}, "allowedLicenses": _STRINGS, "deniedLicenses": _STRINGS},
    ),
)


def constraint_template(rule: Rule, labels: Mapping[str, str]) -> dict[str, Any]:
    """The ConstraintTemplate of one rule (templates.gatekeeper.sh/v1)."""
    return {
        "apiVersion": TEMPLATE_API_VERSION,
        "kind": "ConstraintTemplate",
        "metadata": {
            "name": rule.template_name,
            "labels": dict(labels),
            "annotations": {
                "description": rule.description,
                "codex.dev/crossguard-policy": rule.policy,
            },
        },
        "spec": {
            "crd": {
                "spec": {
                    "names": {"kind": rule.kind},
                    "validation": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": dict(rule.parameters_schema),
                        }
                    },
                }
            },
            "targets": [
                {
                    "target": TARGET,
                    "code": [
                        {
                            "engine": "Rego",
                            "source": {"version": REGO_VERSION, "rego": rule.rego()},
                        }
                    ],
                }
            ],
        },
    }


def constraint_name(rule: Rule, tier: str) -> str:
    return f"{rule.policy}-{tier}"


def constraint(
    rule: Rule, tier: str, action: str, settings: Settings, labels: Mapping[str, str]
) -> dict[str, Any]:
    """The Constraint of one rule for one tier's namespace, at `action` (dryrun or deny)."""
    spec: dict[str, Any] = {
        "enforcementAction": action,
        "match": {"kinds": MATCH_KINDS, "namespaces": [namespace_for(tier)]},
    }
    parameters = rule.parameters(settings)
    if parameters:
        spec["parameters"] = parameters
    return {
        "apiVersion": CONSTRAINT_API_VERSION,
        "kind": rule.kind,
        "metadata": {"name": constraint_name(rule, tier), "labels": dict(labels)},
        "spec": spec,
    }
