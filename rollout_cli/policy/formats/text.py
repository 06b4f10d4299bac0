"""The text report: one block per violation, remediations, unreadable secrets, policies that did
not apply, and the verdict as the last line."""

from __future__ import annotations

from collections import Counter

from rollout_cli.policy.report import Report


def render_text(report: Report) -> str:
    lines = [
        f"{report.pack}@{report.version} on {report.stack or '?'} ({report.source}): "
        f"{report.resources} resources, {len(report.evaluated)} policies"
    ]
    for v in report.violations:
        lines.append(
            f"[{v.enforcement_level}] {v.policy} ({v.severity}, {v.framework} {v.reference})"
        )
        lines.append(f"    {v.urn}")
        for part in v.message.splitlines():
            lines.append(f"    {part}")
    for r in report.remediations:
        lines.append(f"[remediated] {r.policy}: {r.urn}")
    if report.hidden_secrets:
        lines.append(
            f"note: encrypted secrets of {report.hidden_secrets} resource(s) could not be read "
            "offline and were evaluated as unknown (export with --show-secrets to include them)"
        )
    skipped = Counter(n.policy for n in report.not_applicable)
    if skipped:
        lines.append(
            "not applicable: " + ", ".join(f"{p} x{n}" for p, n in sorted(skipped.items()))
        )
    lines.append(report.verdict())
    return "\n".join(lines) + "\n"
