"""The contract between Alertmanager's rollback receiver and the rollback function.

Alertmanager's `sns_configs` publish the rendered `message` template as the SNS message body. By
default that is `{{ template "sns.default.message" . }}`: the common annotations, then "Alerts
Firing:" / "Alerts Resolved:" with each alert's labels as ` - name = value` lines; free text the
function must not parse. The rollback receiver therefore sets `message` to MESSAGE_TEMPLATE,
which renders one JSON document:

    {"version": "1", "source": "alertmanager", "receiver": "rollback", "status": "firing",
     "externalURL": "https://alertmanager.example",
     "groupLabels": {"alertname": "CodexErrorRateHigh", "service": "codegen-api", "tier": "canary"},
     "alerts": [{"status": "firing", "fingerprint": "3f2a9c0d1b7e4a55",
                 "startsAt": "2026-11-26T10:00:00Z",
                 "labels": {"action": "rollback", "alertname": "CodexErrorRateHigh",
                            "service": "codegen-api", "severity": "high", "tier": "canary"}}]}

Strings are quoted with Go's `printf "%q"`, which is valid JSON for every printable label value
(control characters would not be; such a message is logged and ignored). The function acts on
each alert with status "firing" and label action="rollback"; its `tier` label names the tier,
and fingerprint + startsAt make the event id, so Alertmanager's repeat notifications of the same
alert are duplicates, not new rollbacks.

`sns_config` and ROLLBACK_ROUTE are what the Observability component puts in the Alertmanager
configuration; group_wait is part of the rollback budget (rollout_rules/rollback.py).
"""

from __future__ import annotations

from typing import Any

MESSAGE_TEMPLATE = (
    '{"version":"1","source":"alertmanager",'
    '"receiver":{{ printf "%q" .Receiver }},'
    '"status":{{ printf "%q" .Status }},'
    '"externalURL":{{ printf "%q" .ExternalURL }},'
    '"groupLabels":{ {{- range $i, $p := .GroupLabels.SortedPairs }}{{ if $i }},{{ end }}'
    '{{ printf "%q" $p.Name }}:{{ printf "%q" $p.Value }}{{ end -}} },'
    '"alerts":[{{ range $i, $a := .Alerts }}{{ if $i }},{{ end }}'
    '{"status":{{ printf "%q" $a.Status }},'
    '"fingerprint":{{ printf "%q" $a.Fingerprint }},'
    '"startsAt":{{ printf "%q" ($a.StartsAt.UTC.Format "2006-01-02T15:04:05Z07:00") }},'
    '"labels":{ {{- range $j, $p := $a.Labels.SortedPairs }}{{ if $j }},{{ end }}'
    '{{ printf "%q" $p.Name }}:{{ printf "%q" $p.Value }}{{ end -}} }}'
    "{{ end }}]}"
)
"""The `message:` of the rollback receiver's sns_config (a Go text/template)."""

SUBJECT_TEMPLATE = (
    '[codex-rollout rollback] {{ .Status }} {{ .GroupLabels.SortedPairs.Values | join " " }}'
)
"""The `subject:` (SNS subjects are at most 100 ASCII characters; Alertmanager truncates)."""

RECEIVER = "rollback"
GROUP_WAIT_SECONDS = 5
"""Alertmanager's wait before the first notification of a rollback group (in the budget)."""
RULE_FOR_SECONDS = 30
"""The longest `for` a rollback-action alert rule may have within the budget's default."""

ROLLBACK_ROUTE: dict[str, Any] = {
    "receiver": RECEIVER,
    "matchers": ['action="rollback"'],
    # One notification per alert, service and tier, so each SNS message names one tier.
    "group_by": ["alertname", "service", "tier"],
    "group_wait": f"{GROUP_WAIT_SECONDS}s",
    "group_interval": "1m",
    "repeat_interval": "1h",
    # The human routes still get the alert.
    "continue": True,
}
"""The route (first among the root route's children) that sends rollback alerts to SNS."""


def sns_config(topic_arn: str, region: str) -> dict[str, Any]:
    """The rollback receiver's sns_configs entry (SigV4 with the pod's IRSA credentials)."""
    return {
        "topic_arn": topic_arn,
        "sigv4": {"region": region},
        "subject": SUBJECT_TEMPLATE,
        "message": MESSAGE_TEMPLATE,
        "attributes": {"source": "alertmanager", "contract": "codex-rollout-rollback-v1"},
        "send_resolved": True,
    }


def receiver(topic_arn: str, region: str) -> dict[str, Any]:
    """The whole rollback receiver."""
    return {"name": RECEIVER, "sns_configs": [sns_config(topic_arn, region)]}
