"""Rollback: the function that moves traffic off a failing tier, its triggers, ledger and audit.

One component per stack. It declares:
- a KMS key (rotating) that encrypts everything below;
- the rollback SNS topic (CloudWatch alarms and Alertmanager publish to it; the function
  subscribes) and the people topic (the function and the alarms notify it);
- the function (python3.12; its archive holds the `function` package and `rollout_rules`, see
  `function_archive`), its least-privilege role, dead-letter queue, log group with retention,
  reserved concurrency and configuration environment;
- the audit table (DynamoDB, point-in-time recovery) and the ledger (SSM parameter, owned by the
  function after creation: the program never overwrites its value);
- per tier with an environment, CloudWatch alarms on the tier's target group: 5xx share, p95
  latency, no healthy target, more than half unhealthy;
- EventBridge rules for GuardDuty findings (severity >= 7) and AWS Config rules turning
  NON_COMPLIANT.
The decisions (allocations, budget) come precomputed in `RollbackArgs.plan`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
from pulumi_aws.cloudwatch import (
    EventTargetDeadLetterConfigArgs,
    EventTargetRetryPolicyArgs,
    MetricAlarmMetricQueryArgs,
    MetricAlarmMetricQueryMetricArgs,
)
from pulumi_aws.dynamodb import (
    TableAttributeArgs,
    TablePointInTimeRecoveryArgs,
    TableServerSideEncryptionArgs,
)
from pulumi_aws.lambda_ import (
    FunctionDeadLetterConfigArgs,
    FunctionEnvironmentArgs,
    FunctionLoggingConfigArgs,
)

import rollout_rules
from rollout_rules.contract import (
    ENV_AUDIT_TABLE,
    ENV_LEDGER_PARAMETER,
    ENV_LISTENER_ARN,
    ENV_NOTIFY_TOPIC_ARN,
    ENV_ROLLBACK_PLAN,
    ENV_STACK,
    ENV_TARGET_GROUPS,
    GUARDDUTY_MIN_SEVERITY,
    PURPOSE_ROLLBACK,
    PURPOSE_ROLLBACK_NOTIFY,
    PURPOSE_TAG,
    TIER_TAG,
    function_log_group_name,
    lock_key,
)
from rollout_rules.ledger import NOT_HELD
from rollout_rules.rollback import RollbackPlan

FUNCTION_DIR = Path(__file__).resolve().parent / "function"
FUNCTION_PACKAGE = "rollback_function"
"""The function package's name at the top of its archive."""
FUNCTION_HANDLER = f"{FUNCTION_PACKAGE}.handler.handler"
"""Lambda's handler setting: `handler` in the package's `handler` module."""
RUNTIME = "python3.12"
# Well inside the 120 s budget (a policy checks timeout <= limit); a normal run takes about a
# second, the rest is room for throttling retries and waiting for another rollback's lock.
FUNCTION_TIMEOUT_SECONDS = 60
FUNCTION_MEMORY_MB = 256
ALB_NAMESPACE = "AWS/ApplicationELB"
DLQ_RETENTION_SECONDS = 14 * 24 * 3600

GUARDDUTY_PATTERN = {
    "source": ["aws.guardduty"],
    "detail-type": ["GuardDuty Finding"],
    "detail": {"severity": [{"numeric": [">=", GUARDDUTY_MIN_SEVERITY]}]},
}
CONFIG_PATTERN = {
    "source": ["aws.config"],
    "detail-type": ["Config Rules Compliance Change"],
    "detail": {
        "messageType": ["ComplianceChangeNotification"],
        "newEvaluationResult": {"complianceType": ["NON_COMPLIANT"]},
    },
}


