"""SOC 2 policies over gRPC: required tags/labels, audit logging, production deletion protection."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.policies.state import (
    TAGS,
    Check,
    StateBuilder,
    changed,
    deployment,
    findings,
    messages,
    removed,
    skipped,
)

TAGS_POLICY = "soc2-required-tags"
AUDIT = "soc2-audit-logging"
PROTECTION = "soc2-deletion-protection"
LB = "aws:lb/loadBalancer:LoadBalancer"
TABLE = "aws:dynamodb/table:Table"


def tagged(tags: dict[str, Any] = TAGS, label: str | None = None) -> StateBuilder:
    b = StateBuilder()
    b.add("aws:sns/topic:Topic", "alerts", {"kmsMasterKeyId": "k", "tags": tags})
    b.add("aws:iam/rolePolicy:RolePolicy", "inline", {"role": "r", "policy": "{}"})
    inputs = deployment()
    if label:
        inputs = removed(inputs, ("metadata", "labels", label))
    b.add("kubernetes:apps/v1:Deployment", "api", inputs)
    return b


def test_tags_baseline_is_compliant(check: Check) -> None:
    assert findings(check(tagged()), TAGS_POLICY) == []


@pytest.mark.parametrize("key", sorted(TAGS))
def test_missing_tag(check: Check, key: str) -> None:
    report = check(tagged({k: v for k, v in TAGS.items() if k != key}))
    assert f"Missing tags: {key}." in messages(report, TAGS_POLICY)
    assert findings(report, TAGS_POLICY)[0].urn.endswith("::alerts")


def test_classification_must_be_known(check: Check) -> None:
    report = check(tagged({**TAGS, "data-classification": "top-secret"}))
    assert "'top-secret' is not one of public, internal, confidential, personal" in messages(
        report, TAGS_POLICY
    )


def test_provider_default_tags_count(check: Check) -> None:
    # Stack config `aws:defaultTags` reaches the default provider as a JSON-encoded string.
    b = StateBuilder()
    defaults = {k: v for k, v in TAGS.items() if k != "data-classification"}
    b.aws.entry["inputs"]["defaultTags"] = json.dumps({"tags": defaults})
    b.add("aws:sns/topic:Topic", "alerts", {"tags": {"data-classification": "personal"}})
    assert findings(check(b), TAGS_POLICY) == []


@pytest.mark.parametrize(
    "label", ["app.kubernetes.io/name", "app.kubernetes.io/part-of", "codex.dev/tier"]
)
def test_workload_missing_label(check: Check, label: str) -> None:
    report = check(tagged(label=label))
    assert f"Missing labels: {label}." in messages(report, TAGS_POLICY)


def test_required_tags_come_from_config(check: Check) -> None:
    config = {TAGS_POLICY: {"requiredTags": ["owner"], "requiredLabels": []}}
    report = check(tagged({"owner": "codex-platform"}, "codex.dev/tier"), config)
    assert findings(report, TAGS_POLICY) == []


# -- soc2-audit-logging -------------------------------------------------------------------------

ALB = {
    "loadBalancerType": "application",
    "accessLogs": {"bucket": "codex-access-logs", "enabled": True},
    "enableDeletionProtection": True,
    "tags": TAGS,
}
DDB = {
    "pointInTimeRecovery": {"enabled": True},
    "deletionProtectionEnabled": True,
    "serverSideEncryption": {"enabled": True},
    "tags": TAGS,
}


def stores(
    alb: dict[str, Any] = ALB, table: dict[str, Any] = DDB, stack: str = "prod"
) -> StateBuilder:
    b = StateBuilder(stack=stack)
    b.add(LB, "alb", alb)
    b.add(TABLE, "audit", table)
    return b


def test_audit_baseline_is_compliant(check: Check) -> None:
    report = check(stores())
    assert findings(report, AUDIT) == [] and findings(report, PROTECTION) == []


@pytest.mark.parametrize(
    ("alb", "table", "expected"),
    [
        (changed(ALB, "accessLogs.enabled", False), DDB, "access logs are not enabled"),
        (removed(ALB, "accessLogs"), DDB, "access logs are not enabled"),
        (ALB, changed(DDB, "pointInTimeRecovery.enabled", False), "point-in-time recovery"),
    ],
)
def test_audit_logging_off(
    check: Check, alb: dict[str, Any], table: dict[str, Any], expected: str
) -> None:
    report = check(stores(alb, table))
    assert expected in messages(report, AUDIT)
    assert findings(report, AUDIT)[0].enforcement_level == "mandatory"


def test_network_load_balancers_need_no_access_logs(check: Check) -> None:
    nlb = changed(removed(ALB, "accessLogs"), "loadBalancerType", "network")
    assert findings(check(stores(nlb)), AUDIT) == []


# -- soc2-deletion-protection -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alb", "table", "expected"),
    [
        (changed(ALB, "enableDeletionProtection", False), DDB, "Load balancer"),
        (ALB, removed(DDB, "deletionProtectionEnabled"), "DynamoDB table"),
    ],
)
def test_production_without_deletion_protection(
    check: Check, alb: dict[str, Any], table: dict[str, Any], expected: str
) -> None:
    assert expected in messages(check(stores(alb, table)), PROTECTION)


def test_deletion_protection_applies_to_production_stacks_only(check: Check) -> None:
    unprotected = changed(ALB, "enableDeletionProtection", False)
    report = check(stores(unprotected, stack="sandbox"))
    assert findings(report, PROTECTION) == []
    assert skipped(report, PROTECTION) == ["stack 'sandbox' is not a production stack"] * 2
    config = {PROTECTION: {"productionStacks": ["sandbox"]}}
    assert findings(check(stores(unprotected, stack="sandbox"), config), PROTECTION)
