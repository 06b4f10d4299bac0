"""The rollback path's AWS resources in a moto server, as the program declares them.

Names come from the offline plan of the stack and week (target groups, ledger parameter, audit
table, topics); ARNs are moto's. The listener starts at the week's weights. The rollback topic
gets an SQS subscription: moto cannot run the function, so the drill reads what reaches the
topic from the queue and hands it to the function's handler in the event shape Lambda passes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import boto3  # type: ignore[import-untyped]
from boto3.dynamodb.types import TypeDeserializer  # type: ignore[import-untyped]

from rollout_cli.offline import PlanResult
from rollout_rules.contract import (
    ENV_AUDIT_TABLE,
    ENV_LEDGER_PARAMETER,
    ENV_LISTENER_ARN,
    ENV_NOTIFY_TOPIC_ARN,
    ENV_ROLLBACK_PLAN,
    ENV_STACK,
    ENV_TARGET_GROUPS,
    FUNCTION_TYPE,
    PURPOSE_ROLLBACK,
    PURPOSE_ROLLBACK_NOTIFY,
    PURPOSE_TAG,
    TARGET_GROUP_TYPE,
    TIER_TAG,
    TOPIC_TYPE,
)
from rollout_rules.ledger import NOT_HELD
from rollout_rules.plan import week_plan

from .configs import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY

QUEUE_NAME = "drill-rollback-delivery"


def client(endpoint: str, region: str, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=LOCAL_ACCESS_KEY,
        aws_secret_access_key=LOCAL_SECRET_KEY,
    )


@dataclass
class DrillAws:
    """The resources in moto and the function's environment pointing at them."""

    endpoint: str
    region: str
    env: dict[str, str]
    listener_arn: str
    target_groups: dict[str, str]
    rollback_topic_arn: str
    queue_url: str
    clients: Callable[[str], Any] = field(repr=False)

    def weights(self) -> dict[str, int]:
        listener = self.clients("elbv2").describe_listeners(ListenerArns=[self.listener_arn])
        by_arn = {arn: tier for tier, arn in self.target_groups.items()}
        groups = listener["Listeners"][0]["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]
        return {by_arn[g["TargetGroupArn"]]: int(g["Weight"]) for g in groups}

    def ledger(self) -> dict[str, Any]:
        value = self.clients("ssm").get_parameter(Name=self.env[ENV_LEDGER_PARAMETER])
        return dict(json.loads(value["Parameter"]["Value"]))

    def audit_items(self) -> list[dict[str, Any]]:
        """Every item of the audit table (a full Scan), as plain JSON values."""
        dynamodb = self.clients("dynamodb")
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": self.env[ENV_AUDIT_TABLE], "ConsistentRead": True}
        while True:
            page = dynamodb.scan(**kwargs)
            items.extend(_plain(TypeDeserializer().deserialize({"M": i})) for i in page["Items"])
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def receive(self, wait_seconds: int = 1) -> list[dict[str, Any]]:
        """SNS notifications that reached the rollback topic (deleted from the queue)."""
        sqs = self.clients("sqs")
        got = sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds
        )
        out = []
        for message in got.get("Messages", []):
            out.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_plain(v) for v in value]
    return value


def lambda_sns_event(notification: Mapping[str, Any], subscription_arn: str) -> dict[str, Any]:
    """An SNS notification (the JSON an SQS subscription receives) as the Lambda event."""
    sns = {
        "Type": notification.get("Type", "Notification"),
        "MessageId": notification["MessageId"],
        "TopicArn": notification["TopicArn"],
        "Subject": notification.get("Subject"),
        "Message": notification["Message"],
        "Timestamp": notification["Timestamp"],
        "SignatureVersion": notification.get("SignatureVersion", "1"),
        "Signature": notification.get("Signature", ""),
        "SigningCertUrl": notification.get("SigningCertURL", ""),
        "UnsubscribeUrl": notification.get("UnsubscribeURL", ""),
        "MessageAttributes": notification.get("MessageAttributes", {}),
    }
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription_arn,
                "Sns": sns,
            }
        ]
    }


def _tagged(plan: PlanResult, kind: str, key: str, value: str) -> list[Any]:
    return [r for r in plan.by_type(kind) if (r.inputs.get("tags") or {}).get(key) == value]


