"""A stack's rollback surface under moto: ALB listener with weighted target groups, the ledger
parameter, the audit table and the people topic (delivered to an SQS inbox to read back), plus
builders for the events each trigger sends and a way to make AWS answer with an error once.

The same surface can be built in a moto server (`moto_endpoint`) for code that runs in another
process, and `function_venv` is a clean virtualenv with only the boto3 the Lambda runtime has.
"""

from __future__ import annotations

import functools
import io
import json
import re
import subprocess
import sys
import threading
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws
from moto.core.models import botocore_stubber
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table

from components.rollback.alertmanager import MESSAGE_TEMPLATE
from components.rollback.function import handler, logs
from components.rollback.function.settings import Settings
from rollout_cli.drill.processes import moto_server
from rollout_cli.stackfile import REPO_ROOT
from rollout_rules.contract import (
    ENV_AUDIT_TABLE,
    ENV_LEDGER_PARAMETER,
    ENV_LISTENER_ARN,
    ENV_NOTIFY_TOPIC_ARN,
    ENV_ROLLBACK_PLAN,
    ENV_STACK,
    ENV_TARGET_GROUPS,
    arn_suffix,
)
from rollout_rules.ledger import NOT_HELD
from rollout_rules.plan import tiers_with_environment, week_plan
from rollout_rules.rollback import rollback_plan

