"""The schedule: the plan's traffic table, weeks past the table, environments, custom plans."""

from __future__ import annotations

import pytest

from rollout_rules.plan import (
    DEFAULT_PLAN,
    Allocation,
    PlanError,
    WeekPlan,
    tiers_with_environment,
    validate_plan,
    week_plan,
)
from tests.conftest import WEEKS, DesignTable

# The plan's traffic table comes from the `design_table` fixture, typed in from the rollout
# plan (not from the code).


@pytest.mark.parametrize("week", WEEKS)
def test_default_plan_is_the_design_table(week: int, design_table: DesignTable) -> None:
    phase, weights = design_table[week]
    row = week_plan(week)
    assert (row.phase, row.allocation) == (phase, Allocation(*weights))
    assert sum(row.allocation.as_dict().values()) == 100


@pytest.mark.parametrize("week", [13, 20, 52, 200])
def test_weeks_past_the_table_keep_the_last_allocation(week: int) -> None:
    assert week_plan(week).allocation == Allocation(5, 5, 90)
    assert week_plan(week).week == week


@pytest.mark.parametrize("week", [0, -1])
def test_week_below_one_is_rejected(week: int) -> None:
    with pytest.raises(PlanError, match=rf"^{week} is not a week \(weeks start at 1\)$"):
        week_plan(week)


@pytest.mark.parametrize(
    ("week", "tiers"),
    [
        (1, ("sandbox",)),
        (3, ("sandbox",)),
        (4, ("sandbox", "canary")),  # one week before canary's first traffic (week 5)
        (6, ("sandbox", "canary")),
        (7, ("sandbox", "canary", "production")),  # one week before production's (week 8)
        (12, ("sandbox", "canary", "production")),
    ],
)
def test_environment_exists_one_week_before_first_traffic(week: int, tiers: tuple) -> None:
    assert tiers_with_environment(week) == tiers


def _plan(*rows: tuple[int, int, int]) -> list[WeekPlan]:
    return [WeekPlan(i + 1, f"p{i + 1}", Allocation(*w)) for i, w in enumerate(rows)]


def test_valid_custom_plan_is_accepted() -> None:
    plan = _plan((100, 0, 0), (50, 50, 0), (0, 0, 100))
    assert validate_plan(plan) == tuple(plan)
    assert week_plan(9, plan).allocation == Allocation(0, 0, 100)


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        ([], "no weeks"),
        ([WeekPlan(2, "x", Allocation(100, 0, 0))], "week 2 is out of order"),
        (_plan((100, 0, 0), (60, 50, 0)), "week 2: weights sum to 110, not 100"),
        (_plan((101, -1, 0)), "week 1: sandbox: 101 is not an integer from 0 to 100"),
        (_plan((0, 0, 100), (0, 10, 90)), "production share drops from 100 to 90"),
    ],
)
def test_invalid_custom_plans_name_the_rule(plan: list[WeekPlan], message: str) -> None:
    with pytest.raises(PlanError, match=message):
        validate_plan(plan)


def test_default_plan_is_itself_valid() -> None:
    assert validate_plan(DEFAULT_PLAN) == DEFAULT_PLAN
