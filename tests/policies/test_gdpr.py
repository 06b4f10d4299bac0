"""GDPR policies over gRPC: data residency (provider and per-resource region) and log retention."""

from __future__ import annotations

from typing import Any

import pytest

from tests.policies.state import TAGS, Check, StateBuilder, deployment, findings, messages

RESIDENCY = "gdpr-data-residency"
RETENTION = "gdpr-log-retention"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"


def regional(region: str | None = "eu-central-1", override: str | None = None) -> StateBuilder:
    b = StateBuilder(region=region)
    inputs: dict[str, Any] = {"kmsMasterKeyId": "alias/codex", "tags": TAGS}
    if override:
        inputs["region"] = override
    b.add("aws:sns/topic:Topic", "alerts", inputs)
    b.add("aws:iam/role:Role", "rollback", {"assumeRolePolicy": "{}", "tags": TAGS})
    b.add("kubernetes:apps/v1:Deployment", "api", deployment())
    return b


def test_residency_baseline_is_compliant(check: Check) -> None:
    assert findings(check(regional()), RESIDENCY) == []


def test_provider_outside_allowed_regions(check: Check) -> None:
    report = check(regional("us-east-1"))
    flagged = sorted(v.urn.rsplit("::", 1)[1] for v in findings(report, RESIDENCY))
    # The provider itself and every AWS resource it manages; Kubernetes is not regional.
    assert flagged == ["alerts", "default_7_51_1", "rollback"]
    assert {v.severity for v in findings(report, RESIDENCY)} == {"critical"}


def test_resource_region_override(check: Check) -> None:
    report = check(regional(override="us-west-2"))
    assert [v.urn.rsplit("::", 1)[1] for v in findings(report, RESIDENCY)] == ["alerts"]
    assert "'us-west-2'" in messages(report, RESIDENCY)
    # An override into an allowed region is fine even when the provider's region is not.
    report = check(regional("us-east-1", override="eu-west-1"))
    assert "alerts" not in {v.urn.rsplit("::", 1)[1] for v in findings(report, RESIDENCY)}


def test_region_must_be_pinned(check: Check) -> None:
    report = check(regional(region=None))
    assert "Neither the resource nor its provider sets a region" in messages(report, RESIDENCY)


def test_allowed_regions_come_from_config(check: Check) -> None:
    report = check(regional("us-east-1"), {RESIDENCY: {"allowedRegions": ["us-east-1"]}})
    assert findings(report, RESIDENCY) == []


def test_provider_default_config_is_read_from_the_provider_inputs(check: Check) -> None:
    # Default providers are configured from stack config: `aws:region` becomes input `region`.
    b = StateBuilder(region="eu-west-3")
    b.add("aws:sns/topic:Topic", "alerts", {"kmsMasterKeyId": "k", "tags": TAGS})
    assert findings(check(b), RESIDENCY) == []


# -- gdpr-log-retention -------------------------------------------------------------------------


def log_group(days: int | None) -> StateBuilder:
    b = StateBuilder()
    inputs: dict[str, Any] = {"kmsKeyId": "arn:key", "tags": TAGS}
    if days is not None:
        inputs["retentionInDays"] = days
    b.add(LOG_GROUP, "rollback", inputs)
    return b


def test_retention_baseline_is_compliant(check: Check) -> None:
    for days in (30, 365, 400):
        assert findings(check(log_group(days)), RETENTION) == []


@pytest.mark.parametrize(
    ("days", "expected"),
    [(None, "never expires"), (0, "never expires"), (7, "fewer than"), (3653, "more than")],
)
def test_retention_outside_bounds(check: Check, days: int | None, expected: str) -> None:
    report = check(log_group(days))
    assert expected in messages(report, RETENTION)
    assert findings(report, RETENTION)[0].enforcement_level == "advisory"


def test_retention_bounds_come_from_config(check: Check) -> None:
    config = {RETENTION: {"minRetentionDays": 1, "maxRetentionDays": 3653}}
    assert findings(check(log_group(3653), config), RETENTION) == []
    inverted = {RETENTION: {"minRetentionDays": 90, "maxRetentionDays": 30}}
    assert "inconsistent" in messages(check(log_group(60), inverted), RETENTION)
