"""The rollout schedule: which share of traffic each environment tier gets in a given week.

Pure functions over plain data. The default plan is the rollout plan's traffic table (README,
"The schedule"); a stack may override it in config, and a custom plan is validated here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rollout_rules.errors import PlanError

TIERS: tuple[str, ...] = ("sandbox", "canary", "production")

__all__ = ["TIERS", "Allocation", "PlanError", "WeekPlan", "weights_error"]


def weights_error(weights: Mapping[str, object]) -> str | None:
    """Why `weights` is not an allocation, or None when it is one.

    The one rule for traffic weights everywhere (plan, ledger, rollback function, policy pack):
    keys are tiers, every weight is an integer from 0 to 100 (a boolean is not), and they sum to
    100. The message names the first offending key, or the sum.
    """
    for tier, weight in weights.items():
        if tier not in TIERS:
            return f"{tier}: not a tier (tiers: {', '.join(TIERS)})"
        if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 100:
            return f"{tier}: {weight!r} is not an integer from 0 to 100"
    total = sum(weights.values())  # type: ignore[arg-type]  # all ints, checked above
    if total != 100:
        return f"weights sum to {total}, not 100"
    return None


@dataclass(frozen=True)
class Allocation:
    """Share of request traffic per tier, integers summing to 100."""

    sandbox: int
    canary: int
    production: int

    def as_dict(self) -> dict[str, int]:
        return {"sandbox": self.sandbox, "canary": self.canary, "production": self.production}

    def weight(self, tier: str) -> int:
        return self.as_dict()[tier]

    @classmethod
    def from_dict(cls, weights: dict[str, int]) -> Allocation:
        return cls(**{tier: int(weights.get(tier, 0)) for tier in TIERS})


@dataclass(frozen=True)
class WeekPlan:
    """One row of the schedule."""

    week: int
    phase: str
    allocation: Allocation

    def as_dict(self) -> dict[str, object]:
        return {"week": self.week, "phase": self.phase, "allocation": self.allocation.as_dict()}


def _rows(
    spans: Sequence[tuple[int, int, str, tuple[int, int, int]]],
) -> tuple[WeekPlan, ...]:
    return tuple(
        WeekPlan(week, phase, Allocation(*weights))
        for first, last, phase, weights in spans
        for week in range(first, last + 1)
    )


# The traffic table of the rollout plan, one row per week; weeks past 12 keep week 12's row.
DEFAULT_PLAN: tuple[WeekPlan, ...] = _rows(
    [
        (1, 2, "Foundation", (100, 0, 0)),
        (3, 4, "Policy & Validation", (100, 0, 0)),
        (5, 6, "Code Generation (internal testing)", (50, 50, 0)),
        (7, 7, "Canary (validation)", (20, 80, 0)),
        (8, 8, "Canary (limited production)", (10, 10, 80)),
        (9, 10, "Production launch", (5, 5, 90)),
        (11, 11, "Retrospective", (5, 5, 90)),
        (12, 12, "Optimization", (5, 5, 90)),
    ]
)


def validate_plan(plan: Sequence[WeekPlan]) -> tuple[WeekPlan, ...]:
    """Check a custom plan; return it as a tuple or raise PlanError naming the rule broken."""
    if not plan:
        raise PlanError("the plan has no weeks (it needs at least week 1)")
    previous: WeekPlan | None = None
    for index, row in enumerate(plan):
        expected = index + 1
        if row.week != expected:
            raise PlanError(
                f"week {row.week} is out of order "
                f"(weeks are contiguous from 1; expected {expected})"
            )
        problem = weights_error(row.allocation.as_dict())
        if problem is not None:
            raise PlanError(f"week {row.week}: {problem}")
        if previous is not None and row.allocation.production < previous.allocation.production:
            raise PlanError(
                f"week {row.week}: production share drops from {previous.allocation.production} "
                f"to {row.allocation.production} (a decrease is a rollback, not a plan)"
            )
        previous = row
    return tuple(plan)


def week_plan(week: int, plan: Sequence[WeekPlan] = DEFAULT_PLAN) -> WeekPlan:
    """The schedule row for `week`; weeks past the last entry keep its allocation and phase."""
    if week < 1:
        raise PlanError(f"{week} is not a week (weeks start at 1)")
    if week <= len(plan):
        return plan[week - 1]
    last = plan[-1]
    return WeekPlan(week, last.phase, last.allocation)


def table(plan: Sequence[WeekPlan] = DEFAULT_PLAN, through: int = 12) -> list[WeekPlan]:
    """The schedule for weeks 1..max(through, len(plan))."""
    return [week_plan(week, plan) for week in range(1, max(through, len(plan)) + 1)]


# Weeks past the plan's last row keep its allocation; a year of that plateau is the furthest a
# stack may declare, so a typo such as week 999 is refused rather than planned.
PLATEAU_WEEKS = 52


def last_week(plan: Sequence[WeekPlan] = DEFAULT_PLAN) -> int:
    """The furthest week a stack may declare: the plan's last week plus a year of plateau."""
    return len(plan) + PLATEAU_WEEKS


def week_bound_error(week: int, plan: Sequence[WeekPlan] = DEFAULT_PLAN) -> str | None:
    """Why `week` is out of bounds for `plan`, or None when it is a week of the rollout."""
    if week < 1:
        return f"{week} is not a week (weeks start at 1)"
    if week > last_week(plan):
        return (
            f"{week} is past the rollout (at most week {last_week(plan)}: the plan's last week "
            f"{len(plan)} plus {PLATEAU_WEEKS} weeks of plateau)"
        )
    return None


def tiers_with_environment(week: int, plan: Sequence[WeekPlan] = DEFAULT_PLAN) -> tuple[str, ...]:
    """Tiers whose environment exists at `week`.

    Infrastructure first, traffic second: a tier's environment exists from one week before the
    schedule first gives it traffic, and from then on, so the change that opens traffic to a
    tier only changes weights.
    """
    present = []
    for tier in TIERS:
        first = first_week_with_traffic(tier, plan)
        if first is not None and week >= first - 1:
            present.append(tier)
    return tuple(present)


def first_week_with_traffic(tier: str, plan: Sequence[WeekPlan] = DEFAULT_PLAN) -> int | None:
    """The first week the plan gives `tier` any traffic, or None if it never does."""
    for row in plan:
        if row.allocation.weight(tier) > 0:
            return row.week
    return None
