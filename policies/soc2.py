"""SOC 2 policies: asset inventory and classification (tags), audit logging and backups, and
deletion protection in production."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from pulumi_policy import ResourceValidationArgs, Severity

from rollout_rules.contract import LABEL_TIER

from ._common import (
    GDPR,
    LOAD_BALANCER_TYPES,
    SOC2,
    Control,
    Report,
    aws_tags,
    get,
    resource_policy,
    stack_name,
    string_list_schema,
    truthy,
)
from ._workloads import WORKLOAD_TYPES, labels

# ---------------------------------------------------------------------------------------------
# soc2-required-tags
# ---------------------------------------------------------------------------------------------

REQUIRED_TAGS = ["owner", "cost-center", "environment", "data-classification"]
REQUIRED_LABELS = ["app.kubernetes.io/name", "app.kubernetes.io/part-of", LABEL_TIER]
DATA_CLASSIFICATIONS = ["public", "internal", "confidential", "personal"]
CLASSIFICATION_TAG = "data-classification"


@cache
def taggable_types() -> frozenset[str]:
    """AWS resource tokens that accept ``tags`` (generated from the pulumi-aws SDK; see
    tests/policies/test_taggable_types.py)."""
    data = json.loads((Path(__file__).parent / "aws_taggable_types.json").read_text())
    return frozenset(data["types"])


def _missing(found: dict[str, object], required: list[str]) -> list[str]:
    return [k for k in required if not isinstance(found.get(k), str) or not found.get(k)]


def _validate_tags(args: ResourceValidationArgs, report: Report) -> None:
    config = args.get_config()
    kind = args.resource_type
    if kind in taggable_types():
        tags = aws_tags(args.props, args.provider.props if args.provider else None)
        missing = _missing(tags, list(config.get("requiredTags", REQUIRED_TAGS)))
        if missing:
            report(f"Missing tags: {', '.join(missing)}.")
        classes = list(config.get("dataClassifications", DATA_CLASSIFICATIONS))
        value = tags.get(CLASSIFICATION_TAG)
        if isinstance(value, str) and value and value not in classes:
            report(f"Tag {CLASSIFICATION_TAG}={value!r} is not one of {', '.join(classes)}.")
    elif kind in WORKLOAD_TYPES:
        found = dict(labels(args.props))
        missing = _missing(found, list(config.get("requiredLabels", REQUIRED_LABELS)))
        if missing:
            report(f"Missing labels: {', '.join(missing)}.")


soc2_required_tags = resource_policy(
    name="soc2-required-tags",
    description=(
        "Taggable AWS resources carry owner, cost-center, environment and data-classification; "
        "Kubernetes workloads carry app.kubernetes.io/name, app.kubernetes.io/part-of and "
        f"{LABEL_TIER}."
    ),
    severity=Severity.MEDIUM,
    controls=[Control.of(SOC2, "CC6.1"), Control.of(SOC2, "C1.1"), Control.of(GDPR, "Art. 30")],
    remediation=(
        "Set the tags on the AWS provider's default_tags (owner, cost-center, environment) and "
        "data-classification on each resource; put the labels in the workload's metadata.labels."
    ),
    domain="soc2",
    validate=_validate_tags,
    config={
        "requiredTags": string_list_schema(
            "Tag keys every taggable AWS resource must carry.", REQUIRED_TAGS
        ),
        "requiredLabels": string_list_schema(
            "Label keys every Kubernetes workload must carry.", REQUIRED_LABELS
        ),
        "dataClassifications": string_list_schema(
            "Values allowed for the data-classification tag.", DATA_CLASSIFICATIONS
        ),
    },
)

# ---------------------------------------------------------------------------------------------
# soc2-audit-logging
# ---------------------------------------------------------------------------------------------

TABLE = "aws:dynamodb/table:Table"


def _validate_audit_logging(args: ResourceValidationArgs, report: Report) -> None:
    props = args.props
    if args.resource_type in LOAD_BALANCER_TYPES:
        if (get(props, "loadBalancerType") or "application") != "application":
            return
        if not truthy(get(props, "accessLogs", "enabled")) or not get(
            props, "accessLogs", "bucket"
        ):
            report("Application load balancer access logs are not enabled to an S3 bucket.")
    elif args.resource_type == TABLE and not truthy(get(props, "pointInTimeRecovery", "enabled")):
        report("DynamoDB table does not enable point-in-time recovery.")


soc2_audit_logging = resource_policy(
    name="soc2-audit-logging",
    description=(
        "Application load balancers write access logs, and DynamoDB tables keep point-in-time "
        "recovery."
    ),
    severity=Severity.HIGH,
    controls=[Control.of(SOC2, "CC7.2"), Control.of(SOC2, "A1.2"), Control.of(GDPR, "Art. 32")],
    remediation=(
        "Load balancer: access_logs {bucket, enabled: True} to a bucket whose policy admits the "
        "ELB log delivery principal. DynamoDB: point_in_time_recovery {enabled: True}."
    ),
    domain="soc2",
    validate=_validate_audit_logging,
)

# ---------------------------------------------------------------------------------------------
# soc2-deletion-protection
# ---------------------------------------------------------------------------------------------

PRODUCTION_STACKS = ["prod", "production"]


def _validate_deletion_protection(args: ResourceValidationArgs, report: Report) -> None:
    kind = args.resource_type
    if kind not in LOAD_BALANCER_TYPES and kind != TABLE:
        return
    stacks = list(args.get_config().get("productionStacks", PRODUCTION_STACKS))
    stack = stack_name(args.urn)
    if stack not in stacks:
        args.not_applicable(f"stack {stack!r} is not a production stack")
    if kind == TABLE:
        if not truthy(get(args.props, "deletionProtectionEnabled")):
            report("DynamoDB table in a production stack lacks deletion protection.")
    elif not truthy(get(args.props, "enableDeletionProtection")):
        report("Load balancer in a production stack lacks deletion protection.")


soc2_deletion_protection = resource_policy(
    name="soc2-deletion-protection",
    description=(
        "In production stacks, load balancers and DynamoDB tables have deletion protection."
    ),
    severity=Severity.HIGH,
    controls=[Control.of(SOC2, "A1.2"), Control.of(SOC2, "CC8.1")],
    remediation=(
        "Set enable_deletion_protection=True on the load balancer and "
        "deletion_protection_enabled=True on the table in production stacks (a stack config "
        "value, not a branch on the stack name)."
    ),
    domain="soc2",
    validate=_validate_deletion_protection,
    config={
        "productionStacks": string_list_schema(
            "Stack names treated as production.", PRODUCTION_STACKS
        )
    },
)

POLICIES = [soc2_required_tags, soc2_audit_logging, soc2_deletion_protection]
