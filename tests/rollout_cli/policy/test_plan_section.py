"""The policy section of `rollout plan` (rollout_cli/policy_summary.py): the pack's verdict on
the planned state, from a pack started for it or from the one `prestart` started."""

from __future__ import annotations

import dataclasses
import re
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


def test_one_finding_on_many_resources_is_one_line(plan: Callable[..., PlanResult]) -> None:
    planned = plan("prod", 8)
    records = [
        dataclasses.replace(r, inputs={**r.inputs, "region": "us-east-1"})
        if r.type == "pulumi:providers:aws"
        else r
        for r in planned.records
    ]
    section = policy_section(dataclasses.replace(planned, records=records))
    counted = re.search(r"(\d+) violation\(s\)", section.lines[0])
    assert counted and int(counted.group(1)) > 50
    assert len(section.problems) == 2  # one per message, not one per resource
    [many] = [p for p in section.problems if p.startswith("[mandatory] gdpr-data-residency: Prov")]
    shown = re.search(r"\((\d+) resources: (.+), and (\d+) more \(rollout policy check", many)
    assert shown
    assert len(shown.group(2).split(", ")) == 5
    assert int(shown.group(1)) == 5 + int(shown.group(3))
