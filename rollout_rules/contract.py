"""Contract values: the names that several parts must agree on, written once.

The program sets them, the rollback function and the operator commands read them, the policy
pack looks for them, and the tooling renders them. A constant written twice is a bug waiting
for a rename, so every part takes these from here.
"""

from __future__ import annotations

PROJECT = "codex-rollout"
"""The Pulumi project name, also the config namespace (`codex-rollout:<key>`)."""

# -- the rollback function's environment ----------------------------------------------------------

ENV_STACK = "ROLLOUT_STACK"
ENV_LISTENER_ARN = "ROLLOUT_LISTENER_ARN"
ENV_TARGET_GROUPS = "ROLLOUT_TARGET_GROUPS"
ENV_ROLLBACK_PLAN = "ROLLOUT_ROLLBACK_PLAN"
ENV_LEDGER_PARAMETER = "ROLLOUT_LEDGER_PARAMETER"
ENV_AUDIT_TABLE = "ROLLOUT_AUDIT_TABLE"
ENV_NOTIFY_TOPIC_ARN = "ROLLOUT_NOTIFY_TOPIC_ARN"
ENV_VARS: tuple[str, ...] = (
    ENV_STACK,
    ENV_LISTENER_ARN,
    ENV_TARGET_GROUPS,
    ENV_ROLLBACK_PLAN,
    ENV_LEDGER_PARAMETER,
    ENV_AUDIT_TABLE,
    ENV_NOTIFY_TOPIC_ARN,
)
"""Every variable the program sets on the function; the function needs all of them."""
PLAN_VARIABLE = ENV_ROLLBACK_PLAN
"""The variable holding the week's rollback plan (JSON), read back by the pack and the tools."""

# -- tags and labels ------------------------------------------------------------------------------

PURPOSE_TAG = "purpose"
"""AWS tag naming what a resource is for; the pack and the tools find resources by it."""
PURPOSE_ROLLBACK = "rollback"
"""`purpose` of the rollback topic, function and alarms."""
PURPOSE_ROLLBACK_NOTIFY = "rollback-notify"
"""`purpose` of the topic that tells people about a rollback."""
PURPOSE_ALB_LOGS = "alb-access-logs"
PURPOSE_ROLLOUT_LISTENER = "rollout-traffic"
"""`purpose` of the HTTPS listener whose weights split traffic over the tiers; the rollout
policies check only listeners carrying it, so a stack that isn't ours is never misjudged."""
TIER_TAG = "tier"
"""AWS tag (and alert label) naming the tier a resource serves."""

LABEL_TIER = "codex.dev/tier"
LABEL_LICENSE = "codex.dev/license"
"""Kubernetes label with the workload's SPDX licence, read by the licensing policies."""
LABEL_MONITORED_TIER = "codex.dev/monitored-tier"
LABEL_ALERTMANAGER_CONFIG = "codex.dev/alertmanager-config"
ANNOTATION_PAGERDUTY_ROUTE = "codex.dev/pagerduty-route"
"""Annotation on the Alertmanager config Secret that routes critical alerts to PagerDuty."""
ANNOTATION_NEEDS_API_TOKEN = "codex.dev/needs-api-token"

# -- names ----------------------------------------------------------------------------------------

NAME_PREFIX = "codex"
"""First word of every AWS name the program gives (load balancer, target groups, alarms)."""
TARGET_GROUP_NAME_PREFIX = f"{NAME_PREFIX}-"
"""Target groups are named `codex-<tier>-<stack>`; the LB controller's IAM scope uses this."""


def namespace_for(tier: str) -> str:
    """The Kubernetes namespace of a tier."""
    return f"{NAME_PREFIX}-{tier}"


def ssm_prefix(stack: str) -> str:
    """The SSM path holding the stack's rollback parameters (no trailing slash)."""
    return f"/{PROJECT}/{stack}"


def ledger_parameter_name(stack: str) -> str:
    """The ledger parameter's name: `/codex-rollout/<stack>/rollback-ledger`."""
    return f"{ssm_prefix(stack)}/rollback-ledger"


def function_log_group_name(stack: str) -> str:
    """The rollback function's name (and, under /aws/lambda/, its log group)."""
    return f"{ssm_prefix(stack)}/rollback-function"


def lock_key(stack: str) -> str:
    """The audit table key of a stack's lock row (present only while a rollback runs)."""
    return f"lock#{stack}"


def account_from_arn(arn: str) -> str:
    """The account id field of an ARN (`arn:partition:service:region:account:...`)."""
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn":
        raise ValueError(f"{arn!r} is not an ARN")
    return parts[4]


def arn_suffix(arn: str) -> str:
    """`targetgroup/name/id` from a target group ARN (CloudWatch's TargetGroup dimension)."""
    return arn.split(":", 5)[5] if arn.count(":") >= 5 else arn


# -- events ---------------------------------------------------------------------------------------

MANUAL_SOURCE = "codex-rollout.operator"
"""EventBridge `source` of a manual rollback (`rollout rollback`)."""
MANUAL_DETAIL_TYPE = "Manual Rollback"
GUARDDUTY_MIN_SEVERITY = 7
"""GuardDuty findings from this severity (high) trigger a rollback."""

# -- resource types the pack and the tools look for -----------------------------------------------

FUNCTION_TYPE = "aws:lambda/function:Function"
ALARM_TYPE = "aws:cloudwatch/metricAlarm:MetricAlarm"
TARGET_GROUP_TYPE = "aws:lb/targetGroup:TargetGroup"
LISTENER_TYPE = "aws:lb/listener:Listener"
TOPIC_TYPE = "aws:sns/topic:Topic"
STACK_TYPE = "pulumi:pulumi:Stack"


PREVIEW_BLIND = "cannot be verified at preview"
"""How the pack begins an advisory for a check that needed a value unknown at preview; the
policy report shows it as an advisory violation, as the engine does."""
