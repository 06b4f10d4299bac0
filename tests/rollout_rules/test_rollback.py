"""Rollback decisions: allocations per trigger, the budget, the ledger, the declared weights."""

from __future__ import annotations

import itertools

import pytest

from components.observability.charts import SERVICE_SCRAPE_INTERVAL
from components.routing.component import (
    HEALTH_CHECK_INTERVAL_SECONDS,
    HEALTH_CHECK_UNHEALTHY_THRESHOLD,
)
from infra.config import StackConfig
from rollout_cli.stackfile import load_offline
from rollout_rules.plan import DEFAULT_PLAN, TIERS, Allocation, WeekPlan, tiers_with_environment
from rollout_rules.rollback import (
    NO_TIER,
    BudgetInputs,
    alarm_min_requests,
    budget_from_resources,
    duration_seconds,
    previous_week,
    rollback_allocations,
    rollback_budget,
    rollback_plan,
    spread,
)
from tests.conftest import STACKS, WEEKS


def budget_inputs(config: StackConfig) -> BudgetInputs:
    """The budget terms as the program computes them for `config`."""
    return config.rollback.budget_inputs(
        prometheus_evaluation_interval=config.observability.evaluation_interval,
        prometheus_scrape_interval=SERVICE_SCRAPE_INTERVAL,
        health_check_interval=HEALTH_CHECK_INTERVAL_SECONDS,
        health_check_unhealthy_threshold=HEALTH_CHECK_UNHEALTHY_THRESHOLD,
    )


# -- allocations ---------------------------------------------------------------------------------


def test_week_8_canary_failure_moves_its_share_proportionally() -> None:
    allocations = rollback_allocations(8, TIERS)
    assert allocations["canary"] == Allocation(11, 0, 89)
    assert allocations["production"] == Allocation(50, 50, 0)
    assert allocations["sandbox"] == Allocation(0, 11, 89)


@pytest.mark.parametrize(
    ("weights", "failing", "expected"),
    [
        ({"sandbox": 10, "canary": 10, "production": 80}, {"canary"}, (11, 0, 89)),
        ({"sandbox": 5, "canary": 5, "production": 90}, {"production"}, (50, 50, 0)),
        ({"sandbox": 5, "canary": 5, "production": 90}, {"canary"}, (5, 0, 95)),
        ({"sandbox": 20, "canary": 80, "production": 0}, {"sandbox"}, (0, 100, 0)),
        ({"sandbox": 33, "canary": 33, "production": 34}, {"production"}, (50, 50, 0)),
        ({"sandbox": 10, "canary": 10, "production": 80}, {"canary", "production"}, (100, 0, 0)),
    ],
)
def test_spread_by_largest_remainder(
    weights: dict[str, int], failing: set[str], expected: tuple[int, int, int]
) -> None:
    assert tuple((spread(weights, failing) or {}).values()) == expected


def test_spread_ties_go_to_the_larger_weight_then_tier_order() -> None:
    # 100 * 25/75 and 100 * 50/75 leave remainders .33 and .67: the larger remainder wins.
    assert spread({"sandbox": 25, "canary": 25, "production": 50}, {"sandbox"}) == {
        "sandbox": 0,
        "canary": 33,
        "production": 67,
    }
    # Equal remainders (12.5 and 87.5): the larger weight gets the leftover point.
    assert spread({"sandbox": 1, "canary": 7, "production": 92}, {"production"}) == {
        "sandbox": 12,
        "canary": 88,
        "production": 0,
    }


def test_spread_has_nowhere_to_go_when_the_failing_tier_holds_all_traffic() -> None:
    assert spread({"sandbox": 100, "canary": 0}, {"sandbox"}) is None


