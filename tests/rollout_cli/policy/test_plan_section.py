"""The policy section of `rollout plan` (rollout_cli/policy_summary.py): the pack's verdict on
the planned state, from a pack started for it or from the one `prestart` started."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rollout_cli.offline import PlanResult
from rollout_cli.policy_summary import policy_section, prestart
from rollout_cli.summary import summarise

pytestmark = pytest.mark.slow  # whole-program plans and the pack process


def test_plan_shows_the_policy_verdict(plan: Callable[..., PlanResult]) -> None:
    summary = summarise(plan("prod", 9))
    section = next(s for s in summary.sections if s.title == "policy")
    assert section.problems == []
    assert section.lines[0].startswith("policy check PASS: 0 violation(s)")


def test_a_prestarted_pack_gives_the_same_section(plan: Callable[..., PlanResult]) -> None:
    pack = prestart()
    prestarted = policy_section(plan("sandbox", 4), pack)
    started_here = policy_section(plan("sandbox", 4))
    assert prestarted == started_here
    assert prestarted.lines[0].startswith("policy check PASS: 0 violation(s)")
    assert summarise(plan("sandbox", 4), prestart()).valid
