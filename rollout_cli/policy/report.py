"""The outcome of one evaluation: violations, not-applicable results and remediations collected
from the analyzer's answers, ordered worst first, with the verdict and the exit code."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rollout_cli.policy.metadata import WIRE_TO_LEVEL, WIRE_TO_SEVERITY, PolicyMeta
from rollout_cli.policy.state import StateResource
from rollout_rules.contract import PREVIEW_BLIND, STACK_TYPE

SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3, "": 4}
LEVEL_RANK = {"mandatory": 0, "remediate": 0, "advisory": 1, "disabled": 2}


@dataclass(frozen=True)
class Violation:
    policy: str
    urn: str
    type: str
    enforcement_level: str
    severity: str
    message: str
    framework: str
    reference: str

    def as_dict(self) -> dict[str, str]:
        return {
            "policy": self.policy,
            "urn": self.urn,
            "type": self.type,
            "enforcementLevel": self.enforcement_level,
            "severity": self.severity,
            "message": self.message,
            "framework": self.framework,
            "reference": self.reference,
        }


@dataclass(frozen=True)
class ViolationGroup:
    """Violations of one policy with one message (at one enforcement level): one finding on
    many resources, as the text and Markdown reports show it."""

    violations: tuple[Violation, ...]

    @property
    def first(self) -> Violation:
        return self.violations[0]

    def names(self) -> list[str]:
        """The resources' names; `name (type)` where a name alone would be ambiguous."""
        names = [_name(v.urn) for v in self.violations]
        return [
            f"{name} ({v.type})" if names.count(name) > 1 else name
            for name, v in zip(names, self.violations, strict=True)
        ]


def _name(urn: str) -> str:
    return urn.split("::", 3)[3] if urn.count("::") >= 3 else urn


def group_violations(violations: list[Violation]) -> list[ViolationGroup]:
    """Violations grouped by policy, enforcement level and message, in the order of each
    group's first violation (the report's order: worst first)."""
    groups: dict[tuple[str, str, str], list[Violation]] = {}
    for v in violations:
        groups.setdefault((v.policy, v.enforcement_level, v.message), []).append(v)
    return [ViolationGroup(tuple(items)) for items in groups.values()]


@dataclass(frozen=True)
class NotApplicable:
    policy: str
    urn: str
    type: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"policy": self.policy, "urn": self.urn, "type": self.type, "reason": self.reason}


@dataclass(frozen=True)
class Remediated:
    policy: str
    urn: str
    type: str


_SDK_UNKNOWN = re.compile(r"(?:\w+ )?value at (\S+) can't be known during preview")


def _blind_message(message: str) -> str:
    """The pack's "cannot be verified at preview: <what> is unknown" out of the SDK's "can't run
    policy ... during preview: <reason>"; the SDK's own reason is reworded the same way."""
    blind = message.find(PREVIEW_BLIND)
    if blind >= 0:
        return message[blind:]
    found = _SDK_UNKNOWN.search(message)
    what = found.group(1) if found else message.split("during preview: ", 1)[-1]
    return f"{PREVIEW_BLIND}: {what} is unknown"


@dataclass
class Report:
    """The outcome of one evaluation."""

    pack: str
    version: str
    stack: str
    project: str
    source: str
    resources: int
    policies: list[PolicyMeta]
    levels: dict[str, str]
    violations: list[Violation] = field(default_factory=list)
    not_applicable: list[NotApplicable] = field(default_factory=list)
    remediations: list[Remediated] = field(default_factory=list)
    hidden_secrets: int = 0
    logs: list[tuple[str, str, str]] = field(default_factory=list)

    # -- collection ------------------------------------------------------------------------

    def add(
        self,
        response: Any,
        resource: StateResource | None,
        default_urn: str,
        meta: Mapping[str, PolicyMeta],
        by_urn: Mapping[str, StateResource] | None = None,
    ) -> None:
        for diagnostic in response.diagnostics:
            # Resource policies always report against the analysed resource; stack policies
            # name one, or the root stack (as the engine does for unknown URNs).
            urn = default_urn
            if resource is None and diagnostic.urn and by_urn and diagnostic.urn in by_urn:
                urn = diagnostic.urn
            target = resource or (by_urn or {}).get(urn)
            kind = target.type if target else STACK_TYPE
            message = diagnostic.message
            if message.startswith("can't run policy"):
                # A value the policy needed is unknown at preview. The engine shows this as an
                # advisory, and so does the report: never a silent pass.
                message = diagnostic.description + "\n" + _blind_message(message)
            prefix = diagnostic.description + "\n"
            if message.startswith(prefix):
                message = message[len(prefix) :]
            policy = meta.get(diagnostic.policyName)
            self.violations.append(
                Violation(
                    policy=diagnostic.policyName,
                    urn=urn,
                    type=kind,
                    enforcement_level=WIRE_TO_LEVEL[diagnostic.enforcementLevel],
                    severity=WIRE_TO_SEVERITY.get(diagnostic.severity, "")
                    or (policy.severity if policy else ""),
                    message=message.strip(),
                    framework=policy.framework if policy else "",
                    reference=policy.reference if policy else "",
                )
            )
        for item in response.not_applicable:
            kind = resource.type if resource else STACK_TYPE
            self.not_applicable.append(
                NotApplicable(item.policy_name, default_urn, kind, item.reason)
            )

    def add_diagnostic_text(self, policy: str, resource: StateResource, text: str) -> None:
        self.not_applicable.append(NotApplicable(policy, resource.urn, resource.type, text))

    def sort(self) -> None:
        order = {p.name: i for i, p in enumerate(self.policies)}
        self.violations.sort(
            key=lambda v: (
                LEVEL_RANK.get(v.enforcement_level, 3),
                SEVERITY_RANK.get(v.severity, 4),
                order.get(v.policy, 999),
                v.urn,
            )
        )

    # -- verdict ---------------------------------------------------------------------------

    @property
    def evaluated(self) -> list[PolicyMeta]:
        return [p for p in self.policies if self.levels.get(p.name) != "disabled"]

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.enforcement_level == "mandatory"]

    @property
    def exit_code(self) -> int:
        return 1 if self.mandatory else 0

    def verdict(self) -> str:
        state = "FAIL" if self.mandatory else "PASS"
        return (
            f"policy check {state}: {len(self.violations)} violation(s), "
            f"{len(self.mandatory)} mandatory, {len(self.evaluated)} policies, "
            f"{self.resources} resources ({self.stack or self.source})"
        )

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "summary": {
                "resources": self.resources,
                "policies": len(self.evaluated),
                "violations": len(self.violations),
                "mandatory": len(self.mandatory),
            },
            "violations": [v.as_dict() for v in self.violations],
            "notApplicable": [n.as_dict() for n in self.not_applicable],
        }
        if self.remediations:
            result["remediations"] = [
                {"policy": r.policy, "urn": r.urn, "type": r.type} for r in self.remediations
            ]
        return result