MakeStack = Callable[..., "RollbackStack"]
WEEK_8_CANARY_FAILS = {"sandbox": 11, "canary": 0, "production": 89}
"""Week 8 (10/10/80) with canary failing: its share spread over the others."""
WEEK_8_NO_TIER = {"sandbox": 20, "canary": 80, "production": 0}
"""Week 8's allocation for a trigger that names no tier: week 7's."""
REGION = "eu-west-1"
STACK = "test"
LEDGER = f"/codex-rollout/{STACK}/rollback-ledger"
AUDIT_TABLE = "rollback-audit-test"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        # moto's EC2 backend otherwise builds its ~1,300 public AMIs for every account and
        # region it starts; nothing here launches an instance.
        "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    # Real DynamoDB applies a conditional put or delete atomically; moto's in-memory table checks
    # and writes in separate steps, so concurrent threads could both pass. Make them atomic, as
    # the service is (the lock the function takes and releases relies on exactly this).
    atomic = threading.RLock()
    put_item = Table.put_item
    delete_item = DynamoDBBackend.delete_item

    def atomic_put_item(self: Table, *args: Any, **kwargs: Any) -> Any:
        with atomic:
            return put_item(self, *args, **kwargs)

    def atomic_delete_item(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        with atomic:
            return delete_item(self, *args, **kwargs)

    monkeypatch.setattr(Table, "put_item", atomic_put_item)
    monkeypatch.setattr(DynamoDBBackend, "delete_item", atomic_delete_item)
    monkeypatch.setattr(handler, "_CLIENTS", None)
    monkeypatch.setattr(logs, "LOG_STREAM", None)  # the operator commands point it at stderr
    with mock_aws():
        # mock_aws resets boto3's default session; one shared session keeps botocore's parsed
        # service models (its loader's cache) from one test to the next.
        boto3.DEFAULT_SESSION = _shared_session()
        yield


@functools.cache
def _shared_session() -> boto3.session.Session:
    return boto3.session.Session()


@dataclass
class RollbackStack:
    """One stack's listener, ledger, audit table and people topic under moto."""

    week: int
    env: dict[str, str]
    listener_arn: str
    target_groups: dict[str, str]
    inbox_url: str
    elbv2: Any = field(repr=False)
    ssm: Any = field(repr=False)
    dynamodb: Any = field(repr=False)
    sqs: Any = field(repr=False)

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.env)

    def weights(self) -> dict[str, int]:
        listener = self.elbv2.describe_listeners(ListenerArns=[self.listener_arn])["Listeners"][0]
        by_arn = {arn: tier for tier, arn in self.target_groups.items()}
        groups = listener["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]
        return {by_arn[g["TargetGroupArn"]]: g["Weight"] for g in groups}

    def ledger(self) -> dict[str, Any]:
        value = self.ssm.get_parameter(Name=LEDGER)["Parameter"]["Value"]
        return dict(json.loads(value))

    def audit_records(self) -> list[dict[str, Any]]:
        """The audit records (a lock row, present only while a rollback runs, left out)."""
        return [i for i in self.scan() if i["recordType"]["S"] != "lock"]

    def scan(self) -> list[dict[str, Any]]:
        """Every item in the audit table, as an operator's full Scan sees it."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": AUDIT_TABLE, "ConsistentRead": True}
        while True:
            page = self.dynamodb.scan(**kwargs)
            items.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def notifications(self) -> list[str]:
        messages = []
        while True:
            got = self.sqs.receive_message(QueueUrl=self.inbox_url, MaxNumberOfMessages=10)
            if not got.get("Messages"):
                return messages
            for message in got["Messages"]:
                messages.append(json.loads(message["Body"])["Message"])
                self.sqs.delete_message(
                    QueueUrl=self.inbox_url, ReceiptHandle=message["ReceiptHandle"]
                )

    def suffix(self, tier: str) -> str:
        return arn_suffix(self.target_groups[tier])

    def invoke(self, event: Any) -> dict[str, Any]:
        """The Lambda entry point, with this stack's configuration in the environment."""
        return handler.handler(event, LambdaContext())


class LambdaContext:
    aws_request_id = "req-0001"


def build_stack(
    client: Callable[[str], Any], week: int = 8, weights: dict[str, int] | None = None
) -> RollbackStack:
    """Create the stack's surface at `week` (default weights: that week's schedule) through
    `client(service)`, as the component and the routing component declare it."""
    ec2, elbv2, ssm = client("ec2"), client("elbv2"), client("ssm")
    dynamodb, sns, sqs = client("dynamodb"), client("sns"), client("sqs")

    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=zone)["Subnet"][
            "SubnetId"
        ]
        for i, zone in enumerate((f"{REGION}a", f"{REGION}b"))
    ]
    lb = elbv2.create_load_balancer(Name="codex-test", Subnets=subnets, Type="application")[
        "LoadBalancers"
    ][0]["LoadBalancerArn"]
    tiers = tiers_with_environment(week)
    groups = {
        tier: elbv2.create_target_group(
            Name=f"codex-{tier}-test",
            Protocol="HTTP",
            Port=8080,
            VpcId=vpc,
            TargetType="ip",
        )["TargetGroups"][0]["TargetGroupArn"]
        for tier in tiers
    }
    start = weights or week_plan(week).allocation.as_dict()
    listener = elbv2.create_listener(
        LoadBalancerArn=lb,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [
                        {"TargetGroupArn": arn, "Weight": start[tier]}
                        for tier, arn in groups.items()
                    ],
                    "TargetGroupStickinessConfig": {"Enabled": False},
                },
            }
        ],
    )["Listeners"][0]["ListenerArn"]
    # The value the component creates the parameter with.
    ssm.put_parameter(Name=LEDGER, Value=json.dumps(NOT_HELD), Type="String")
    dynamodb.create_table(
        TableName=AUDIT_TABLE,
        KeySchema=[{"AttributeName": "eventId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "eventId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    topic = sns.create_topic(Name="people")["TopicArn"]
    inbox = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
    env = {
        ENV_STACK: STACK,
        ENV_LISTENER_ARN: listener,
        ENV_TARGET_GROUPS: json.dumps(groups),
        ENV_ROLLBACK_PLAN: rollback_plan(week, tiers).to_json(),
        ENV_LEDGER_PARAMETER: LEDGER,
        ENV_AUDIT_TABLE: AUDIT_TABLE,
        ENV_NOTIFY_TOPIC_ARN: topic,
    }
    return RollbackStack(week, env, listener, groups, inbox, elbv2, ssm, dynamodb, sqs)


def mock_client(service: str) -> Any:
    """A client of `service` under moto's in-process mock (the `aws` fixture)."""
    return boto3.client(service, region_name=REGION)


@pytest.fixture
def make_stack(aws: None, monkeypatch: pytest.MonkeyPatch) -> MakeStack:
    """`make_stack(week=8, weights=None)`: the stack under moto, its configuration in the
    environment as the function gets it."""

    def make(week: int = 8, weights: dict[str, int] | None = None) -> RollbackStack:
        stack = build_stack(mock_client, week, weights)
        for name, value in stack.env.items():
            monkeypatch.setenv(name, value)
        return stack

    return make


# -- events as the triggers send them -------------------------------------------------------------


def sns_event(message: dict[str, Any] | str, message_id: str = "msg-1") -> dict[str, Any]:
    """The Lambda event of one SNS delivery."""
    body = message if isinstance(message, str) else json.dumps(message)
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"arn:aws:sns:{REGION}:123456789012:rollback:sub",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": message_id,
                    "TopicArn": f"arn:aws:sns:{REGION}:123456789012:rollback",
                    "Subject": "ALARM",
                    "Message": body,
                    "Timestamp": "2026-11-26T10:00:05.000Z",
                    "MessageAttributes": {},
                },
            }
        ]
    }


