"""The function's AWS side: its clients, the stack's lock, and the listener, ledger, audit
table and people topic it reads and writes.

Every call goes through the clients' retry configuration; a lock row in the audit table
serialises one stack's rollbacks. What to write is decided elsewhere (`decision`, `rollbacks`).
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import boto3  # type: ignore[import-untyped]
from boto3.dynamodb.types import (  # type: ignore[import-untyped]
    TypeDeserializer,
    TypeSerializer,
)
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from rollout_rules.contract import lock_key
from rollout_rules.ledger import NOT_HELD
from rollout_rules.plan import TIERS

from .logs import log
from .settings import Settings

# Throttling and transient errors are retried by botocore's "standard" mode: exponential backoff
# with jitter, up to 8 attempts (about 20 s worst case), per call. Short timeouts keep a stuck
# connection from eating the rollback budget.
BOTO_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 8}, connect_timeout=3, read_timeout=10
)
# The lock serialises rollbacks of one stack so concurrent triggers converge: a row
# `lock#<stack>` in the audit table, put only if absent or its lease has expired, deleted on
# release only by its holder. So once a rollback is done no lock row is left (the table holds
# one item per audited event); a crashed holder's row stays until the next rollback takes it
# over after the lease, which outlives a normal run (a few calls) by far.
LOCK_LEASE_SECONDS = 20
LOCK_WAIT_SECONDS = 25
# SSM answers concurrent writes of one parameter with TooManyUpdates, which botocore does not
# count as throttling; retried here.
SSM_RETRY_CODES = ("TooManyUpdates", "ThrottlingException")
SSM_ATTEMPTS = 6

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


@dataclass
class Clients:
    """The AWS clients the function uses, all with the retry configuration above."""

    elbv2: Any
    ssm: Any
    dynamodb: Any
    sns: Any

    @classmethod
    def create(cls, session: boto3.session.Session | None = None) -> Clients:
        session = session or boto3.session.Session()
        return cls(
            elbv2=session.client("elbv2", config=BOTO_CONFIG),
            ssm=session.client("ssm", config=BOTO_CONFIG),
            dynamodb=session.client("dynamodb", config=BOTO_CONFIG),
            sns=session.client("sns", config=BOTO_CONFIG),
        )


class LockTimeoutError(Exception):
    """Another rollback of the stack held the lock for longer than LOCK_WAIT_SECONDS."""


@dataclass
class Listener:
    """The listener's default actions as read, and the weights of the tiers' target groups."""

    actions: list[dict[str, Any]]
    weights: dict[str, int]


class Store:
    """One stack's listener, ledger, audit table and people topic, as one invocation sees them.

    `owner` identifies the invocation: it holds the lock and is the audit records' requestId.
    """

    def __init__(self, settings: Settings, clients: Clients, owner: str | None = None) -> None:
        self.settings = settings
        self.clients = clients
        self.owner = owner or str(uuid.uuid4())

    # -- lock ------------------------------------------------------------------------------------

    @contextmanager
    def lock(self) -> Iterator[None]:
        key = {"eventId": {"S": lock_key(self.settings.stack)}}
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        attempt = 0
        while True:
            now = time.time()
            try:
                self.clients.dynamodb.put_item(
                    TableName=self.settings.audit_table,
                    Item={
                        **key,
                        "recordType": {"S": "lock"},
                        "holder": {"S": self.owner},
                        "expiresAt": {"N": f"{now + LOCK_LEASE_SECONDS:.3f}"},
                    },
                    ConditionExpression="attribute_not_exists(eventId) OR expiresAt < :now",
                    ExpressionAttributeValues={":now": {"N": f"{now:.3f}"}},
                )
                break
            except ClientError as err:
                if _code(err) != "ConditionalCheckFailedException":
                    raise
                if time.monotonic() > deadline:
                    raise LockTimeoutError(
                        f"lock of stack {self.settings.stack} still held"
                    ) from None
                time.sleep(min(1.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0))
                attempt += 1
        try:
            yield
        finally:
            self._release(key)

    def _release(self, key: dict[str, Any]) -> None:
        """Delete the lock row, only if this invocation still holds it: no row stays behind.

        The condition on the holder keeps a holder whose lease expired (and was taken over)
        from deleting its successor's lock. A failed release is logged, not raised: the
        rollback is done, and the lease lets the next rollback take the lock over.
        """
        try:
            self.clients.dynamodb.delete_item(
                TableName=self.settings.audit_table,
                Key=key,
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={":me": {"S": self.owner}},
            )
        except ClientError as err:
            if _code(err) == "ConditionalCheckFailedException":
                log("warning", "lock lease expired before release", stack=self.settings.stack)
            else:
                log(
                    "error",
                    "lock not released; the next rollback takes it over when the lease expires",
                    stack=self.settings.stack,
                    error=f"{type(err).__name__}: {err}"[:500],
                    leaseSeconds=LOCK_LEASE_SECONDS,
                )

    # -- reads -----------------------------------------------------------------------------------

    def read_listener(self) -> Listener:
        listeners = self.clients.elbv2.describe_listeners(
            ListenerArns=[self.settings.listener_arn]
        )["Listeners"]
        actions = listeners[0]["DefaultActions"]
        by_arn = {arn: tier for tier, arn in self.settings.target_groups.items()}
        weights: dict[str, int] = {}
        for action in actions:
            if action.get("Type") != "forward":
                continue
            groups = (action.get("ForwardConfig") or {}).get("TargetGroups")
            if not groups and action.get("TargetGroupArn"):
                groups = [{"TargetGroupArn": action["TargetGroupArn"], "Weight": 100}]
            for group in groups or []:
                tier = by_arn.get(group["TargetGroupArn"])
                if tier is not None:
                    weights[tier] = int(group.get("Weight", 1))
        return Listener(actions=actions, weights={t: weights[t] for t in TIERS if t in weights})

    def read_ledger(self) -> dict[str, Any]:
        try:
            value = self.clients.ssm.get_parameter(Name=self.settings.ledger_parameter)[
                "Parameter"
            ]["Value"]
        except ClientError as err:
            if _code(err) != "ParameterNotFound":
                raise
            return dict(NOT_HELD)
        try:
            ledger = json.loads(value)
        except json.JSONDecodeError:
            ledger = None
        if not isinstance(ledger, dict):
            log("warning", "ledger is not a JSON object; treated as not held", value=value[:200])
            return dict(NOT_HELD)
        return ledger

    def audit_get(self, event_id: str) -> dict[str, Any] | None:
        item = self.clients.dynamodb.get_item(
            TableName=self.settings.audit_table,
            Key={"eventId": {"S": event_id}},
            ConsistentRead=True,
        ).get("Item")
        if item is None:
            return None
        return {k: _plain(_DESERIALIZER.deserialize(v)) for k, v in item.items()}

    # -- writes ----------------------------------------------------------------------------------

    def audit_put(self, record: dict[str, Any], *, first: bool = False) -> None:
        # DynamoDB numbers are Decimals; a JSON round trip turns floats (a GuardDuty severity)
        # into them and anything else into strings.
        safe = json.loads(json.dumps(record, default=str), parse_float=Decimal)
        item = {k: _SERIALIZER.serialize(v) for k, v in safe.items()}
        kwargs: dict[str, Any] = {}
        if first:
            # Keyed by event id: a record already applied is never overwritten.
            kwargs = {
                "ConditionExpression": "attribute_not_exists(eventId) OR #s <> :applied",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": {":applied": {"S": "applied"}},
            }
        self.clients.dynamodb.put_item(TableName=self.settings.audit_table, Item=item, **kwargs)

    def move(self, listener: Listener, weights: dict[str, int]) -> None:
        """One ModifyListener call: the forward action gets `weights`, everything else stays."""
        arns = self.settings.target_groups
        actions = []
        for action in listener.actions:
            if action.get("Type") != "forward":
                actions.append(action)
                continue
            forward = action.get("ForwardConfig") or {}
            others = [
                g
                for g in forward.get("TargetGroups", [])
                if g["TargetGroupArn"] not in arns.values()
            ]
            new: dict[str, Any] = {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [
                        {"TargetGroupArn": arns[t], "Weight": w} for t, w in weights.items()
                    ]
                    + others,
                    "TargetGroupStickinessConfig": forward.get("TargetGroupStickinessConfig")
                    or {"Enabled": False},
                },
            }
            if "Order" in action:
                new["Order"] = action["Order"]
            actions.append(new)
        self.clients.elbv2.modify_listener(
            ListenerArn=self.settings.listener_arn, DefaultActions=actions
        )

    def write_ledger(self, ledger: dict[str, Any]) -> None:
        value = json.dumps(ledger, separators=(",", ":"))
        for attempt in range(SSM_ATTEMPTS):
            try:
                self.clients.ssm.put_parameter(
                    Name=self.settings.ledger_parameter, Value=value, Type="String", Overwrite=True
                )
                return
            except ClientError as err:
                if _code(err) not in SSM_RETRY_CODES or attempt == SSM_ATTEMPTS - 1:
                    raise
                time.sleep(min(2.0, 0.1 * 2**attempt) * random.uniform(0.5, 1.0))

    def notify(self, subject: str, summary: str, record: dict[str, Any]) -> None:
        self.clients.sns.publish(
            TopicArn=self.settings.notify_topic_arn,
            Subject=subject[:100],
            Message=f"{summary}\n\n{json.dumps(record, indent=2, default=str)}",
        )


def _plain(value: Any) -> Any:
    """A DynamoDB value with Decimals back as int/float."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))
