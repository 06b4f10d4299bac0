"""The rollback section of `rollout plan`: the worst-case budget and whether a rollback is held.

Called by rollout_cli.summary.summarise. The budget is the one the rollback function
carries, checked against a recomputation from the alarms and target groups actually declared.
"""

from __future__ import annotations

from rollout_cli.offline import PlanResult
from rollout_cli.summary import Section
from rollout_rules.plan import TIERS
from rollout_rules.rollback import budget_from_resources


def rollback_section(plan: PlanResult) -> Section:
    section = Section("rollback")
    budgets = budget_from_resources((r.type, r.inputs) for r in plan.records)
    if budgets is None:
        section.problems.append("no rollback function (tag purpose=rollback) with a budget")
        return section
    published, derived = budgets
    section.lines.extend(published.lines())
    if derived.worst_case.seconds != published.worst_case.seconds:
        section.problems.append(
            f"published worst case {published.worst_case.seconds}s disagrees with the declared "
            f"alarms and health checks ({derived.worst_case.seconds}s)"
        )
    for budget in (published, derived):
        if not budget.within_limit:
            section.problems.append(
                f"worst-case rollback {budget.worst_case.seconds}s "
                f"({budget.worst_case.trigger}) exceeds the {budget.limit}s limit"
            )
            break
    outputs = plan.stack_outputs
    declared, scheduled = outputs.get("allocation"), outputs.get("scheduledAllocation")
    if (
        declared is not None
        and scheduled is not None
        and any(declared.get(t, 0) != scheduled.get(t, 0) for t in TIERS)
    ):

        def weights(allocation: dict[str, int]) -> str:
            return "/".join(str(allocation.get(t, 0)) for t in TIERS)

        section.lines.append(
            f"ledger held: the listener keeps sandbox/canary/production {weights(declared)} "
            f"instead of the schedule's {weights(scheduled)}"
        )
    section.data["budget"] = published.as_dict()
    section.data["cloudwatchBudget"] = published.cloudwatch_dict()
    return section