def alarm_message(
    name: str,
    target_group_suffix: str,
    state: str = "ALARM",
    metric_math: bool = False,
    changed: str = "2026-11-26T10:00:00.000+0000",
) -> dict[str, Any]:
    """A CloudWatch alarm state change as SNS delivers it (single metric or metric math)."""
    dimensions = [
        {"value": "app/codex-test/50dc6c495c0c9188", "name": "LoadBalancer"},
        {"value": target_group_suffix, "name": "TargetGroup"},
    ]
    trigger: dict[str, Any] = {
        "Period": 60,
        "EvaluationPeriods": 1,
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 0.5,
        "TreatMissingData": "notBreaching",
        "EvaluateLowSampleCountPercentile": "",
    }
    if metric_math:
        trigger["Metrics"] = [
            {
                "Id": metric_id,
                "MetricStat": {
                    "Metric": {
                        "Dimensions": dimensions,
                        "MetricName": metric_name,
                        "Namespace": "AWS/ApplicationELB",
                    },
                    "Period": 60,
                    "Stat": "Sum",
                },
                "ReturnData": False,
            }
            for metric_id, metric_name in (
                ("requests", "RequestCount"),
                ("errors", "HTTPCode_Target_5XX_Count"),
            )
        ] + [
            {
                "Expression": "IF(FILL(requests, 0) >= 6, FILL(errors, 0) / requests, 0)",
                "Id": "rate",
                "Label": "5xx share",
                "ReturnData": True,
            }
        ]
    else:
        trigger.update(
            MetricName="TargetResponseTime",
            Namespace="AWS/ApplicationELB",
            StatisticType="ExtendedStatistic",
            ExtendedStatistic="p95",
            Unit=None,
            Dimensions=dimensions,
        )
    return {
        "AlarmName": name,
        "AlarmDescription": "Rollback trigger",
        "AWSAccountId": "123456789012",
        "AlarmConfigurationUpdatedTimestamp": "2026-11-26T09:00:00.000+0000",
        "NewStateValue": state,
        "NewStateReason": "Threshold Crossed: 1 out of the last 1 datapoints was greater...",
        "StateChangeTime": changed,
        "Region": "EU (Ireland)",
        "AlarmArn": f"arn:aws:cloudwatch:{REGION}:123456789012:alarm:{name}",
        "OldStateValue": "OK" if state == "ALARM" else "ALARM",
        "OKActions": [],
        "AlarmActions": [],
        "InsufficientDataActions": [],
        "Trigger": trigger,
    }


