"""When enforcement lands: dryrun first, deny from the week before a tier takes traffic."""

from __future__ import annotations

import pytest

from rollout_rules.admission import (
    DENY,
    DRYRUN,
    FIRST_ENFORCING_WEEK,
    default_enforcement_week,
    enforcement_action,
    enforcement_weeks,
    override_error,
)
from rollout_rules.plan import (
    DEFAULT_PLAN,
    TIERS,
    Allocation,
    WeekPlan,
    first_week_with_traffic,
    tiers_with_environment,
)


def test_default_plan_deny_weeks() -> None:
    # canary takes traffic in week 5 and production in week 8 (README, "The schedule"); sandbox from
    # week 1, so it gets the one audit week every tier has after Gatekeeper is installed.
    assert enforcement_weeks() == {"sandbox": 2, "canary": 4, "production": 7}


@pytest.mark.parametrize("tier", TIERS)
def test_deny_lands_before_traffic_and_never_in_week_one(tier: str) -> None:
    first = first_week_with_traffic(tier, DEFAULT_PLAN)
    assert first is not None
    week = default_enforcement_week(tier)
    assert week is not None
    assert week >= FIRST_ENFORCING_WEEK
    assert week == first - 1 or (first - 1 < FIRST_ENFORCING_WEEK and week == FIRST_ENFORCING_WEEK)
    # Before a tier's environment exists, its constraints are still dryrun.
    for w in range(1, 13):
        if tier not in tiers_with_environment(w) and w < week:
            assert enforcement_action(w, week) == DRYRUN


def test_lead_weeks_and_overrides() -> None:
    assert enforcement_weeks(lead_weeks=0)["canary"] == 5
    assert enforcement_weeks(lead_weeks=2)["production"] == 6
    assert enforcement_weeks(overrides={"production": 5})["production"] == 5


def test_a_tier_without_traffic_stays_in_dryrun() -> None:
    plan = [WeekPlan(1, "only", Allocation(100, 0, 0)), WeekPlan(2, "only", Allocation(50, 50, 0))]
    assert enforcement_weeks(plan)["production"] is None
    assert enforcement_action(99, None) == DRYRUN


def test_actions() -> None:
    assert [enforcement_action(w, 4) for w in (1, 3, 4, 12)] == [DRYRUN, DRYRUN, DENY, DENY]


def test_override_after_first_traffic_is_refused() -> None:
    assert override_error("canary", 5) is None
    message = override_error("canary", 6)
    assert message is not None and "after week 5, when canary first takes traffic" in message
    assert override_error("canary", 0) == "0 is not a week (weeks start at 1)"