def function_archive() -> dict[str, Path]:
    """The function's archive: path inside the archive -> source file.

    The function package under FUNCTION_PACKAGE and the `rollout_rules` package beside it, the
    `.py` files only (no `__pycache__`). The function imports the standard library, boto3 and
    botocore (the Lambda runtime provides them) and `rollout_rules`, so this is all it needs;
    shipping `rollout_rules` itself keeps one copy of the rules for the program and the function.
    The component packages exactly this, and the tests build their archive from it.
    """
    packages = {
        FUNCTION_PACKAGE: FUNCTION_DIR,
        "rollout_rules": Path(rollout_rules.__file__).resolve().parent,
    }
    return {
        f"{name}/{source.name}": source
        for name, directory in packages.items()
        for source in sorted(directory.glob("*.py"))
    }


ALARM_RUNBOOKS = {
    "error-rate": "codex-error-rate-high",
    "latency-p95": "codex-latency-p95-high",
    "no-healthy": "codex-tier-down",
    "unhealthy-majority": "codex-tier-down",
}
"""Alarm -> the runbook (docs/runbooks/<name>.md) of the Prometheus alert on the same condition."""


@dataclass(frozen=True)
class RollbackArgs:
    """Inputs of the rollback component.

    Routing provides the listener and target groups (ARNs and the ARN suffixes CloudWatch uses
    as LoadBalancer / TargetGroup dimensions); `target_group_arns` has one entry per tier with
    an environment, and each gets its alarms.
    """

    stack: str
    region: str
    account_id: str
    plan: RollbackPlan
    ledger_parameter_name: str
    listener_arn: pulumi.Input[str]
    load_balancer_arn_suffix: pulumi.Input[str]
    target_group_arns: Mapping[str, pulumi.Input[str]]
    target_group_arn_suffixes: Mapping[str, pulumi.Input[str]]
    tags: Mapping[str, str]
    deletion_protection: bool
    log_retention_days: int
    reserved_concurrency: int
    alarm_period_seconds: int = 60
    alarm_evaluation_periods: int = 1
    error_rate_threshold: float = 0.01
    latency_p95_seconds: float = 0.5
    min_requests_per_period: int = 6
    notify_emails: Sequence[str] = field(default_factory=tuple)
    partition: str = "aws"
    runbook_base_url: str | None = None
    """docs/runbooks/ of this repository: each alarm's description links its runbook."""


