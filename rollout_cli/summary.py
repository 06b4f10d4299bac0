"""Summary of an offline plan: resources by component, the allocation, checks and a verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from rollout_cli.offline import UNKNOWN, PlanResult
from rollout_rules.contract import LISTENER_TYPE, TARGET_GROUP_TYPE, TIER_TAG
from rollout_rules.plan import TIERS

if TYPE_CHECKING:
    from rollout_cli.policy_summary import StartingPack


@dataclass
class Section:
    """A titled block of the plan summary; problems make the plan invalid."""

    title: str
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


def listener_weights(plan: PlanResult) -> dict[str, int]:
    """Weights of the HTTPS listener, by the tier tag of each target group."""
    tiers_by_arn = {
        r.outputs.get("arn"): r.inputs.get("tags", {}).get(TIER_TAG)
        for r in plan.by_type(TARGET_GROUP_TYPE)
    }
    https = [r for r in plan.by_type(LISTENER_TYPE) if r.inputs.get("port") == 443]
    if len(https) != 1:
        return {}
    weights: dict[str, int] = {}
    for action in https[0].inputs.get("defaultActions", []):
        for index, group in enumerate((action.get("forward") or {}).get("targetGroups", [])):
            arn = group.get("arn")
            # At preview a new target group's ARN is unknown: count its weight, name no tier.
            tier = f"<unknown #{index}>" if arn == UNKNOWN else tiers_by_arn.get(arn, arn)
            weights[str(tier)] = int(group.get("weight", 0))
    return weights


def routing_section(plan: PlanResult) -> Section:
    section = Section("routing")
    weights = listener_weights(plan)
    if not weights:
        section.problems.append("no single HTTPS listener forwarding to target groups")
        return section
    total = sum(weights.values())
    if total != 100:
        section.problems.append(f"listener weights sum to {total}, not 100")
    declared = plan.stack_outputs.get("allocation", {})
    if not isinstance(declared, dict):
        declared = {}  # unknown at a first deploy's preview
    unknown = sorted(v for k, v in weights.items() if k.startswith("<unknown"))
    unresolved: list[tuple[str, int]] = []
    for tier in TIERS:
        want = int(declared.get(tier, 0))
        if tier not in weights and unknown:
            unresolved.append((tier, want))  # its target group may be one not known yet
        elif want > 0 and tier not in weights:
            section.problems.append(f"{tier} gets {want}% but has no environment/target group")
        elif weights.get(tier, 0) != want:
            section.problems.append(
                f"{tier}: listener weight {weights.get(tier, 0)} != declared allocation {want}"
            )
    if unknown:
        # New target groups: which is which cannot be told at preview, but their weights must
        # still be the declared ones of the tiers not resolved.
        wanted = sorted(w for _, w in unresolved)
        if sorted(unknown + [0] * (len(unresolved) - len(unknown))) != wanted:
            section.problems.append(
                f"weights {unknown} of target groups unknown at preview do not match the "
                f"allocation of {', '.join(t for t, _ in unresolved) or 'no tier'}"
            )
        section.lines.append(
            f"{len(unknown)} target group(s) unknown at preview: "
            + ", ".join(t for t, _ in unresolved)
        )
    section.lines.append(
        "listener weights: "
        + ", ".join(f"{t} {weights[t]}" for t in dict.fromkeys((*TIERS, *weights)) if t in weights)
    )
    section.data["weights"] = weights
    return section


@dataclass
class Summary:
    plan: PlanResult
    sections: list[Section]

    @property
    def valid(self) -> bool:
        return not any(s.problems for s in self.sections)

    def components(self) -> dict[str, int]:
        return {name: len(records) for name, records in sorted(self.plan.components().items())}

    def as_dict(self) -> dict[str, Any]:
        outputs = self.plan.stack_outputs
        return {
            "stack": self.plan.stack,
            "week": self.plan.week,
            "phase": outputs.get("phase"),
            "allocation": outputs.get("allocation"),
            "scheduledAllocation": outputs.get("scheduledAllocation"),
            "tiers": outputs.get("tiers"),
            "resources": len(self.plan.records),  # the stack too, as Pulumi and the pack count
            "components": self.components(),
            "messages": [{"severity": s, "message": m} for s, m in self.plan.messages],
            "sections": {
                s.title: {"lines": s.lines, "problems": s.problems, **s.data} for s in self.sections
            },
            "verdict": "valid" if self.valid else "invalid",
            **(
                {"preview": {"fromWeek": self.plan.from_week, "new": len(self.plan.new)}}
                if self.plan.from_week is not None
                else {}
            ),
        }

    def print(self, console: Console) -> None:
        outputs = self.plan.stack_outputs
        console.print(f"[bold]{self.plan.stack}[/] week {self.plan.week}: {outputs.get('phase')}")
        if self.plan.from_week is not None:
            console.print(
                f"preview from week {self.plan.from_week}: {len(self.plan.new)} resources to "
                "create, their computed outputs unknown"
            )
        allocation = outputs.get("allocation", {})
        if not isinstance(allocation, dict):
            allocation = {}  # unknown on a first deploy's preview
        console.print("allocation: " + " / ".join(f"{t} {allocation.get(t, 0)}%" for t in TIERS))
        for severity, message in self.plan.messages:
            console.print(f"{severity}: {message}", markup=False, emoji=False)
        grid = Table(title="resources by component")
        grid.add_column("component")
        grid.add_column("resources", justify="right")
        for name, count in self.components().items():
            grid.add_row(name, str(count))
        console.print(grid)
        for section in self.sections:
            for line in section.lines:
                console.print(f"{section.title}: {line}", markup=False, emoji=False)
            for problem in section.problems:
                console.print(
                    f"{section.title}: problem: {problem}", style="red", markup=False, emoji=False
                )
        total = self.as_dict()["resources"]
        verdict = "VALID" if self.valid else "INVALID"
        console.print(
            f"verdict: {verdict} ({total} resources, {self.plan.stack} week {self.plan.week})"
        )


def summarise(plan: PlanResult, pack: StartingPack | None = None) -> Summary:
    """Every section of the plan summary; the policy section evaluates with `pack` when one was
    pre-started (`policy_summary.prestart`), else starts the pack itself."""
    from rollout_cli.policy_summary import policy_section
    from rollout_cli.rollback_summary import rollback_section

    return Summary(
        plan, [routing_section(plan), policy_section(plan, pack), rollback_section(plan)]
    )
