"""The function's configuration: each environment variable checked, with a message naming it."""

from __future__ import annotations

import json

import pytest

from components.rollback.function.settings import Settings, SettingsError
from rollout_rules.contract import ENV_ROLLBACK_PLAN, ENV_TARGET_GROUPS, ENV_VARS
from tests.components.rollback.conftest import MakeStack


@pytest.mark.parametrize("name", ENV_VARS)
def test_every_variable_is_required(make_stack: MakeStack, name: str) -> None:
    stack = make_stack(week=8)
    with pytest.raises(SettingsError, match=f"^{name}: not set "):
        Settings.from_env({**stack.env, name: ""})


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        (ENV_TARGET_GROUPS, "{}", "not a JSON object of tier -> ARN"),
        (ENV_TARGET_GROUPS, '{"qa": "arn:x"}', "'qa' -> 'arn:x' is not a tier"),
        (ENV_ROLLBACK_PLAN, "{", "ROLLOUT_ROLLBACK_PLAN: not JSON"),
        (ENV_ROLLBACK_PLAN, '{"allocations": {}}', 'with a "none" entry'),
        (
            ENV_ROLLBACK_PLAN,
            '{"allocations": {"none": {"sandbox": 100}, "qa": {"sandbox": 100}}}',
            "allocation key 'qa' is no tier",
        ),
        (
            ENV_ROLLBACK_PLAN,
            '{"allocations": {"none": {"sandbox": 50}}}',
            "allocation 'none' is not tier weights summing to 100",
        ),
        # The weights rule is the core's: no booleans, no tier outside TIERS.
        (
            ENV_ROLLBACK_PLAN,
            '{"allocations": {"none": {"sandbox": 99, "canary": true}}}',
            "allocation 'none' is not tier weights",
        ),
        (
            ENV_ROLLBACK_PLAN,
            '{"allocations": {"none": {"sandbox": 50, "qa": 50}}}',
            "allocation 'none' is not tier weights",
        ),
    ],
)
def test_settings_validation(make_stack: MakeStack, name: str, value: str, match: str) -> None:
    stack = make_stack(week=8)
    with pytest.raises(SettingsError, match=match):
        Settings.from_env({**stack.env, name: value})


def test_the_plan_and_target_groups_are_read(make_stack: MakeStack) -> None:
    stack = make_stack(week=8)
    settings = Settings.from_env(stack.env)
    assert settings.week == 8
    assert settings.allocation_for("canary") == {"sandbox": 11, "canary": 0, "production": 89}
    assert (
        settings.allocation_for(None)
        == json.loads(stack.env[ENV_ROLLBACK_PLAN])["allocations"]["none"]
    )
    canary = stack.target_groups["canary"]
    # By ARN (the listener) and by its suffix (the alarm's TargetGroup dimension).
    assert settings.tier_of_target_group(canary) == "canary"
    assert settings.tier_of_target_group(stack.suffix("canary")) == "canary"
    assert settings.tier_of_target_group("targetgroup/other/1") is None