class Rollback(pulumi.ComponentResource):
    """Automated rollback of one stack: triggers -> function -> listener, ledger, audit, people."""

    topic_arn: pulumi.Output[str]
    """The rollback topic: CloudWatch alarms and Alertmanager's rollback receiver publish here."""
    notify_topic_arn: pulumi.Output[str]
    """The people topic: rollbacks and alarm state changes are announced here."""
    key_arn: pulumi.Output[str]
    """KMS key encrypting the topics, queue, table and logs (publishers need GenerateDataKey)."""
    function_name: pulumi.Output[str]
    """Name of the rollback function."""
    ledger_parameter_name: pulumi.Output[str]
    """SSM parameter holding the ledger."""
    audit_table_name: pulumi.Output[str]
    """DynamoDB table holding the audit records."""
    budget: dict[str, Any]
    """Worst-case rollback seconds per trigger, and the limit."""
    environment: dict[str, pulumi.Input[str]]
    """The function's environment variables: its whole configuration (no secrets)."""

    def __init__(
        self, name: str, args: RollbackArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("codex:rollback:Rollback", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = {**args.tags, PURPOSE_TAG: PURPOSE_ROLLBACK}

        key = aws.kms.Key(
            f"{name}-key",
            description=f"codex-rollout {args.stack}: rollback topics, queue, audit table, logs",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=json.dumps(_key_policy(args)),
            tags=tags,
            opts=child,
        )
        aws.kms.Alias(
            f"{name}-key-alias",
            name=f"alias/codex-rollout-{args.stack}-rollback",
            target_key_id=key.key_id,
            opts=child,
        )

        topic = aws.sns.Topic(
            f"{name}-topic",
            display_name=f"codex-rollout {args.stack} rollback triggers",
            kms_master_key_id=key.arn,
            tags=tags,
            opts=child,
        )
        people = aws.sns.Topic(
            f"{name}-notify",
            display_name=f"codex-rollout {args.stack} rollbacks",
            kms_master_key_id=key.arn,
            tags={**args.tags, PURPOSE_TAG: PURPOSE_ROLLBACK_NOTIFY},
            opts=child,
        )
        for label, t in (("topic", topic), ("notify", people)):
            aws.sns.TopicPolicy(
                f"{name}-{label}-policy",
                arn=t.arn,
                policy=t.arn.apply(lambda arn: json.dumps(_topic_policy(arn, args))),
                opts=child,
            )
        for index, address in enumerate(args.notify_emails):
            aws.sns.TopicSubscription(
                f"{name}-notify-email-{index}",
                topic=people.arn,
                protocol="email",
                endpoint=address,
                opts=child,
            )

        dlq = aws.sqs.Queue(
            f"{name}-dlq",
            kms_master_key_id=key.arn,
            kms_data_key_reuse_period_seconds=300,
            message_retention_seconds=DLQ_RETENTION_SECONDS,
            tags=tags,
            opts=child,
        )
        table = aws.dynamodb.Table(
            f"{name}-audit",
            attributes=[TableAttributeArgs(name="eventId", type="S")],
            hash_key="eventId",
            billing_mode="PAY_PER_REQUEST",
            server_side_encryption=TableServerSideEncryptionArgs(enabled=True, kms_key_arn=key.arn),
            point_in_time_recovery=TablePointInTimeRecoveryArgs(enabled=True),
            deletion_protection_enabled=args.deletion_protection,
            tags=tags,
            opts=child,
        )
        ledger = aws.ssm.Parameter(
            f"{name}-ledger",
            name=args.ledger_parameter_name,
            type="String",
            value=json.dumps(NOT_HELD),
            description="Rollback ledger: written by the rollback function, read by every preview",
            tags=tags,
            # The function owns the value after creation; a re-apply must not reset a held ledger.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["value"]),
        )
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=function_log_group_name(args.stack),
            retention_in_days=args.log_retention_days,
            kms_key_id=key.arn,
            tags=tags,
            opts=child,
        )

        role = aws.iam.Role(
            f"{name}-role",
            description="Rollback function: moves listener weights, writes ledger and audit",
            assume_role_policy=json.dumps(_assume_role_policy(args)),
            tags=tags,
            opts=child,
        )
        policy = aws.iam.RolePolicy(
            f"{name}-role-policy",
            role=role.id,
            policy=pulumi.Output.json_dumps(
                _function_policy(
                    stack=args.stack,
                    listener_arn=args.listener_arn,
                    ledger_arn=ledger.arn,
                    table_arn=table.arn,
                    notify_arn=people.arn,
                    dlq_arn=dlq.arn,
                    key_arn=key.arn,
                    log_group_arn=log_group.arn,
                )
            ),
            opts=child,
        )

        # The function's whole configuration; exported too, so the operator commands
        # (`rollout rollback --stack S`) run with exactly what the function runs with.
        variables: dict[str, pulumi.Input[str]] = {
            ENV_STACK: args.stack,
            ENV_LISTENER_ARN: args.listener_arn,
            ENV_TARGET_GROUPS: pulumi.Output.json_dumps(dict(args.target_group_arns)),
            ENV_ROLLBACK_PLAN: args.plan.to_json(),
            ENV_LEDGER_PARAMETER: ledger.name,
            ENV_AUDIT_TABLE: table.name,
            ENV_NOTIFY_TOPIC_ARN: people.arn,
        }
        function = aws.lambda_.Function(
            f"{name}-function",
            name=f"codex-rollout-{args.stack}-rollback",
            description="Moves traffic off a failing tier in one listener update",
            runtime=RUNTIME,
            handler=FUNCTION_HANDLER,
            code=pulumi.AssetArchive(
                {path: pulumi.FileAsset(str(source)) for path, source in function_archive().items()}
            ),
            role=role.arn,
            timeout=FUNCTION_TIMEOUT_SECONDS,
            memory_size=FUNCTION_MEMORY_MB,
            reserved_concurrent_executions=args.reserved_concurrency,
            dead_letter_config=FunctionDeadLetterConfigArgs(target_arn=dlq.arn),
            kms_key_arn=key.arn,
            logging_config=FunctionLoggingConfigArgs(log_format="JSON", log_group=log_group.name),
            environment=FunctionEnvironmentArgs(variables=variables),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy, log_group]),
        )

        aws.sns.TopicSubscription(
            f"{name}-subscription",
            topic=topic.arn,
            protocol="lambda",
            endpoint=function.arn,
            opts=child,
        )
        aws.lambda_.Permission(
            f"{name}-allow-sns",
            action="lambda:InvokeFunction",
            function=function.name,
            principal="sns.amazonaws.com",
            source_arn=topic.arn,
            opts=child,
        )

        rules = {
            "guardduty": (GUARDDUTY_PATTERN, "GuardDuty findings of severity >= 7"),
            "config": (CONFIG_PATTERN, "AWS Config rules turning NON_COMPLIANT"),
        }
        rule_arns = []
        for role_name, (pattern, what) in rules.items():
            rule = aws.cloudwatch.EventRule(
                f"{name}-{role_name}",
                description=f"Rollback trigger: {what}",
                event_pattern=json.dumps(pattern),
                tags=tags,
                opts=child,
            )
            rule_arns.append(rule.arn)
            aws.cloudwatch.EventTarget(
                f"{name}-{role_name}-target",
                rule=rule.name,
                arn=function.arn,
                retry_policy=EventTargetRetryPolicyArgs(
                    maximum_event_age_in_seconds=3600, maximum_retry_attempts=10
                ),
                dead_letter_config=EventTargetDeadLetterConfigArgs(arn=dlq.arn),
                opts=child,
            )
            aws.lambda_.Permission(
                f"{name}-allow-{role_name}",
                action="lambda:InvokeFunction",
                function=function.name,
                principal="events.amazonaws.com",
                source_arn=rule.arn,
                opts=child,
            )
        aws.sqs.QueuePolicy(
            f"{name}-dlq-policy",
            queue_url=dlq.url,
            policy=pulumi.Output.json_dumps(_dlq_policy(dlq.arn, rule_arns)),
            opts=child,
        )

        actions = [topic.arn, people.arn]
        for tier in args.target_group_arn_suffixes:
            _tier_alarms(name, tier, args, actions, people.arn, child)

        self.topic_arn = topic.arn
        self.notify_topic_arn = people.arn
        self.key_arn = key.arn
        self.function_name = function.name
        self.ledger_parameter_name = ledger.name
        self.audit_table_name = table.name
        self.budget = args.plan.budget.as_dict()
        self.environment = variables
        self.register_outputs(
            {
                "topicArn": self.topic_arn,
                "notifyTopicArn": self.notify_topic_arn,
                "keyArn": self.key_arn,
                "functionName": self.function_name,
                "ledgerParameterName": self.ledger_parameter_name,
                "auditTableName": self.audit_table_name,
                "budget": self.budget,
                "environment": self.environment,
            }
        )


