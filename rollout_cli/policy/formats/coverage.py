"""The coverage matrix: which policies cover which framework controls (SOC 2, GDPR, CIS,
OpenChain), as text, a Markdown table or JSON (`rollout policy coverage`, the Markdown report)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rollout_cli.policy.metadata import PolicyMeta

COVERAGE_FORMATS = ("text", "markdown", "json")


def coverage(policies: Iterable[PolicyMeta]) -> dict[str, dict[str, list[str]]]:
    """framework -> control reference -> policy names."""
    matrix: dict[str, dict[str, list[str]]] = {}
    for p in policies:
        for framework, reference in p.controls:
            matrix.setdefault(framework, {}).setdefault(reference, []).append(p.name)
    return {
        f: dict(sorted(refs.items(), key=lambda kv: _ref_key(kv[0])))
        for f, refs in sorted(matrix.items())
    }


def _ref_key(reference: str) -> list[Any]:
    # Natural order: CC6.10 after CC6.9, Art. 30 after Art. 5.
    return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", reference)]


def render_coverage(
    policies: Sequence[PolicyMeta], fmt: str = "text", levels: Mapping[str, str] | None = None
) -> str:
    frameworks = sorted({f for p in policies for f, _ in p.controls})
    if fmt == "json":
        return (
            json.dumps(
                {
                    "policies": [
                        {
                            "name": p.name,
                            "severity": p.severity,
                            "enforcementLevel": (levels or {}).get(p.name, p.enforcement_level),
                            "controls": [{"framework": f, "reference": r} for f, r in p.controls],
                        }
                        for p in policies
                    ],
                    "frameworks": coverage(policies),
                },
                indent=2,
            )
            + "\n"
        )

    def cell(p: PolicyMeta, framework: str) -> str:
        return ", ".join(r for f, r in p.controls if f == framework)

    if fmt == "markdown":
        lines = [
            "| Policy | Severity | " + " | ".join(frameworks) + " |",
            "|---|---|" + "---|" * len(frameworks),
        ]
        for p in policies:
            cells = " | ".join(cell(p, f) or "" for f in frameworks)
            lines.append(f"| `{p.name}` | {p.severity} | {cells} |")
        return "\n".join(lines) + "\n"
    lines = []
    for framework, refs in coverage(policies).items():
        lines.append(framework)
        for reference, names in refs.items():
            lines.append(f"  {reference:<14} {', '.join(names)}")
    return "\n".join(lines) + "\n"
