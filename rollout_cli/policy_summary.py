"""The policy section of `rollout plan`: the CrossGuard pack's verdict on the planned state.

Called by rollout_cli.summary.summarise. Mandatory violations make the plan invalid;
advisory ones are listed. The pack runs as in `rollout policy check` (its own process, spoken to
over the analyzer protocol) with the default policy config. `prestart()` launches the pack in
the background and returns the handle that `rollout plan` passes on to the summary, so the
pack's start-up overlaps the offline run on another core.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

from rollout_cli.offline import PlanResult
from rollout_cli.policy.errors import PolicyCheckError
from rollout_cli.policy.host import PolicyHost, evaluate
from rollout_cli.policy.report import Report, group_violations
from rollout_cli.policy.state import plan_state
from rollout_cli.summary import Section

# Resource names shown per finding in the plan summary (the policy report lists them all).
SHOWN_NAMES = 5

StartingPack = Future[PolicyHost]
"""A policy pack starting in the background; `policy_section` takes it over and stops it."""


def prestart() -> StartingPack:
    """Start the policy pack in the background, for one `policy_section` call."""
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="policy-pack")
    started = executor.submit(PolicyHost)
    executor.shutdown(wait=False)
    return started


def discard(pack: StartingPack) -> None:
    """Stop a pre-started pack that will not be used (the plan failed before its summary)."""
    try:
        host = pack.result()
    except PolicyCheckError:
        return  # it did not start: nothing runs
    host.close()


def _verdict(plan: PlanResult, pack: StartingPack | None) -> Report:
    if pack is None:
        return evaluate(plan_state(plan), source="offline plan")
    host = pack.result()
    try:
        return host.evaluate(plan_state(plan), None, "offline plan")
    finally:
        host.close()


def policy_section(plan: PlanResult, pack: StartingPack | None = None) -> Section:
    """The pack's verdict on `plan`, from `pack` when one was pre-started, else a pack started
    (and stopped) here."""
    section = Section("policy")
    try:
        report = _verdict(plan, pack)
    except PolicyCheckError as err:
        section.problems.append(f"policy pack could not run: {err}")
        return section
    section.lines.append(report.verdict())
    for group in group_violations(report.violations):
        violation, names = group.first, group.names()
        shown = ", ".join(names[:SHOWN_NAMES])
        if len(names) > SHOWN_NAMES:
            shown += f", and {len(names) - SHOWN_NAMES} more (rollout policy check lists them)"
        line = (
            f"[{violation.enforcement_level}] {violation.policy}: {violation.message} "
            f"({len(names)} resource{'s' if len(names) > 1 else ''}: {shown})"
        )
        if violation.enforcement_level == "mandatory":
            section.problems.append(line)
        else:
            section.lines.append(line)
    section.data.update(report.as_dict()["summary"])
    return section