# ---------------------------------------------------------------------------------------------
# alarms


def _tier_alarms(
    name: str,
    tier: str,
    args: RollbackArgs,
    actions: list[pulumi.Output[str]],
    notify_arn: pulumi.Output[str],
    child: pulumi.ResourceOptions,
) -> None:
    """The four rollback alarms of one tier, on its target group behind the ALB."""
    dims: dict[str, pulumi.Input[str]] = {
        "LoadBalancer": args.load_balancer_arn_suffix,
        "TargetGroup": args.target_group_arn_suffixes[tier],
    }
    period = args.alarm_period_seconds
    common: dict[str, Any] = {
        "evaluation_periods": args.alarm_evaluation_periods,
        "datapoints_to_alarm": args.alarm_evaluation_periods,
        # No traffic, no data: a tier without requests is not failing.
        "treat_missing_data": "notBreaching",
        "alarm_actions": actions,
        "ok_actions": [notify_arn],
        "actions_enabled": True,
        "tags": {**args.tags, PURPOSE_TAG: PURPOSE_ROLLBACK, TIER_TAG: tier},
        "opts": child,
    }

    def metric(metric_id: str, metric_name: str, stat: str) -> MetricAlarmMetricQueryArgs:
        return MetricAlarmMetricQueryArgs(
            id=metric_id,
            return_data=False,
            metric=MetricAlarmMetricQueryMetricArgs(
                namespace=ALB_NAMESPACE,
                metric_name=metric_name,
                dimensions=dims,
                period=period,
                stat=stat,
            ),
        )

    prefix = f"codex-rollout-{args.stack}-{tier}"

    def runbook(alarm: str) -> str:
        """ " Runbook: <url>" for the alert of the same condition, or nothing."""
        if args.runbook_base_url is None:
            return ""
        return f" Runbook: {args.runbook_base_url}/{ALARM_RUNBOOKS[alarm]}.md"

    aws.cloudwatch.MetricAlarm(
        f"{name}-{tier}-error-rate",
        name=f"{prefix}-error-rate",
        alarm_description=(
            f"Rollback trigger: 5xx share of {tier} requests above "
            f"{args.error_rate_threshold:.0%} (with at least {args.min_requests_per_period} "
            f"requests per period)" + runbook("error-rate")
        ),
        comparison_operator="GreaterThanThreshold",
        threshold=args.error_rate_threshold,
        metric_queries=[
            metric("requests", "RequestCount", "Sum"),
            metric("errors", "HTTPCode_Target_5XX_Count", "Sum"),
            MetricAlarmMetricQueryArgs(
                id="rate",
                label="5xx share",
                return_data=True,
                # The minimum-request guard: below it the share is 0 (a handful of requests is
                # no evidence either way).
                expression=(
                    f"IF(FILL(requests, 0) >= {args.min_requests_per_period}, "
                    f"FILL(errors, 0) / requests, 0)"
                ),
            ),
        ],
        **common,
    )
    aws.cloudwatch.MetricAlarm(
        f"{name}-{tier}-latency-p95",
        name=f"{prefix}-latency-p95",
        alarm_description=f"Rollback trigger: p95 response time of {tier} targets above "
        f"{args.latency_p95_seconds:g} s" + runbook("latency-p95"),
        namespace=ALB_NAMESPACE,
        metric_name="TargetResponseTime",
        dimensions=dims,
        extended_statistic="p95",
        period=period,
        comparison_operator="GreaterThanThreshold",
        threshold=args.latency_p95_seconds,
        **common,
    )
    aws.cloudwatch.MetricAlarm(
        f"{name}-{tier}-no-healthy",
        name=f"{prefix}-no-healthy",
        alarm_description=f"Rollback trigger: {tier} has no healthy target (health checks: "
        f"3 consecutive failures mark a target unhealthy)" + runbook("no-healthy"),
        namespace=ALB_NAMESPACE,
        metric_name="HealthyHostCount",
        dimensions=dims,
        statistic="Minimum",
        period=period,
        comparison_operator="LessThanThreshold",
        threshold=1,
        **common,
    )
    aws.cloudwatch.MetricAlarm(
        f"{name}-{tier}-unhealthy",
        name=f"{prefix}-unhealthy-majority",
        alarm_description=f"Rollback trigger: more than half of the {tier} targets unhealthy"
        + runbook("unhealthy-majority"),
        comparison_operator="GreaterThanThreshold",
        threshold=0.5,
        metric_queries=[
            metric("healthy", "HealthyHostCount", "Minimum"),
            metric("unhealthy", "UnHealthyHostCount", "Maximum"),
            MetricAlarmMetricQueryArgs(
                id="share",
                label="unhealthy share",
                return_data=True,
                expression="FILL(unhealthy, 0) / (FILL(healthy, 0) + FILL(unhealthy, 0))",
            ),
        ],
        **common,
    )


