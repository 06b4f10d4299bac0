"""Infrastructure first, traffic second: a tier appears a week before it gets any traffic."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from rollout_cli.offline import PlanResult
from rollout_cli.render import diff
from tests.conftest import STACKS

WEIGHT_PATH = re.compile(r"^defaultActions\[0\]\.forward\.targetGroups\[\d+\]\.weight$")


def _listener_changes(result: object, urn_suffix: str = "::codex-https") -> list:
    changed = result.changed  # type: ignore[attr-defined]
    return next((c for urn, c in changed.items() if urn.endswith(urn_suffix)), [])


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize(("before", "after", "tier"), [(3, 4, "canary"), (6, 7, "production")])
def test_tier_appears_with_weights_unchanged(
    plan: Callable[..., PlanResult], stack: str, before: int, after: int, tier: str
) -> None:
    change = diff(plan(stack, before), plan(stack, after))
    assert not change.removed
    added_tiers = {urn.split("::")[-1] for urn in change.added}
    assert f"env-{tier}" in added_tiers and f"codex-tg-{tier}" in added_tiers
    # The new tier's target group joins the listener at weight 0: no traffic yet.
    (listener_change,) = _listener_changes(change)
    old = {g["arn"]: g["weight"] for g in listener_change.old}
    new = {g["arn"]: g["weight"] for g in listener_change.new}
    assert [w for arn, w in new.items() if arn not in old] == [0]
    if before == 3:  # weeks 3 and 4 share an allocation: existing weights stay as they are
        assert {arn: new[arn] for arn in old} == old


# Besides the listener, two things follow the week by design: the rollback function's plan (the
# rollback allocations are weights too) and the Deployment dashboard's "current week" panel.
FOLLOWS_THE_WEEK = {
    "::rollback-function": {"environment.variables.ROLLOUT_ROLLBACK_PLAN"},
    "::observability-dashboard-codex-deployment": {"data.codex-deployment.json"},
}


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize(("before", "after"), [(4, 5), (7, 8)])
def test_opening_traffic_changes_weights_only(
    plan: Callable[..., PlanResult], stack: str, before: int, after: int
) -> None:
    change = diff(plan(stack, before), plan(stack, after))
    assert not change.added and not change.removed
    changes = _listener_changes(change)
    assert changes and all(WEIGHT_PATH.match(c.path) for c in changes)
    for urn, paths in change.changed.items():
        if urn.endswith("::codex-https"):
            continue
        suffix = "::" + urn.split("::")[-1]
        assert suffix in FOLLOWS_THE_WEEK, f"{urn} changes when traffic opens"
        assert {c.path for c in paths} <= FOLLOWS_THE_WEEK[suffix]
