"""Policy pack config: reconciled as the engine reconciles it (schema defaults, `all`, then each
policy), bad config as one line, and the effective levels reaching the pack over the wire."""

from __future__ import annotations

import re
from typing import Any

import pytest

from rollout_cli.policy.config import PolicyConfig, parse_policy_pack_config, reconcile_config
from rollout_cli.policy.errors import PolicyCheckError
from rollout_cli.policy.host import PolicyHost
from rollout_cli.policy.metadata import pack_policies


def levels(config: dict[str, PolicyConfig]) -> dict[str, str | None]:
    return {name: c.enforcement_level for name, c in config.items()}


def test_reconcile_fills_defaults_then_applies_all_then_each_policy() -> None:
    policies = pack_policies()
    given = parse_policy_pack_config(
        {
            "all": "advisory",
            "gdpr-log-retention": {"enforcementLevel": "mandatory", "maxRetentionDays": 731},
            "k8s-image-pinned": "disabled",
        },
        "test",
    )
    config = reconcile_config(policies, {}, given)
    assert set(config) == {p.name for p in policies}
    assert levels(config)["gdpr-log-retention"] == "mandatory"
    assert levels(config)["k8s-image-pinned"] == "disabled"
    assert levels(config)["iam-no-wildcard-admin"] == "advisory"
    retention = config["gdpr-log-retention"].properties
    assert retention == {"minRetentionDays": 30, "maxRetentionDays": 731}


def test_reconcile_without_config_keeps_each_policy_default() -> None:
    policies = pack_policies()
    config = reconcile_config(policies, {}, {})
    assert levels(config) == {p.name: p.enforcement_level for p in policies}
    assert config["gdpr-data-residency"].properties == {
        "allowedRegions": [
            "eu-central-1",
            "eu-west-1",
            "eu-west-3",
            "eu-north-1",
            "eu-south-1",
            "eu-south-2",
        ]
    }


@pytest.mark.parametrize(
    ("document", "error"),
    [
        (
            {"gdpr-log-retention": {"minRetentionDays": "thirty"}},
            "gdpr-log-retention: minRetentionDays: 'thirty' is not of type 'integer'",
        ),
        ({"k8s-image-pinned": {"allowedRegistries": "ghcr.io"}}, "is not of type 'array'"),
        ({"no-such-policy": "mandatory"}, "no policy named 'no-such-policy'"),
        ({"all": "strict"}, "'strict' is not a valid enforcement level"),
        ({"k8s-image-pinned": {"enforcementLevel": 1}}, "enforcementLevel 1 is not one of"),
        ({"k8s-image-pinned": 3}, "3 is not a valid value; must be a string or object"),
        (["all"], "must be a JSON object"),
    ],
)
def test_bad_config_is_one_line(document: Any, error: str) -> None:
    with pytest.raises(PolicyCheckError, match=re.escape(error)) as caught:
        reconcile_config(pack_policies(), {}, parse_policy_pack_config(document, "cfg"))
    assert "\n" not in str(caught.value)


@pytest.mark.slow
def test_disabling_all_policies_over_the_wire(
    pack: PolicyHost, violating_state: dict[str, Any]
) -> None:
    report = pack.evaluate(violating_state, parse_policy_pack_config({"all": "disabled"}, "t"))
    assert report.violations == [] and report.evaluated == []
    assert report.as_dict()["summary"]["policies"] == 0


@pytest.mark.slow
def test_enforcement_level_from_config_reaches_the_diagnostics(
    pack: PolicyHost, violating_state: dict[str, Any]
) -> None:
    config = parse_policy_pack_config({"security-group-no-public-ingress": "advisory"}, "t")
    report = pack.evaluate(violating_state, config)
    assert {v.enforcement_level for v in report.violations} == {"advisory"}
    assert report.exit_code == 0
