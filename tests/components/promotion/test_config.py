"""The `promotion` config: defaults from the plan, overrides validated like the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.promotion.config import PromotionConfig
from rollout_cli.stackfile import load_offline
from rollout_rules.errors import ConfigError
from tests.conftest import edit_stack


def test_defaults_are_the_plan_targets() -> None:
    c = PromotionConfig()
    assert (c.max_error_ratio, c.target_error_ratio, c.max_latency_p95_ms) == (0.01, 0.001, 500)
    assert (c.min_codegen_success, c.min_deployment_success, c.min_test_coverage) == (
        0.95,
        0.99,
        0.80,
    )
    assert c.max_validation_pipeline_seconds == 300


def test_a_stack_overrides_a_gate(stack_root: Path) -> None:
    edit_stack(
        stack_root,
        "prod",
        lambda c: c.update({"codex-rollout:promotion": {"minRequests": 50000}}),
    )
    model = load_offline("prod", stack_root).model
    assert model.promotion.min_requests == 50000
    assert model.promotion.min_test_coverage == 0.80


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"maxErrorRatio": 1.5}, r"codex-rollout:promotion.maxErrorRatio: 1.5 is invalid"),
        ({"minRequest": 5}, r"codex-rollout:promotion.minRequest: unknown key"),
        (
            {"comparison": {"interval": "ten minutes"}},
            r"codex-rollout:promotion.comparison.interval: 'ten minutes' is invalid",
        ),
        (
            {"targetErrorRatio": 0.02},
            r"codex-rollout:promotion.targetErrorRatio: 0.02 is above maxErrorRatio 0.01",
        ),
    ],
)
def test_bad_values_name_the_key(stack_root: Path, value: dict, message: str) -> None:
    edit_stack(stack_root, "prod", lambda c: c.update({"codex-rollout:promotion": value}))
    with pytest.raises(ConfigError, match=message):
        load_offline("prod", stack_root)