# ---------------------------------------------------------------------------------------------
# policy documents


def _key_policy(args: RollbackArgs) -> dict[str, Any]:
    account = f"arn:{args.partition}:iam::{args.account_id}:root"
    same_account = {"StringEquals": {"aws:SourceAccount": args.account_id}}
    use = ["kms:Decrypt", "kms:GenerateDataKey*"]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                # The key policy AWS creates by default: IAM policies in the account decide.
                "Sid": "AccountAdministersThroughIam",
                "Effect": "Allow",
                "Principal": {"AWS": account},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "AlarmsPublishToEncryptedTopics",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": use,
                "Resource": "*",
                "Condition": same_account,
            },
            {
                "Sid": "EventBridgeDeadLetters",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": use,
                "Resource": "*",
                "Condition": same_account,
            },
            {
                "Sid": "FunctionLogs",
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{args.region}.amazonaws.com"},
                "Action": [
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                "Resource": "*",
                "Condition": {
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": (
                            f"arn:{args.partition}:logs:{args.region}:{args.account_id}"
                            f":log-group:/codex-rollout/{args.stack}/*"
                        )
                    }
                },
            },
        ],
    }


def _topic_policy(topic_arn: str, args: RollbackArgs) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AlarmsOfThisAccountPublish",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": args.account_id},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{args.partition}:cloudwatch:{args.region}:"
                        f"{args.account_id}:alarm:codex-rollout-{args.stack}-*"
                    },
                },
            }
        ],
    }


