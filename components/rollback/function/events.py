"""Lambda events read as triggers: what asks for a rollback, and what changes nothing and why.

SNS records carry CloudWatch alarm state changes and Alertmanager notifications; EventBridge
events carry GuardDuty findings, AWS Config compliance changes and manual rollbacks. Anything
unexpected becomes a `Skip` with a reason, never an exception.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from rollout_rules.contract import GUARDDUTY_MIN_SEVERITY, MANUAL_DETAIL_TYPE, MANUAL_SOURCE
from rollout_rules.plan import TIERS
from rollout_rules.rollback import NO_TIER

from .logs import now_iso
from .settings import Settings


@dataclass(frozen=True)
class Trigger:
    """An event that asks for a rollback."""

    event_id: str
    kind: str
    tier: str | None
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)


# Skips of these kinds are events the function does not know at all (not a trigger it read and
# chose to ignore); `rollout rollback --event` refuses them, the function logs and ignores them.
UNRECOGNISED_KINDS = ("malformed", "eventbridge")


@dataclass(frozen=True)
class Skip:
    """An event (or part of one) that changes nothing, and why."""

    kind: str
    why: str
    event_id: str | None = None

    @property
    def recognised(self) -> bool:
        """False for an event the function does not know (as opposed to a trigger it read that
        asks for no change, such as an alarm back to OK)."""
        return self.kind not in UNRECOGNISED_KINDS


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
            # Both as floats, so the line reads "severity 5.0 is below 7.0" whatever the type
            # of the contract's threshold.
            threshold = float(GUARDDUTY_MIN_SEVERITY)
            return Skip("guardduty", f"severity {severity} is below {threshold}", event_id)
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