def rendered_alertmanager_message(amtool: str, alerts: list[dict[str, Any]], work: Path) -> str:
    """The SNS message Alertmanager sends for `alerts`, rendered by the real amtool from the
    rollback receiver's template (Go text/template, Alertmanager's template functions)."""
    data = {
        "receiver": "rollback",
        "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
        "alerts": [
            {
                "annotations": {"summary": "rollback trigger"},
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph",
                **alert,
            }
            for alert in alerts
        ],
        "groupLabels": {k: alerts[0]["labels"][k] for k in ("alertname", "tier")},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
    }
    path = work / "alertmanager-data.json"
    path.write_text(json.dumps(data))
    result = subprocess.run(
        [
            amtool,
            "template",
            "render",
            "--template.glob=/dev/null",
            f"--template.text={MESSAGE_TEMPLATE}",
            f"--template.data={path}",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return result.stdout.strip()


@pytest.fixture
def render_alertmanager(amtool: str, tmp_path: Path) -> Callable[[list[dict[str, Any]]], str]:
    """`render_alertmanager(alerts)`: the SNS message Alertmanager sends for `alerts`."""
    return lambda alerts: rendered_alertmanager_message(amtool, alerts, tmp_path)


def alert(
    tier: str,
    status: str = "firing",
    fingerprint: str = "3f2a9c0d1b7e4a55",
    name: str = "CodexErrorRateHigh",
    action: str = "rollback",
) -> dict[str, Any]:
    return {
        "status": status,
        "fingerprint": fingerprint,
        "startsAt": "2026-11-26T10:00:00Z",
        "labels": {
            "alertname": name,
            "service": "codegen-api",
            "severity": "high",
            "tier": tier,
            "action": action,
        },
    }


def guardduty_event(severity: float = 8.0, finding: str = "finding-1") -> dict[str, Any]:
    return {
        "version": "0",
        "id": f"event-{finding}-{severity}",
        "detail-type": "GuardDuty Finding",
        "source": "aws.guardduty",
        "account": "123456789012",
        "time": "2026-11-26T10:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": {
            "schemaVersion": "2.0",
            "accountId": "123456789012",
            "region": REGION,
            "id": finding,
            "type": "Execution:Kubernetes/ExecInKubeSystemPod",
            "severity": severity,
            "title": "Command executed inside a pod in kube-system namespace.",
        },
    }


def config_event(compliance: str = "NON_COMPLIANT", event_id: str = "cfg-1") -> dict[str, Any]:
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "Config Rules Compliance Change",
        "source": "aws.config",
        "account": "123456789012",
        "time": "2026-11-26T10:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": {
            "resourceId": "codex-rollout-audit",
            "awsRegion": REGION,
            "awsAccountId": "123456789012",
            "configRuleName": "dynamodb-pitr-enabled",
            "messageType": "ComplianceChangeNotification",
            "resourceType": "AWS::DynamoDB::Table",
            "newEvaluationResult": {"complianceType": compliance},
            "oldEvaluationResult": {"complianceType": "COMPLIANT"},
        },
    }


# -- making AWS answer with an error ---------------------------------------------------------------


class _Raw(io.BytesIO):
    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.getvalue()


@dataclass
class Injected:
    """Counts the matching requests and answers the first `times` of them with an error."""

    times: int
    calls: int = 0


def inject_error(
    client: Any,
    operation: str,
    *,
    code: str,
    status: int = 400,
    times: int = 1,
    json_protocol: bool = False,
) -> Injected:
    """Make `client` receive an AWS error for `operation`, at the HTTP layer.

    botocore sends each attempt through its `before-send` event, where moto answers as the
    service. This puts itself in moto's place on `client`: matching requests get the error
    without reaching moto (as a throttled request never reaches the real service), everything
    else goes to moto. The error then takes botocore's real parsing and retry path.
    """
    assert not getattr(client, "_injected", False), "one injected operation per client"
    client._injected = True
    state = Injected(times)
    client.meta.events.unregister("before-send", botocore_stubber)

    def before_send(request: Any, **kwargs: Any) -> AWSResponse | None:
        body = request.body or b""
        body = body if isinstance(body, bytes) else body.encode()
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else target
        if f"Action={operation}".encode() not in body and not target.endswith(f".{operation}"):
            return botocore_stubber(request=request, **kwargs)
        state.calls += 1
        if state.calls > state.times:
            return botocore_stubber(request=request, **kwargs)
        if json_protocol:
            payload = json.dumps({"__type": code, "message": f"injected {code}"}).encode()
            headers = {"Content-Type": "application/x-amz-json-1.1"}
        else:
            payload = (
                "<ErrorResponse><Error><Type>Sender</Type>"
                f"<Code>{code}</Code><Message>injected {code}</Message></Error>"
                "<RequestId>injected</RequestId></ErrorResponse>"
            ).encode()
            headers = {"Content-Type": "text/xml"}
        return AWSResponse(request.url, status, headers, _Raw(payload))

    client.meta.events.register("before-send", before_send)
    return state


def log_lines(text: str) -> list[dict[str, Any]]:
    """The function's JSON log lines in captured stdout."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


# -- the function in a process of its own ----------------------------------------------------------


def pinned(package: str) -> str:
    """`package==version` as pyproject.toml pins it (dependencies or an optional extra)."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    extras = project.get("optional-dependencies", {}).values()
    for requirement in [*project["dependencies"], *(r for extra in extras for r in extra)]:
        if re.split(r"[=<>!~\[ ]", requirement, maxsplit=1)[0] == package:
            return str(requirement)
    raise AssertionError(f"{package} is not a dependency in pyproject.toml")


@pytest.fixture(scope="session")
def function_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a clean virtualenv holding boto3 alone (pyproject's pin), as the Lambda
    runtime has it: nothing of this project, no pulumi, no pydantic."""
    root = tmp_path_factory.mktemp("function-venv")
    # Without a pip of its own (as in Lambda): this environment's pip installs into it.
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=300
    )
    python = root / "bin" / "python"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", pinned("boto3")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    return python


@pytest.fixture
def moto_endpoint(tmp_path: Path) -> Iterator[str]:
    """The URL of a moto server on a free loopback port, stopped (by its PID) afterwards."""
    server, endpoint = moto_server(tmp_path / "moto-server.log")
    server.start(timeout=30)
    try:
        yield endpoint
    finally:
        server.stop()


def server_client(endpoint: str) -> Callable[[str], Any]:
    """`client(service)` against the moto server at `endpoint`, with its dummy credentials."""
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    return lambda service: session.client(service, endpoint_url=endpoint)