def _name(record: Any, fallback: str) -> str:
    name = (record.outputs or {}).get("name") or record.inputs.get("name")
    return name if isinstance(name, str) and name else fallback


def function_variables(plan: PlanResult) -> dict[str, str]:
    """The rollback function's environment variables as the plan declares them."""
    functions = _tagged(plan, FUNCTION_TYPE, PURPOSE_TAG, PURPOSE_ROLLBACK)
    if not functions:
        raise ValueError(f"stack {plan.stack} week {plan.week} declares no rollback function")
    variables = (functions[0].inputs.get("environment") or {}).get("variables") or {}
    return {k: v for k, v in variables.items() if isinstance(v, str)}


def create(plan: PlanResult, endpoint: str) -> DrillAws:
    """Create the rollback path's resources of `plan` in the moto server at `endpoint`."""
    region = plan.config.region

    def clients(service: str) -> Any:
        return client(endpoint, region, service)

    declared = function_variables(plan)
    ec2, elbv2, ssm = clients("ec2"), clients("elbv2"), clients("ssm")
    dynamodb, sns, sqs = clients("dynamodb"), clients("sns"), clients("sqs")

    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=zone)["Subnet"][
            "SubnetId"
        ]
        for i, zone in enumerate((f"{region}a", f"{region}b"))
    ]
    lb = elbv2.create_load_balancer(
        Name=f"codex-{plan.stack}"[:32], Subnets=subnets, Type="application"
    )["LoadBalancers"][0]["LoadBalancerArn"]
    groups: dict[str, str] = {}
    for record in plan.by_type(TARGET_GROUP_TYPE):
        tier = (record.inputs.get("tags") or {}).get(TIER_TAG)
        if not isinstance(tier, str):
            continue
        groups[tier] = elbv2.create_target_group(
            Name=_name(record, f"codex-{tier}")[:32],
            Protocol=record.inputs.get("protocol", "HTTP"),
            Port=int(record.inputs.get("port", 8080)),
            VpcId=vpc,
            TargetType=record.inputs.get("targetType", "ip"),
        )["TargetGroups"][0]["TargetGroupArn"]
    weights = week_plan(plan.week, plan.config.schedule()).allocation.as_dict()
    listener = elbv2.create_listener(
        LoadBalancerArn=lb,
        Protocol="HTTP",
        Port=443,
        DefaultActions=[
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [
                        {"TargetGroupArn": arn, "Weight": weights.get(tier, 0)}
                        for tier, arn in groups.items()
                    ],
                    "TargetGroupStickinessConfig": {"Enabled": False},
                },
            }
        ],
    )["Listeners"][0]["ListenerArn"]

    ledger = declared.get(ENV_LEDGER_PARAMETER) or f"/codex-rollout/{plan.stack}/rollback-ledger"
    ssm.put_parameter(Name=ledger, Value=json.dumps(NOT_HELD), Type="String")
    audit = declared.get(ENV_AUDIT_TABLE) or f"codex-rollout-{plan.stack}-rollback-audit"
    dynamodb.create_table(
        TableName=audit,
        KeySchema=[{"AttributeName": "eventId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "eventId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    topics = {}
    for purpose in (PURPOSE_ROLLBACK, PURPOSE_ROLLBACK_NOTIFY):
        records = _tagged(plan, TOPIC_TYPE, PURPOSE_TAG, purpose)
        name = _name(records[0], f"codex-{purpose}") if records else f"codex-{purpose}"
        topics[purpose] = sns.create_topic(Name=name)["TopicArn"]
    queue = sqs.create_queue(QueueName=QUEUE_NAME)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topics[PURPOSE_ROLLBACK], Protocol="sqs", Endpoint=queue_arn)

    env = {
        ENV_STACK: declared.get(ENV_STACK, plan.stack),
        ENV_LISTENER_ARN: listener,
        ENV_TARGET_GROUPS: json.dumps(groups),
        ENV_ROLLBACK_PLAN: declared[ENV_ROLLBACK_PLAN],
        ENV_LEDGER_PARAMETER: ledger,
        ENV_AUDIT_TABLE: audit,
        ENV_NOTIFY_TOPIC_ARN: topics[PURPOSE_ROLLBACK_NOTIFY],
    }
    return DrillAws(
        endpoint, region, env, listener, groups, topics[PURPOSE_ROLLBACK], queue, clients
    )
