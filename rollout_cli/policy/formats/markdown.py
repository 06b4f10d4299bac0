"""The Markdown report for a pull-request comment: the verdict, violations grouped by framework
(worst group first), one row per finding (a policy and its message) with the count and names of
its resources, unreadable secrets, and the coverage matrix folded away."""

from __future__ import annotations

from rollout_cli.policy.formats.coverage import render_coverage
from rollout_cli.policy.report import (
    LEVEL_RANK,
    SEVERITY_RANK,
    Report,
    Violation,
    group_violations,
)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def render_markdown(report: Report) -> str:
    """A PR comment: verdict, violations grouped by framework (worst first), coverage."""
    icon = "❌" if report.mandatory else ("⚠️" if report.violations else "✅")
    lines = [
        f"### {icon} Policy check: `{report.stack}`",
        "",
        f"{report.verdict()}.",
        "",
    ]
    groups: dict[str, list[Violation]] = {}
    for v in report.violations:
        groups.setdefault(v.framework or "Other", []).append(v)

    def worst(items: list[Violation]) -> tuple[int, int, int]:
        return (
            min(LEVEL_RANK.get(v.enforcement_level, 3) for v in items),
            min(SEVERITY_RANK.get(v.severity, 4) for v in items),
            -len(items),
        )

    for framework, items in sorted(groups.items(), key=lambda kv: worst(kv[1])):
        lines += [
            f"#### {framework} ({len(items)})",
            "",
            "| Enforcement | Severity | Policy | Control | Resources | Finding |",
            "|---|---|---|---|---|---|",
        ]
        for group in group_violations(items):
            v = group.first
            names = ", ".join(f"`{_md(name)}`" for name in group.names())
            types = sorted({x.type for x in group.violations})
            kind = f" ({_md(types[0])})" if len(types) == 1 else ""
            count = len(group.violations)
            lines.append(
                f"| {v.enforcement_level} | {v.severity} | `{v.policy}` | {_md(v.reference)} | "
                f"{count}: {names}{kind} | {_md(v.message)} |"
            )
        lines.append("")
    if report.hidden_secrets:
        lines += [
            f"> Encrypted secrets of {report.hidden_secrets} resource(s) could not be read offline "
            "and were evaluated as unknown.",
            "",
        ]
    lines += [
        "<details><summary>Coverage: policies by framework control</summary>",
        "",
        render_coverage(report.policies, "markdown", report.levels).rstrip(),
        "",
        "</details>",
        "",
    ]
    return "\n".join(lines)
