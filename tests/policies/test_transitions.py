"""Every week transition 0->1 ... 11->12 of both stacks, previewed the way the engine previews it
and checked by the real pack: no mandatory violation, and every value the pack could not see is
an advisory naming it, never a silent pass.

Plans are shared with the rest of the session (`plan_of`); each transition's preview is run once.
"""

from __future__ import annotations

import re

import pytest

from rollout_cli.offline import PlanResult
from rollout_cli.policy.host import PolicyHost
from rollout_cli.policy.report import Report
from rollout_cli.policy.state import plan_state
from rollout_rules.contract import PREVIEW_BLIND, TARGET_GROUP_TYPE
from tests.conftest import STACKS, WEEKS, preview_of

TRANSITIONS = [(week - 1, week) for week in WEEKS]
WEIGHTS = "rollout-weights-sum-to-100"
BLIND = re.compile(rf"^{re.escape(PREVIEW_BLIND)}: .+ is unknown$")

_REPORTS: dict[tuple[str, int, int], tuple[PlanResult, Report]] = {}


def previewed(pack: PolicyHost, stack: str, before: int, after: int) -> tuple[PlanResult, Report]:
    key = (stack, before, after)
    if key not in _REPORTS:
        preview = preview_of(stack, after, before)
        _REPORTS[key] = preview, pack.evaluate(plan_state(preview))
    return _REPORTS[key]


@pytest.mark.parametrize(("before", "after"), TRANSITIONS, ids=lambda w: str(w))
@pytest.mark.parametrize("stack", STACKS)
def test_transition_passes_and_names_what_it_cannot_see(
    pack: PolicyHost, stack: str, before: int, after: int
) -> None:
    preview, report = previewed(pack, stack, before, after)
    assert report.mandatory == [], [f"{v.policy}: {v.message}" for v in report.mandatory]
    for violation in report.violations:
        assert violation.enforcement_level == "advisory"
        assert BLIND.match(violation.message), violation.message
    if not preview.new:
        assert report.violations == []
    # A target group created by this change is unknown to the listener forwarding to it: the
    # weights policy says so (and still sums the weights: no mandatory violation above).
    new_groups = [u for u in preview.new if u.split("::")[2].endswith(TARGET_GROUP_TYPE)]
    blind_weights = [v.message for v in report.violations if v.policy == WEIGHTS]
    if new_groups:
        assert blind_weights and all("'codex-https'" in m for m in blind_weights)
    else:
        assert blind_weights == []


def test_the_issue_transitions_add_resources(pack: PolicyHost) -> None:
    """prod 3->4 adds the canary tier and 6->7 production, each with its target group."""
    for before, after, tier in ((3, 4, "canary"), (6, 7, "production")):
        preview, report = previewed(pack, "prod", before, after)
        groups = [u for u in preview.new if u.split("::")[2].endswith(TARGET_GROUP_TYPE)]
        assert [u.rsplit("::", 1)[1] for u in groups] == [f"codex-tg-{tier}"]
        assert any(v.policy == WEIGHTS for v in report.violations)
