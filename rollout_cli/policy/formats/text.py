"""The text report: one block per finding (a policy and its message) with the count and names
of the resources it was found on, remediations, unreadable secrets, policies that did not apply,
and the verdict as the last line."""

from __future__ import annotations

import textwrap
from collections import Counter

from rollout_cli.policy.report import Report, group_violations

WIDTH = 100


def render_text(report: Report) -> str:
    lines = [
        f"{report.pack}@{report.version} on {report.stack or '?'} ({report.source}): "
        f"{report.resources} resources, {len(report.evaluated)} policies"
    ]
    for group in group_violations(report.violations):
        v = group.first
        count = len(group.violations)
        lines.append(
            f"[{v.enforcement_level}] {v.policy} ({v.severity}, {v.framework} {v.reference})"
            f" on {count} resource{'s' if count > 1 else ''}"
        )
        for part in v.message.splitlines():
            lines.append(f"    {part}")
        lines += textwrap.wrap(
            ", ".join(group.names()),
            width=WIDTH,
            initial_indent="    resources: ",
            subsequent_indent="        ",
            break_long_words=False,
            break_on_hyphens=False,
        )
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