@pytest.mark.parametrize("week", WEEKS)
def test_every_allocation_sums_to_100_and_zeroes_the_failing_tier(week: int) -> None:
    tiers = tiers_with_environment(week)
    allocations = rollback_allocations(week, tiers)
    assert set(allocations) == {*tiers, NO_TIER}
    current = DEFAULT_PLAN[min(week, 12) - 1].allocation
    for key, allocation in allocations.items():
        assert sum(allocation.as_dict().values()) == 100, (week, key)
        for tier in TIERS:
            if tier not in tiers:
                assert allocation.weight(tier) == 0
        if key == NO_TIER:
            continue
        others_have_traffic = any(current.weight(t) > 0 for t in TIERS if t != key)
        if others_have_traffic:
            assert allocation.weight(key) == 0, (week, key)
        else:
            # Weeks 1-4: sandbox is the only tier with traffic. Hold as is (see the docstring).
            assert allocation == current


def test_failing_only_tier_holds_the_current_allocation() -> None:
    assert rollback_allocations(3, ("sandbox",))["sandbox"] == Allocation(100, 0, 0)
    assert rollback_allocations(4, ("sandbox", "canary"))["sandbox"] == Allocation(100, 0, 0)
    # A tier at 0 that fails stays at 0; nothing moves.
    assert rollback_allocations(4, ("sandbox", "canary"))["canary"] == Allocation(100, 0, 0)


@pytest.mark.parametrize(
    ("week", "expected"),
    [
        (1, (100, 0, 0)),  # no earlier week: the current allocation, held
        (2, (100, 0, 0)),
        (5, (100, 0, 0)),
        (6, (50, 50, 0)),  # week 5: on a plateau the previous week equals this one
        (7, (50, 50, 0)),
        (8, (20, 80, 0)),
        (9, (10, 10, 80)),
        (10, (5, 5, 90)),
        (12, (5, 5, 90)),
        (30, (5, 5, 90)),
    ],
)
def test_no_tier_triggers_go_to_the_previous_weeks_allocation(
    week: int, expected: tuple[int, ...]
) -> None:
    assert previous_week(week) == Allocation(*expected)
    assert rollback_allocations(week, tiers_with_environment(week))[NO_TIER] == Allocation(
        *expected
    )


def test_custom_plan_previous_week() -> None:
    plan = (
        WeekPlan(1, "a", Allocation(100, 0, 0)),
        WeekPlan(2, "b", Allocation(60, 30, 10)),
        WeekPlan(3, "c", Allocation(0, 20, 80)),
    )
    assert previous_week(3, plan) == Allocation(60, 30, 10)
    assert rollback_allocations(3, TIERS, plan)["production"] == Allocation(0, 100, 0)


def test_spread_invariants_over_every_split() -> None:
    # These hold for every split of 100 over three tiers in steps of 5 and every set of failing
    # tiers.
    for s, c in itertools.product(range(0, 101, 5), repeat=2):
        if s + c > 100:
            continue
        weights = {"sandbox": s, "canary": c, "production": 100 - s - c}
        for size in range(4):
            for failing in itertools.combinations(TIERS, size):
                result = spread(weights, frozenset(failing))
                if result is None:
                    assert all(weights[t] == 0 for t in TIERS if t not in failing)
                    continue
                assert sum(result.values()) == 100
                assert all(result[t] == 0 for t in failing)
                assert all(result[t] >= weights[t] for t in TIERS if t not in failing)


# -- budget --------------------------------------------------------------------------------------


def test_default_budget_breakdown() -> None:
    budget = rollback_budget()
    seconds = {t.trigger: t.seconds for t in budget.triggers}
    assert seconds == {
        "cloudwatch-error-rate": 75,
        "cloudwatch-latency-p95": 75,
        "cloudwatch-unhealthy-targets": 105,
        "prometheus-alert": 70,
        "guardduty-finding": 15,
        "config-non-compliant": 15,
    }
    assert budget.worst_case.trigger == "cloudwatch-unhealthy-targets"
    assert budget.worst_case.seconds == 105 <= 120
    assert budget.within_limit
    unhealthy = dict(budget.worst_case.parts)
    assert unhealthy["health check interval x unhealthy threshold"] == 30
    assert unhealthy["alarm period x evaluation periods"] == 60


