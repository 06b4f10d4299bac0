"""`rollout plan`'s verdict: every week of both stacks is a valid plan; broken plans are not."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rollout_cli.offline import PlanResult
from rollout_cli.rollback_summary import rollback_section
from rollout_cli.summary import listener_weights, routing_section
from tests.conftest import STACKS, WEEKS


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("week", WEEKS)
def test_every_week_is_a_valid_plan(plan: Callable[..., PlanResult], stack: str, week: int) -> None:
    result = plan(stack, week)
    for section in (routing_section(result), rollback_section(result)):
        assert section.problems == [], section.title
    assert sum(listener_weights(result).values()) == 100


def test_a_listener_that_disagrees_with_the_allocation_is_invalid(
    plan: Callable[..., PlanResult],
) -> None:
    import copy

    result = copy.deepcopy(plan("prod", 8))
    https = next(r for r in result.by_type("aws:lb/listener:Listener") if r.inputs["port"] == 443)
    groups = https.inputs["defaultActions"][0]["forward"]["targetGroups"]
    groups[0]["weight"] += 5
    problems = routing_section(result).problems
    assert any("sum to 105" in p for p in problems)
    assert any("!= declared allocation" in p for p in problems)


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("week", [1, 4, 7])
def test_no_hold_is_reported_without_a_held_ledger(
    plan: Callable[..., PlanResult], stack: str, week: int
) -> None:
    # Weeks where some tier has no environment yet: the listener lists fewer tiers than the
    # schedule, which is not a hold.
    lines = rollback_section(plan(stack, week)).lines
    assert not any("ledger held" in line for line in lines)
