"""The rollback function: moves traffic off a failing tier in one listener update.

Runs as an AWS Lambda function (python3.12) and, unchanged, behind the operator commands
(`rollout rollback`, `rollout resume`). Self-contained: the standard library and boto3 only,
since it ships alone as `handler.py` in the function's zip.

Triggers:
- SNS records: CloudWatch alarm state changes (the tier comes from the alarm's TargetGroup
  dimension) and Alertmanager notifications in the JSON format of `alertmanager.py` (the tier
  comes from the alert's `tier` label).
- EventBridge events: GuardDuty findings with severity >= 7 and AWS Config compliance changes
  to NON_COMPLIANT (they name no tier), and manual rollbacks from `rollout rollback`.

For a trigger it takes a lock (a conditional put in the audit table), skips the event if the
audit table already records it as applied, reads the listener's weights and the ledger, decides
(the precomputed allocation for the trigger, where a tier already at 0 stays at 0 and the failing
tier goes to 0), writes a pending audit record, moves traffic with one ModifyListener call, holds
the ledger, notifies people, marks the audit record applied and releases the lock (a conditional
delete: once done, the audit table holds only the audit records). OK/resolved states, unknown tiers
and malformed events change nothing and log one line. Configuration comes only from the
environment variables in ENV_VARS; AWS endpoints from the standard AWS settings.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import IO, Any

import boto3  # type: ignore[import-untyped]
from boto3.dynamodb.types import (  # type: ignore[import-untyped]
    TypeDeserializer,
    TypeSerializer,
)
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

TIERS = ("sandbox", "canary", "production")
NO_TIER = "none"
ENV_VARS = (
    "ROLLOUT_STACK",
    "ROLLOUT_LISTENER_ARN",
    "ROLLOUT_TARGET_GROUPS",
    "ROLLOUT_ROLLBACK_PLAN",
    "ROLLOUT_LEDGER_PARAMETER",
    "ROLLOUT_AUDIT_TABLE",
    "ROLLOUT_NOTIFY_TOPIC_ARN",
)
GUARDDUTY_MIN_SEVERITY = 7.0
# The ledger before any rollback (and when the parameter is missing or unreadable): every key of
# the ledger, not held. The component creates the parameter with this value.
NOT_HELD: dict[str, Any] = {
    "held": False,
    "allocation": None,
    "reason": None,
    "trigger": None,
    "tier": None,
    "at": None,
    "eventId": None,
}
MANUAL_SOURCE = "codex-rollout.operator"
MANUAL_DETAIL_TYPE = "Manual Rollback"

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


# ---------------------------------------------------------------------------------------------
# logging: one JSON object per line


LOG_STREAM: IO[str] | None = None
"""Where log lines go (None: stdout, which Lambda sends to the function's log group)."""


def log(level: str, message: str, **fields: Any) -> None:
    record = {"level": level, "message": message, **fields}
    stream = LOG_STREAM or sys.stdout
    stream.write(json.dumps(record, default=str) + "\n")
    stream.flush()


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------------
# settings


class SettingsError(Exception):
    """A missing or invalid environment variable; str(err) names it."""


@dataclass(frozen=True)
class Settings:
    """The function's configuration, from the environment variables the program sets."""

    stack: str
    listener_arn: str
    target_groups: dict[str, str]
    plan: dict[str, Any]
    ledger_parameter: str
    audit_table: str
    notify_topic_arn: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        for name in ENV_VARS:
            if not env.get(name):
                raise SettingsError(f"{name}: not set (the program sets it; see docs/rollback.md)")
        target_groups = _json_env(env, "ROLLOUT_TARGET_GROUPS")
        if not isinstance(target_groups, dict) or not target_groups:
            raise SettingsError("ROLLOUT_TARGET_GROUPS: not a JSON object of tier -> ARN")
        for tier, arn in target_groups.items():
            if tier not in TIERS or not isinstance(arn, str) or ":targetgroup/" not in arn:
                raise SettingsError(
                    f"ROLLOUT_TARGET_GROUPS: {tier!r} -> {arn!r} is not a tier -> target group ARN"
                )
        plan = _json_env(env, "ROLLOUT_ROLLBACK_PLAN")
        allocations = plan.get("allocations") if isinstance(plan, dict) else None
        if not isinstance(allocations, dict) or NO_TIER not in allocations:
            raise SettingsError(
                'ROLLOUT_ROLLBACK_PLAN: no "allocations" object with a "none" entry'
            )
        for key, allocation in allocations.items():
            if key != NO_TIER and key not in TIERS:
                raise SettingsError(f"ROLLOUT_ROLLBACK_PLAN: allocation key {key!r} is no tier")
            if not _is_allocation(allocation):
                raise SettingsError(
                    f"ROLLOUT_ROLLBACK_PLAN: allocation {key!r} is not tier weights summing to 100"
                )
        return cls(
            stack=env["ROLLOUT_STACK"],
            listener_arn=env["ROLLOUT_LISTENER_ARN"],
            target_groups=dict(target_groups),
            plan=plan,
            ledger_parameter=env["ROLLOUT_LEDGER_PARAMETER"],
            audit_table=env["ROLLOUT_AUDIT_TABLE"],
            notify_topic_arn=env["ROLLOUT_NOTIFY_TOPIC_ARN"],
        )

    @property
    def week(self) -> int | None:
        week = self.plan.get("week")
        return week if isinstance(week, int) else None

    def allocation_for(self, tier: str | None) -> dict[str, int] | None:
        """The precomputed allocation for a trigger naming `tier` (None: no tier)."""
        allocation = self.plan["allocations"].get(NO_TIER if tier is None else tier)
        return None if allocation is None else {t: int(w) for t, w in allocation.items()}

    def tier_of_target_group(self, value: str) -> str | None:
        """The tier whose target group is `value`: an ARN or its suffix (the alarm dimension)."""
        for tier, arn in self.target_groups.items():
            if value in (arn, arn_suffix(arn)):
                return tier
        return None


def _json_env(env: Mapping[str, str], name: str) -> Any:
    try:
        return json.loads(env[name])
    except json.JSONDecodeError as err:
        raise SettingsError(f"{name}: not JSON ({err.msg})") from None


def _is_allocation(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and all(t in TIERS for t in value)
        and all(isinstance(w, int) and not isinstance(w, bool) and w >= 0 for w in value.values())
        and sum(value.values()) == 100
    )


def lock_key(stack: str) -> str:
    """The audit table key of a stack's lock row (present only while a rollback runs)."""
    return f"lock#{stack}"


def arn_suffix(arn: str) -> str:
    """`targetgroup/name/id` from a target group ARN (CloudWatch's TargetGroup dimension)."""
    return arn.split(":", 5)[5] if arn.count(":") >= 5 else arn


# ---------------------------------------------------------------------------------------------
# decisions (kept in step with infra/rollback_plan.py by tests)


def spread(current: Mapping[str, int], failing: set[str] | frozenset[str]) -> dict[str, int] | None:
    """`current` with the `failing` tiers at 0 and their share spread over the others.

    Proportional to the remaining weights, largest remainder (ties: the larger weight, then tier
    order). None when no remaining tier has traffic to scale up.
    """
    total = sum(current.values())
    keep = {t: w for t, w in current.items() if t not in failing and w > 0}
    base = sum(keep.values())
    if base == 0:
        return None
    exact = {t: total * w / base for t, w in keep.items()}
    result = {t: (int(exact[t]) if t in keep else 0) for t in current}
    left = total - sum(result.values())
    order = list(current)
    ranked = sorted(keep, key=lambda t: (-(exact[t] - int(exact[t])), -keep[t], order.index(t)))
    for tier in ranked[:left]:
        result[tier] += 1
    return result


@dataclass(frozen=True)
class Decision:
    """Where the listener's weights go for one trigger."""

    after: dict[str, int]
    zeroed: tuple[str, ...]
    note: str


def decide(
    planned: Mapping[str, int],
    tier: str | None,
    live: Mapping[str, int],
    ledger: Mapping[str, Any] | None,
) -> Decision:
    """Combine the precomputed allocation with what has already been rolled back.

    A tier at 0 on the listener or in the held ledger stays at 0, and the failing tier goes to 0:
    so concurrent or successive triggers converge whatever their order, and a failing tier's
    weight is never raised. When no tier with traffic remains, the weights stay as they are.
    """
    zero = {t for t, w in live.items() if w == 0}
    if ledger and ledger.get("held") and isinstance(ledger.get("allocation"), dict):
        zero |= {t for t, w in ledger["allocation"].items() if w == 0 and t in live}
    if tier is not None:
        zero.add(tier)
    target = {t: int(planned.get(t, 0)) for t in live}
    moved = spread(target, frozenset(zero))
    zeroed = tuple(t for t in live if t in zero)
    if moved is None:
        return Decision(
            after=dict(live),
            zeroed=zeroed,
            note="no other tier has traffic to take over: weights unchanged, rollout held",
        )
    if moved == dict(live):
        return Decision(after=moved, zeroed=zeroed, note="the listener already has these weights")
    return Decision(after=moved, zeroed=zeroed, note="traffic moved off the failing tier(s)")


# ---------------------------------------------------------------------------------------------
# reading events


@dataclass(frozen=True)
class Trigger:
    """An event that asks for a rollback."""

    event_id: str
    kind: str
    tier: str | None
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Skip:
    """An event (or part of one) that changes nothing, and why."""

    kind: str
    why: str
    event_id: str | None = None


def parse_event(event: Any, settings: Settings) -> list[Trigger | Skip]:
    """The triggers in a Lambda event; anything unexpected becomes a Skip, never an exception."""
    try:
        return _parse_event(event, settings)
    except Exception as err:  # a malformed event must not crash-loop the function
        return [Skip("malformed", f"could not read the event ({type(err).__name__}: {err})")]


def _parse_event(event: Any, settings: Settings) -> list[Trigger | Skip]:
    if not isinstance(event, dict):
        return [Skip("malformed", f"event is a {type(event).__name__}, not a JSON object")]
    if "Records" in event:
        records = event["Records"]
        if not isinstance(records, list) or not records:
            return [Skip("malformed", "Records is empty or not a list")]
        out: list[Trigger | Skip] = []
        for record in records:
            out.extend(_parse_sns_record(record, settings))
        return out
    if "detail-type" in event and "source" in event:
        return [_parse_eventbridge(event, settings)]
    return [Skip("malformed", "neither SNS records nor an EventBridge event")]


def _parse_sns_record(record: Any, settings: Settings) -> list[Trigger | Skip]:
    sns = record.get("Sns") if isinstance(record, dict) else None
    if not isinstance(sns, dict) or record.get("EventSource") != "aws:sns":
        return [Skip("malformed", "record is not an SNS record")]
    message_id = sns.get("MessageId")
    try:
        message = json.loads(sns.get("Message") or "")
    except (json.JSONDecodeError, TypeError):
        return [Skip("malformed", "SNS message is not JSON", f"sns:{message_id}")]
    if not isinstance(message, dict):
        return [Skip("malformed", "SNS message is not a JSON object", f"sns:{message_id}")]
    if "AlarmName" in message and "NewStateValue" in message:
        return [_parse_alarm(message, settings)]
    if message.get("source") == "alertmanager" or "alerts" in message:
        return _parse_alertmanager(message, settings, message_id)
    return [
        Skip(
            "malformed",
            "SNS message is neither a CloudWatch alarm nor an Alertmanager notification",
            f"sns:{message_id}",
        )
    ]


def _alarm_target_groups(message: dict[str, Any]) -> list[str]:
    trigger = message.get("Trigger") or {}
    dimensions = list(trigger.get("Dimensions") or [])
    for query in trigger.get("Metrics") or []:
        metric = ((query or {}).get("MetricStat") or {}).get("Metric") or {}
        dimensions.extend(metric.get("Dimensions") or [])
    values = []
    for dimension in dimensions:
        name = dimension.get("name", dimension.get("Name"))
        value = dimension.get("value", dimension.get("Value"))
        if name == "TargetGroup" and isinstance(value, str) and value not in values:
            values.append(value)
    return values


def _parse_alarm(message: dict[str, Any], settings: Settings) -> Trigger | Skip:
    name = message.get("AlarmName")
    event_id = f"cloudwatch:{message.get('AlarmArn') or name}:{message.get('StateChangeTime')}"
    state = message.get("NewStateValue")
    if state != "ALARM":
        return Skip("cloudwatch-alarm", f"alarm {name} is {state}; only ALARM rolls back", event_id)
    groups = _alarm_target_groups(message)
    if not groups:
        return Skip(
            "cloudwatch-alarm", f"alarm {name} has no TargetGroup dimension (no tier)", event_id
        )
    tiers = {settings.tier_of_target_group(g) for g in groups}
    if None in tiers:
        unknown = next(g for g in groups if settings.tier_of_target_group(g) is None)
        return Skip(
            "cloudwatch-alarm",
            f"unknown tier: alarm {name} watches target group {unknown}, "
            f"not one of ROLLOUT_TARGET_GROUPS",
            event_id,
        )
    if len(tiers) > 1:
        return Skip("cloudwatch-alarm", f"alarm {name} watches several tiers", event_id)
    tier = tiers.pop()
    assert tier is not None
    if settings.allocation_for(tier) is None:
        return Skip("cloudwatch-alarm", f"unknown tier: {tier} has no rollback plan", event_id)
    return Trigger(
        event_id=event_id,
        kind="cloudwatch-alarm",
        tier=tier,
        reason=f"CloudWatch alarm {name}",
        detail={
            "alarmName": name,
            "alarmArn": message.get("AlarmArn"),
            "stateChangeTime": message.get("StateChangeTime"),
            "newStateReason": str(message.get("NewStateReason", ""))[:500],
        },
    )


def _parse_alertmanager(
    message: dict[str, Any], settings: Settings, message_id: Any
) -> list[Trigger | Skip]:
    alerts = message.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        return [Skip("alertmanager", "notification has no alerts list", f"sns:{message_id}")]
    out: list[Trigger | Skip] = []
    for alert in alerts:
        labels = _alert_labels(alert)
        if labels is None:
            out.append(Skip("alertmanager", "alert without labels", f"sns:{message_id}"))
            continue
        name = labels.get("alertname") or "?"
        fingerprint = alert.get("fingerprint")
        event_id = alert.get("eventId") or f"alertmanager:{fingerprint}:{alert.get('startsAt')}"
        status = alert.get("status")
        if status != "firing":
            why = f"alert {name} is {status}; resolved alerts never undo a rollback"
            out.append(Skip("alertmanager", why, event_id))
        elif labels.get("action") != "rollback":
            out.append(Skip("alertmanager", f"alert {name} has no action=rollback", event_id))
        elif not fingerprint:
            out.append(Skip("alertmanager", f"alert {name} has no fingerprint", event_id))
        else:
            tier = labels.get("tier")
            if not isinstance(tier, str) or tier in ("", NO_TIER) or tier not in TIERS:
                out.append(
                    Skip("alertmanager", f"unknown tier: alert {name} tier={tier!r}", event_id)
                )
            elif settings.allocation_for(tier) is None:
                out.append(
                    Skip("alertmanager", f"unknown tier: {tier} has no rollback plan", event_id)
                )
            else:
                out.append(
                    Trigger(
                        event_id=event_id,
                        kind="alertmanager",
                        tier=tier,
                        reason=f"Prometheus alert {name} (service {labels.get('service', '?')})",
                        detail={
                            "alertname": name,
                            "service": labels.get("service"),
                            "severity": labels.get("severity"),
                            "fingerprint": fingerprint,
                            "startsAt": alert.get("startsAt"),
                        },
                    )
                )
    return out


ALERT_LABELS = ("alertname", "service", "tier", "severity", "action")


def _alert_labels(alert: Any) -> dict[str, Any] | None:
    """An alert's labels: nested under "labels" (alertmanager.py's template), or the same names
    flat on the alert (the observability component's compact variant)."""
    if not isinstance(alert, dict):
        return None
    labels = alert.get("labels")
    if isinstance(labels, dict):
        return labels
    if "alertname" in alert:
        return {key: alert[key] for key in ALERT_LABELS if key in alert}
    return None


def _parse_eventbridge(event: dict[str, Any], settings: Settings) -> Trigger | Skip:
    source, detail_type = event.get("source"), event.get("detail-type")
    detail = event.get("detail")
    raw_id = event.get("id")
    if not isinstance(detail, dict) or not raw_id:
        return Skip("malformed", f"{source} event without id or detail", f"event:{raw_id}")
    if source == "aws.guardduty" and detail_type == "GuardDuty Finding":
        # One finding is one incident: GuardDuty re-publishes updates of a finding as new events.
        event_id = f"guardduty:{detail.get('id') or raw_id}"
        try:
            severity = float(detail.get("severity"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return Skip("guardduty", "finding without a numeric severity", event_id)
        if severity < GUARDDUTY_MIN_SEVERITY:
            return Skip(
                "guardduty", f"severity {severity} is below {GUARDDUTY_MIN_SEVERITY}", event_id
            )
        return Trigger(
            event_id=event_id,
            kind="guardduty",
            tier=None,
            reason=f"GuardDuty finding {detail.get('type')} (severity {severity})",
            detail={
                "findingId": detail.get("id"),
                "type": detail.get("type"),
                "severity": severity,
            },
        )
    if source == "aws.config" and detail_type == "Config Rules Compliance Change":
        event_id = f"config:{raw_id}"
        result = (detail.get("newEvaluationResult") or {}).get("complianceType")
        rule = detail.get("configRuleName")
        if result != "NON_COMPLIANT":
            return Skip(
                "config", f"rule {rule} is {result}; only NON_COMPLIANT rolls back", event_id
            )
        resource = f"{detail.get('resourceType')} {detail.get('resourceId')}"
        return Trigger(
            event_id=event_id,
            kind="config",
            tier=None,
            reason=f"AWS Config rule {rule}: {resource} is NON_COMPLIANT",
            detail={"configRuleName": rule, "resource": resource},
        )
    if source == MANUAL_SOURCE and detail_type == MANUAL_DETAIL_TYPE:
        event_id = f"manual:{raw_id}"
        tier = detail.get("tier")
        reason = detail.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            return Skip("manual", "manual rollback without a reason", event_id)
        if tier is not None and settings.allocation_for(tier) is None:
            return Skip("manual", f"unknown tier: {tier!r} has no rollback plan", event_id)
        return Trigger(
            event_id=event_id,
            kind="manual",
            tier=tier,
            reason=f"manual rollback by {detail.get('operator', '?')}: {reason}",
            detail={"operator": detail.get("operator")},
        )
    return Skip("eventbridge", f"unsupported event {source} / {detail_type}", f"event:{raw_id}")


def manual_event(tier: str | None, reason: str, operator: str) -> dict[str, Any]:
    """The event `rollout rollback --tier T --reason ...` sends through the handler."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "source": MANUAL_SOURCE,
        "detail-type": MANUAL_DETAIL_TYPE,
        "time": now_iso(),
        "detail": {"tier": tier, "reason": reason, "operator": operator},
    }


# ---------------------------------------------------------------------------------------------
# acting


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


@dataclass
class Outcome:
    """What one trigger (or skipped event) led to."""

    action: str  # rolled-back | held | duplicate | ignored | resumed | not-held
    kind: str
    event_id: str | None = None
    tier: str | None = None
    before: dict[str, int] | None = None
    after: dict[str, int] | None = None
    why: str | None = None

    def as_dict(self) -> dict[str, Any]:
        keys = {"event_id": "eventId"}
        return {keys.get(k, k): v for k, v in self.__dict__.items() if v is not None}


class LockTimeoutError(Exception):
    """Another rollback of the stack held the lock for longer than LOCK_WAIT_SECONDS."""


@dataclass
class _Listener:
    actions: list[dict[str, Any]]
    weights: dict[str, int]


class Rollbacks:
    """Applies triggers and resumes against one stack's listener, ledger and audit table."""

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

    def read_listener(self) -> _Listener:
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
        return _Listener(actions=actions, weights={t: weights[t] for t in TIERS if t in weights})

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

    def move(self, listener: _Listener, weights: dict[str, int]) -> None:
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

    # -- the two operations ----------------------------------------------------------------------

    def apply(self, trigger: Trigger) -> Outcome:
        s = self.settings
        context = {"stack": s.stack, "eventId": trigger.event_id, "kind": trigger.kind}
        with self.lock():
            existing = self.audit_get(trigger.event_id)
            if existing is not None and existing.get("status") == "applied":
                log("info", "duplicate event: already applied, no change", **context)
                if not existing.get("notified"):
                    self._notify_rollback(existing)
                return Outcome("duplicate", trigger.kind, trigger.event_id, trigger.tier)
            listener = self.read_listener()
            ledger = self.read_ledger()
            planned = s.allocation_for(trigger.tier)
            assert planned is not None  # parse_event only yields triggers with a plan
            decision = decide(planned, trigger.tier, listener.weights, ledger)
            at = now_iso()
            record: dict[str, Any] = {
                "eventId": trigger.event_id,
                "recordType": "rollback",
                "stack": s.stack,
                "week": s.week,
                "kind": trigger.kind,
                "tier": trigger.tier,
                "reason": trigger.reason,
                "detail": trigger.detail,
                "before": listener.weights,
                "after": decision.after,
                "zeroed": list(decision.zeroed),
                "note": decision.note,
                "requestId": self.owner,
                "at": at,
                "status": "pending",
                "trafficMoved": False,
                "notified": False,
            }
            self.audit_put(record, first=True)
            try:
                if decision.after != listener.weights:
                    self.move(listener, decision.after)
                    record["trafficMoved"] = True
                self.write_ledger(
                    {
                        "held": True,
                        "allocation": decision.after,
                        "reason": trigger.reason,
                        "trigger": trigger.kind,
                        "tier": trigger.tier,
                        "at": at,
                        "eventId": trigger.event_id,
                    }
                )
            except Exception as err:
                record.update(status="failed", error=f"{type(err).__name__}: {err}"[:1000])
                self.audit_put(record)
                log("error", "rollback failed; audit record kept", error=record["error"], **context)
                raise
            record["status"] = "applied"
            log(
                "info",
                "rollback applied" if record["trafficMoved"] else "rollback held, weights kept",
                tier=trigger.tier,
                before=listener.weights,
                after=decision.after,
                note=decision.note,
                **context,
            )
            self._notify_rollback(record)
        action = "rolled-back" if record["trafficMoved"] else "held"
        return Outcome(
            action,
            trigger.kind,
            trigger.event_id,
            trigger.tier,
            before=listener.weights,
            after=decision.after,
            why=decision.note,
        )

    def _notify_rollback(self, record: dict[str, Any]) -> None:
        """Tell people, then mark the audit record applied (with whether they were told)."""
        s = self.settings
        what = f"tier {record['tier']}" if record.get("tier") else "no tier"
        after = "/".join(str(record["after"].get(t, 0)) for t in TIERS)
        subject = f"[codex-rollout {s.stack}] rollback ({what}): sandbox/canary/production {after}"
        summary = (
            f"Automated rollback on stack {s.stack}: {record['reason']}.\n"
            f"{record['note']}.\nThe ledger is held; `pulumi up` keeps these weights until an "
            f"operator runs `rollout resume --reason ...`."
        )
        record["status"] = "applied"
        try:
            self.notify(subject, summary, record)
        except Exception as err:
            record.update(notified=False, notifyError=f"{type(err).__name__}: {err}"[:500])
            self.audit_put(record)
            log("error", "rollback applied but people were not notified", eventId=record["eventId"])
            raise
        record.update(notified=True)
        record.pop("notifyError", None)
        self.audit_put(record)

    def resume(self, reason: str, operator: str) -> Outcome:
        """Clear the hold (audited). Traffic stays; the next `pulumi up` declares the schedule."""
        s = self.settings
        event_id = f"resume:{uuid.uuid4()}"
        with self.lock():
            ledger = self.read_ledger()
            if not ledger.get("held"):
                log("info", "ledger not held: nothing to resume", stack=s.stack)
                return Outcome("not-held", "resume", why="the ledger is not held")
            at = now_iso()
            record = {
                "eventId": event_id,
                "recordType": "resume",
                "stack": s.stack,
                "week": s.week,
                "kind": "resume",
                "reason": reason,
                "detail": {"operator": operator, "released": ledger},
                "requestId": self.owner,
                "at": at,
                "status": "pending",
                "notified": False,
            }
            self.audit_put(record, first=True)
            self.write_ledger(
                {
                    "held": False,
                    "allocation": None,
                    "reason": reason,
                    "trigger": "resume",
                    "tier": None,
                    "at": at,
                    "eventId": event_id,
                }
            )
            record["status"] = "applied"
            self.audit_put(record)
            log("info", "hold cleared", stack=s.stack, eventId=event_id, operator=operator)
            subject = f"[codex-rollout {s.stack}] rollback hold cleared by {operator}"
            summary = (
                f"The rollback hold on stack {s.stack} was cleared by {operator}: {reason}.\n"
                f"The next `pulumi up` declares the schedule's allocation again."
            )
            self.notify(subject, summary, record)
            record["notified"] = True
            self.audit_put(record)
        return Outcome("resumed", "resume", event_id, why=reason)


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


# ---------------------------------------------------------------------------------------------
# entry points


def process(
    event: Any, settings: Settings, clients: Clients, owner: str | None = None
) -> list[Outcome]:
    """Handle one Lambda event: every trigger in it, in order."""
    rollbacks = Rollbacks(settings, clients, owner)
    outcomes = []
    for item in parse_event(event, settings):
        if isinstance(item, Skip):
            log(
                "info",
                f"no change: {item.why}",
                stack=settings.stack,
                kind=item.kind,
                eventId=item.event_id,
            )
            outcomes.append(Outcome("ignored", item.kind, item.event_id, why=item.why))
        else:
            outcomes.append(rollbacks.apply(item))
    return outcomes


_CLIENTS: Clients | None = None


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    """Lambda entry point.

    AWS errors that survive the retries propagate, so Lambda retries the event and finally sends
    it to the dead-letter queue; a replay (`rollout rollback --event FILE`) is idempotent.
    """
    global _CLIENTS
    try:
        settings = Settings.from_env()
    except SettingsError as err:
        # Raised, not swallowed: Lambda retries, then keeps the event in the dead-letter queue
        # for a replay once the configuration is fixed.
        log("error", "rollback function misconfigured; no change", error=str(err))
        raise
    if _CLIENTS is None:
        _CLIENTS = Clients.create()
    owner = getattr(context, "aws_request_id", None)
    outcomes = process(event, settings, _CLIENTS, owner)
    return {"outcomes": [o.as_dict() for o in outcomes]}
