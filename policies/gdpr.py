"""GDPR policies: where data lives (data residency) and how long logs are kept (storage
limitation)."""

from __future__ import annotations

from pulumi_policy import ResourceValidationArgs, Severity

from ._common import (
    GDPR,
    SOC2,
    Control,
    Report,
    as_number,
    aws_provider_region,
    get,
    resource_policy,
    string_list_schema,
)

# ---------------------------------------------------------------------------------------------
# gdpr-data-residency
# ---------------------------------------------------------------------------------------------

# AWS regions inside the European Union.
EU_REGIONS = ["eu-central-1", "eu-west-1", "eu-west-3", "eu-north-1", "eu-south-1", "eu-south-2"]
AWS_PROVIDER = "pulumi:providers:aws"


def _validate_residency(args: ResourceValidationArgs, report: Report) -> None:
    allowed = list(args.get_config().get("allowedRegions", EU_REGIONS))
    kind = args.resource_type
    if kind == AWS_PROVIDER:
        region = get(args.props, "region")
        if isinstance(region, str) and region and region not in allowed:
            report(
                f"AWS provider region {region!r} is not in allowedRegions ({', '.join(allowed)})."
            )
        return
    if not kind.startswith("aws:"):
        return
    # pulumi-aws v7 lets each resource override its provider's region.
    own = get(args.props, "region")
    if isinstance(own, str) and own:
        if own not in allowed:
            report(f"Resource region {own!r} is not in allowedRegions ({', '.join(allowed)}).")
        return
    provider_region = aws_provider_region(args.provider.props if args.provider else None)
    if provider_region is None:
        report(
            "Neither the resource nor its provider sets a region, so it would come from the "
            "deploying environment; pin aws:region to an allowed region."
        )
    elif provider_region not in allowed:
        report(
            f"Provider region {provider_region!r} is not in allowedRegions ({', '.join(allowed)})."
        )


gdpr_data_residency = resource_policy(
    name="gdpr-data-residency",
    description="AWS resources (and their providers) are placed only in allowed regions.",
    severity=Severity.CRITICAL,
    controls=[Control.of(GDPR, "Art. 44"), Control.of(GDPR, "Art. 46")],
    remediation=(
        "Set aws:region in Pulumi.<stack>.yaml (or the explicit provider's region) to an allowed "
        "region and remove per-resource region overrides outside allowedRegions."
    ),
    domain="gdpr",
    validate=_validate_residency,
    config={
        "allowedRegions": string_list_schema(
            "AWS regions resources may be placed in (default: EU member-state regions).",
            EU_REGIONS,
        )
    },
)

# ---------------------------------------------------------------------------------------------
# gdpr-log-retention
# ---------------------------------------------------------------------------------------------

MIN_RETENTION_DAYS = 30
MAX_RETENTION_DAYS = 400


def _validate_retention(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type != "aws:cloudwatch/logGroup:LogGroup":
        return
    config = args.get_config()
    low = int(config.get("minRetentionDays", MIN_RETENTION_DAYS))
    high = int(config.get("maxRetentionDays", MAX_RETENTION_DAYS))
    if low > high:
        report(f"Policy config is inconsistent: minRetentionDays {low} > maxRetentionDays {high}.")
        return
    days = as_number(get(args.props, "retentionInDays"))
    if not days:
        report(f"Log group never expires its events; set retentionInDays within {low}..{high}.")
    elif days < low:
        report(f"Log group keeps events {int(days)} days, fewer than minRetentionDays {low}.")
    elif days > high:
        report(f"Log group keeps events {int(days)} days, more than maxRetentionDays {high}.")


gdpr_log_retention = resource_policy(
    name="gdpr-log-retention",
    description=(
        "CloudWatch log groups keep events for a bounded period: long enough for audit, no "
        "longer than needed."
    ),
    severity=Severity.MEDIUM,
    controls=[Control.of(GDPR, "Art. 5(1)(e)"), Control.of(SOC2, "CC7.2")],
    remediation=(
        "Set retention_in_days on the log group to a CloudWatch-supported value between "
        "minRetentionDays and maxRetentionDays (e.g. 90 or 365)."
    ),
    domain="gdpr",
    validate=_validate_retention,
    config={
        "minRetentionDays": {
            "type": "integer",
            "minimum": 1,
            "description": "Fewest days a log group may keep events.",
            "default": MIN_RETENTION_DAYS,
        },
        "maxRetentionDays": {
            "type": "integer",
            "minimum": 1,
            "description": "Most days a log group may keep events.",
            "default": MAX_RETENTION_DAYS,
        },
    },
)

POLICIES = [gdpr_data_residency, gdpr_log_retention]
