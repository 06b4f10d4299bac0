"""What the pack says about its policies: enforcement levels and severities as the analyzer
protocol spells them, and each policy's metadata (description, severity, framework controls,
config schema) read from GetAnalyzerInfo or, without a pack process, from the pack's objects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from pulumi.runtime.proto import analyzer_pb2

LEVELS = ("advisory", "mandatory", "remediate", "disabled")
LEVEL_TO_WIRE = {
    "advisory": analyzer_pb2.ADVISORY,
    "mandatory": analyzer_pb2.MANDATORY,
    "remediate": analyzer_pb2.REMEDIATE,
    "disabled": analyzer_pb2.DISABLED,
}
WIRE_TO_LEVEL = {v: k for k, v in LEVEL_TO_WIRE.items()}
WIRE_TO_SEVERITY = {
    analyzer_pb2.POLICY_SEVERITY_UNSPECIFIED: "",
    analyzer_pb2.POLICY_SEVERITY_LOW: "low",
    analyzer_pb2.POLICY_SEVERITY_MEDIUM: "medium",
    analyzer_pb2.POLICY_SEVERITY_HIGH: "high",
    analyzer_pb2.POLICY_SEVERITY_CRITICAL: "critical",
}


@dataclass(frozen=True)
class PolicyMeta:
    """What the pack says about one policy (GetAnalyzerInfo), plus its controls."""

    name: str
    description: str
    enforcement_level: str
    severity: str
    framework: str
    framework_version: str
    reference: str
    remediation: str
    kind: str  # "resource" or "stack"
    tags: tuple[str, ...]
    config_schema: Mapping[str, Any]
    required: tuple[str, ...] = ()

    @property
    def controls(self) -> list[tuple[str, str]]:
        """(framework, reference) pairs, the primary framework first."""
        found = [(self.framework, self.reference)] if self.framework else []
        for tag in self.tags:
            if tag.startswith("control:"):
                _, framework, reference = tag.split(":", 2)
                if (framework, reference) not in found:
                    found.append((framework, reference))
        return found

    @property
    def domain(self) -> str:
        for tag in self.tags:
            if tag.startswith("domain:"):
                return tag.split(":", 1)[1]
        return ""


def meta_from_info(info: Any) -> PolicyMeta:
    """A policy's metadata from its ``PolicyInfo`` message (GetAnalyzerInfo)."""
    kind = {
        analyzer_pb2.POLICY_TYPE_RESOURCE: "resource",
        analyzer_pb2.POLICY_TYPE_STACK: "stack",
    }.get(info.policy_type, "")
    return PolicyMeta(
        name=info.name,
        description=info.description,
        enforcement_level=WIRE_TO_LEVEL[info.enforcementLevel],
        severity=WIRE_TO_SEVERITY.get(info.severity, ""),
        framework=info.framework.name,
        framework_version=info.framework.version,
        reference=info.framework.reference,
        remediation=info.remediation_steps,
        kind=kind,
        tags=tuple(info.tags),
        config_schema=json_format.MessageToDict(info.configSchema.properties),
        required=tuple(info.configSchema.required),
    )


def meta_from_policy(policy: Any) -> PolicyMeta:
    """The same metadata read from a ``pulumi_policy.Policy`` object (no pack process)."""
    from pulumi_policy import StackValidationPolicy

    schema = policy.config_schema
    framework = policy.framework
    return PolicyMeta(
        name=policy.name,
        description=policy.description,
        enforcement_level=(
            policy.enforcement_level.value if policy.enforcement_level else "advisory"
        ),
        severity=policy.severity.value if policy.severity else "",
        framework=framework.name or "" if framework else "",
        framework_version=framework.version or "" if framework else "",
        reference=framework.reference or "" if framework else "",
        remediation=policy.remediation_steps or "",
        kind="stack" if isinstance(policy, StackValidationPolicy) else "resource",
        tags=tuple(policy.tags or ()),
        config_schema=dict(schema.properties) if schema else {},
        required=tuple(schema.required or ()) if schema else (),
    )


def pack_policies() -> list[PolicyMeta]:
    """The pack's policies read in-process (for the coverage matrix; no pack process)."""
    from policies.pack import all_policies

    return sorted((meta_from_policy(p) for p in all_policies()), key=lambda p: p.name)