def _assume_role_policy(args: RollbackArgs) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": args.account_id}},
            }
        ],
    }


def _function_policy(
    *,
    stack: str,
    listener_arn: pulumi.Input[str],
    ledger_arn: pulumi.Input[str],
    table_arn: pulumi.Input[str],
    notify_arn: pulumi.Input[str],
    dlq_arn: pulumi.Input[str],
    key_arn: pulumi.Input[str],
    log_group_arn: pulumi.Output[str],
) -> dict[str, Any]:
    """Exactly what the function calls (its `store` module), each on its one resource."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "MoveTraffic",
                "Effect": "Allow",
                "Action": "elasticloadbalancing:ModifyListener",
                "Resource": listener_arn,
            },
            {
                # ELB's Describe* actions support no resource-level permissions: IAM only
                # accepts Resource "*" for them (a read of listener configuration).
                "Sid": "ReadListenerWeights",
                "Effect": "Allow",
                "Action": "elasticloadbalancing:DescribeListeners",
                "Resource": "*",
            },
            {
                "Sid": "Ledger",
                "Effect": "Allow",
                "Action": ["ssm:GetParameter", "ssm:PutParameter"],
                "Resource": ledger_arn,
            },
            {
                "Sid": "AuditAndLock",
                "Effect": "Allow",
                "Action": ["dynamodb:GetItem", "dynamodb:PutItem"],
                "Resource": table_arn,
            },
            {
                # Releasing the stack's lock deletes its row; audit records are never deleted,
                # so DeleteItem is limited to the lock's key.
                "Sid": "ReleaseLock",
                "Effect": "Allow",
                "Action": "dynamodb:DeleteItem",
                "Resource": table_arn,
                "Condition": {
                    "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [lock_key(stack)]}
                },
            },
            {
                "Sid": "NotifyPeople",
                "Effect": "Allow",
                "Action": "sns:Publish",
                "Resource": notify_arn,
            },
            {
                "Sid": "DeadLetters",
                "Effect": "Allow",
                "Action": "sqs:SendMessage",
                "Resource": dlq_arn,
            },
            {
                "Sid": "UseTheKey",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                "Resource": key_arn,
            },
            {
                "Sid": "WriteOwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [log_group_arn, log_group_arn.apply(lambda arn: f"{arn}:*")],
            },
        ],
    }


def _dlq_policy(dlq_arn: pulumi.Output[str], rule_arns: list[pulumi.Output[str]]) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "RuleDeadLetters",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": dlq_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arns}},
            }
        ],
    }
