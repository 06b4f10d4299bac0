"""The policy section of `rollout plan`: the CrossGuard pack's verdict on the planned state.

Imported by infra.summary (which collects SECTIONS). Mandatory violations make the plan invalid;
advisory ones are listed. The pack runs as in `rollout policy check` (its own process, spoken to
over the analyzer protocol) with the default policy config.
"""

from __future__ import annotations

from infra.offline import PlanResult
from infra.policycheck import PolicyCheckError, policy_verdict
from infra.summary import SECTIONS, Section


def policy_section(plan: PlanResult) -> Section:
    section = Section("policy")
    try:
        report = policy_verdict(plan)
    except PolicyCheckError as err:
        section.problems.append(f"policy pack could not run: {err}")
        return section
    section.lines.append(report.verdict())
    for violation in report.violations:
        line = f"[{violation.enforcement_level}] {violation.policy}: {violation.message}"
        if violation.enforcement_level == "mandatory":
            section.problems.append(line)
        else:
            section.lines.append(line)
    section.data.update(report.as_dict()["summary"])
    return section


SECTIONS.append(policy_section)
