"""The SARIF 2.1.0 report for code scanning: one rule per policy, one result per violation,
located at the stack's config file with the resource URN as a logical location."""

from __future__ import annotations

import json

from rollout_cli.policy.report import Report

_SARIF_LEVEL = {"mandatory": "error", "remediate": "error", "advisory": "warning"}
_SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "": "1.0"}


def render_sarif(report: Report, artifact: str = "Pulumi.yaml") -> str:
    """SARIF 2.1.0: one rule per policy, one result per violation, located at the stack's
    config file (the resource URN as a logical location)."""
    rules = []
    index = {}
    for i, p in enumerate(report.policies):
        index[p.name] = i
        rules.append(
            {
                "id": p.name,
                "name": "".join(part.capitalize() for part in p.name.split("-")),
                "shortDescription": {"text": p.description},
                "fullDescription": {"text": p.description},
                "help": {"text": p.remediation or p.description, "markdown": p.remediation},
                "defaultConfiguration": {
                    "level": _SARIF_LEVEL.get(report.levels.get(p.name, "advisory"), "none"),
                    "enabled": report.levels.get(p.name) != "disabled",
                },
                "properties": {
                    "tags": [p.domain, *(f"{f} {r}" for f, r in p.controls)],
                    "precision": "very-high",
                    "problem.severity": "error"
                    if p.severity in ("high", "critical")
                    else "warning",
                    "security-severity": _SECURITY_SEVERITY.get(p.severity, "1.0"),
                    "framework": p.framework,
                    "frameworkVersion": p.framework_version,
                    "reference": p.reference,
                    "enforcementLevel": report.levels.get(p.name, p.enforcement_level),
                },
            }
        )
    results = []
    for v in report.violations:
        results.append(
            {
                "ruleId": v.policy,
                "ruleIndex": index.get(v.policy, -1),
                "level": _SARIF_LEVEL.get(v.enforcement_level, "note"),
                "message": {"text": f"{v.message} ({v.urn})"},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": artifact},
                            "region": {"startLine": 1},
                        },
                        "logicalLocations": [
                            {
                                "fullyQualifiedName": v.urn,
                                "name": v.urn.split("::", 3)[-1],
                                "kind": "resource",
                            }
                        ],
                    }
                ],
                "partialFingerprints": {"policyUrn/v1": f"{v.policy}:{v.urn}:{v.message}"},
                "properties": {
                    "resourceType": v.type,
                    "severity": v.severity,
                    "enforcementLevel": v.enforcement_level,
                    "framework": v.framework,
                    "reference": v.reference,
                },
            }
        )
    document = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": report.pack,
                        "version": report.version,
                        "informationUri": "https://www.pulumi.com/docs/iac/crossguard/",
                        "rules": rules,
                    }
                },
                "automationDetails": {"id": f"policy-check/{report.stack}/"},
                "results": results,
                "properties": {"stack": report.stack, "resources": report.resources},
            }
        ],
    }
    return json.dumps(document, indent=2) + "\n"