@pytest.mark.parametrize("stack", STACKS)
def test_stack_budgets_are_within_two_minutes(stack: str) -> None:
    config = load_offline(stack).model
    budget = rollback_budget(budget_inputs(config))
    assert budget.limit == 120
    assert budget.worst_case.seconds <= 120


def test_longer_alarm_evaluation_breaks_the_budget() -> None:
    budget = rollback_budget(BudgetInputs(alarm_evaluation_periods=2))
    assert budget.worst_case.seconds == 165
    assert not budget.within_limit
    assert "OVER the 120s limit" in budget.lines()[-1]


def test_min_requests_follow_the_traffic_threshold() -> None:
    config = load_offline("prod").model
    # 0.1 requests/s over a 60 s alarm period.
    assert (
        alarm_min_requests(
            config.observability.thresholds.min_request_rate, config.rollback.alarm_period_seconds
        )
        == 6
    )


def test_budget_matches_the_observability_rules() -> None:
    from components.observability import rules
    from components.rollback import alertmanager as contract

    config = load_offline("prod").model
    triggers = rules.rollback_triggers(
        rules.rule_groups(config.services, config.observability.thresholds)
    )
    assert triggers, "no alert rule carries action=rollback"

    inputs = budget_inputs(config)
    assert max(duration_seconds(f) for f in triggers.values()) <= inputs.prometheus_rule_for
    assert duration_seconds(contract.ROLLBACK_ROUTE["group_wait"]) <= inputs.alertmanager_group_wait


def test_budget_from_resources_notices_a_slower_alarm() -> None:
    plan = rollback_plan(8, TIERS)
    function = (
        "aws:lambda/function:Function",
        {
            "tags": {"purpose": "rollback"},
            "environment": {"variables": {"ROLLOUT_ROLLBACK_PLAN": plan.to_json()}},
        },
    )
    alarm = {"tags": {"purpose": "rollback"}, "period": 60, "evaluationPeriods": 1}
    group = {"healthCheck": {"interval": 10, "unhealthyThreshold": 3}}
    found = budget_from_resources(
        [
            function,
            ("aws:cloudwatch/metricAlarm:MetricAlarm", alarm),
            ("aws:lb/targetGroup:TargetGroup", group),
        ]
    )
    assert found is not None
    published, derived = found
    assert published.worst_case.seconds == derived.worst_case.seconds == 105
    slow = {**alarm, "evaluationPeriods": 3}
    found = budget_from_resources([function, ("aws:cloudwatch/metricAlarm:MetricAlarm", slow)])
    assert found is not None
    assert found[1].worst_case.seconds == 225
    assert not found[1].within_limit
    assert budget_from_resources([]) is None


def test_cloudwatch_path_with_aws_documented_timing_exceeds_two_minutes() -> None:
    # ALB metrics come in 60-second intervals and a one-minute alarm is evaluated once a minute:
    # 60 s for the breaching minute + up to 60 s to the evaluation that sees it + 15 s of
    # delivery, start and move; unhealthy targets first need 3 failed checks 10 s apart.
    budget = rollback_budget()
    honest = {t.trigger: t.seconds for t in budget.cloudwatch()}
    assert honest == {
        "cloudwatch-error-rate": 135,
        "cloudwatch-latency-p95": 135,
        "cloudwatch-unhealthy-targets": 165,
    }
    summary = budget.cloudwatch_dict()
    assert summary["worstCaseSeconds"] == 165 and summary["withinLimit"] is False
    assert summary["notCounted"], "the ALB delivery delay is named as not counted"
    lines = budget.lines()
    assert any(line.startswith("CloudWatch path OVER the 120s limit") for line in lines)
    assert "the Prometheus path (70s) is the one that meets the plan" in lines[-1]


def test_no_alarm_period_sees_alb_metrics_sooner_than_a_minute() -> None:
    # The config refuses periods under 60 s; the honest figure does not rely on that.
    budget = rollback_budget(BudgetInputs(alarm_period=30))
    error_rate = next(t for t in budget.cloudwatch() if t.trigger == "cloudwatch-error-rate")
    assert dict(error_rate.parts)["alarm period x evaluation periods"] == 60
