"""The policy section of `rollout plan`: the CrossGuard pack's verdict on the planned state.

Called by rollout_cli.summary.summarise. Mandatory violations make the plan invalid;
advisory ones are listed. The pack runs as in `rollout policy check` (its own process, spoken to
over the analyzer protocol) with the default policy config. `prestart()` launches the pack
before the program runs, so its start-up overlaps the offline run on another core.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

from rollout_cli.offline import PlanResult
from rollout_cli.policycheck import PolicyCheckError, PolicyHost, Report, plan_state, policy_verdict
from rollout_cli.summary import Section

_started: Future[PolicyHost] | None = None


def prestart() -> None:
    """Start the policy pack in the background for the next policy_section call."""
    global _started
    if _started is None:
        _started = ThreadPoolExecutor(max_workers=1, thread_name_prefix="policy-pack").submit(
            PolicyHost
        )


def _verdict(plan: PlanResult) -> Report:
    global _started
    if _started is None:
        return policy_verdict(plan)
    started, _started = _started, None
    host = started.result()
    try:
        return host.evaluate(plan_state(plan), None, "offline plan")
    finally:
        host.close()


def policy_section(plan: PlanResult) -> Section:
    section = Section("policy")
    try:
        report = _verdict(plan)
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
