"""Alertmanager configuration: the alerting table of the rollout plan as a routing tree (pure).

| alerts                       | receiver                      | repeat   |
|------------------------------|-------------------------------|----------|
| action=rollback              | rollback (SNS), then continue | 1h       |
| severity=critical            | pagerduty, group_wait 10s     | 5m       |
| category=policy              | slack-email                   | 1h       |
| severity=high                | slack-email                   | 15m      |
| severity=medium              | slack                         | 4h       |
| severity=low                 | email                         | 24h      |
| severity=none|info (chart)   | null                          |          |
| anything else                | email (root)                  | 24h      |

The rollback route comes first with `continue: true`, so a rollback trigger also reaches the
people its severity names. The policy route comes before severity=high because policy alerts are
severity high too but repeat hourly.

Inhibition: a critical alert for a (service, tier) silences the lower-severity alerts of the same
pair, with one exception: a critical alert that is not itself a rollback trigger (the fast burn)
never silences a rollback trigger, because an inhibited alert reaches no receiver at all, the
rollback receiver included.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from components import yaml_text
from components.observability.config import AlertingConfig
from components.rollback import alertmanager as rollback_contract

ROLLBACK_RECEIVER = rollback_contract.RECEIVER
PAGERDUTY_RECEIVER = "pagerduty"
SLACK_EMAIL_RECEIVER = "slack-email"
SLACK_RECEIVER = "slack"
EMAIL_RECEIVER = "email"
NULL_RECEIVER = "null"

# The rollback receiver, its route and its SNS message are the rollback function's contract,
# defined beside the function (components/rollback/alertmanager.py) and used here unchanged.
ROLLBACK_GROUP_WAIT = rollback_contract.ROLLBACK_ROUTE["group_wait"]
PAGE_GROUP_WAIT = "10s"
GROUP_BY = ["alertname", "service", "tier"]
CONFIG_KEY = "alertmanager.yaml"


@dataclass(frozen=True)
class Channels:
    """Where people are alerted; the credentials in plaintext (only ever inside a secret)."""

    pagerduty_routing_key: str
    slack_webhook_url: str
    slack_channel: str
    email_to: tuple[str, ...]
    email_from: str
    smarthost: str
    smtp_username: str
    smtp_password: str

    @classmethod
    def from_config(cls, alerting: AlertingConfig) -> Channels:
        email = alerting.email
        return cls(
            pagerduty_routing_key=alerting.pagerduty_routing_key.get_secret_value(),
            slack_webhook_url=alerting.slack_webhook_url.get_secret_value(),
            slack_channel=alerting.slack_channel,
            email_to=tuple(email.to),
            email_from=email.sender,
            smarthost=email.smarthost,
            smtp_username=email.username,
            smtp_password=email.password.get_secret_value(),
        )

    def with_placeholders(self) -> Channels:
        """The same channels with each secret replaced by a value of the right shape."""
        return replace(
            self,
            pagerduty_routing_key="00000000000000000000000000000000",
            slack_webhook_url="https://hooks.slack.com/services/T00000000/B00000000/placeholder",
            smtp_password="placeholder",
        )


def alertmanager_config(channels: Channels, rollback_topic_arn: str, region: str) -> dict[str, Any]:
    """The Alertmanager configuration document."""
    slack = {
        "api_url": channels.slack_webhook_url,
        "channel": channels.slack_channel,
        "send_resolved": True,
        "title": "[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }}",
        "text": "{{ range .Alerts }}{{ .Annotations.summary }}\n{{ .Annotations.description }}\n"
        "{{ end }}",
    }
    email = {
        "to": ", ".join(channels.email_to),
        "from": channels.email_from,
        "smarthost": channels.smarthost,
        "auth_username": channels.smtp_username,
        "auth_password": channels.smtp_password,
        "require_tls": True,
        "send_resolved": True,
    }
    receivers = [
        # SNS, signed with SigV4 by the pod's IRSA credentials.
        rollback_contract.receiver(rollback_topic_arn, region),
        {
            "name": PAGERDUTY_RECEIVER,
            "pagerduty_configs": [
                {
                    "routing_key": channels.pagerduty_routing_key,
                    "severity": "critical",
                    "description": "{{ .CommonAnnotations.summary }}",
                    "send_resolved": True,
                }
            ],
        },
        {"name": SLACK_EMAIL_RECEIVER, "slack_configs": [slack], "email_configs": [email]},
        {"name": SLACK_RECEIVER, "slack_configs": [slack]},
        {"name": EMAIL_RECEIVER, "email_configs": [email]},
        {"name": NULL_RECEIVER},
    ]
    routes = [
        # First, and `continue: true`: the people the severity names get the alert too.
        dict(rollback_contract.ROLLBACK_ROUTE),
        {
            "receiver": PAGERDUTY_RECEIVER,
            "matchers": ['severity="critical"'],
            "group_wait": PAGE_GROUP_WAIT,
            "group_interval": "1m",
            "repeat_interval": "5m",
        },
        {
            "receiver": SLACK_EMAIL_RECEIVER,
            "matchers": ['category="policy"'],
            "repeat_interval": "1h",
        },
        {
            "receiver": SLACK_EMAIL_RECEIVER,
            "matchers": ['severity="high"'],
            "group_interval": "5m",
            "repeat_interval": "15m",
        },
        {"receiver": SLACK_RECEIVER, "matchers": ['severity="medium"'], "repeat_interval": "4h"},
        {"receiver": EMAIL_RECEIVER, "matchers": ['severity="low"'], "repeat_interval": "24h"},
        # kube-prometheus-stack's own Watchdog and InfoInhibitor (severity none) and info alerts.
        {"receiver": NULL_RECEIVER, "matchers": ['severity=~"none|info"']},
    ]
    lower = 'severity=~"high|medium|low"'
    pair = ['service=~".+"', 'tier=~".+"']
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": EMAIL_RECEIVER,
            "group_by": list(GROUP_BY),
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "24h",
            "routes": routes,
        },
        "inhibit_rules": [
            {
                "source_matchers": ['severity="critical"', 'action="rollback"', *pair],
                "target_matchers": [lower],
                "equal": ["service", "tier"],
            },
            {
                "source_matchers": ['severity="critical"', 'action!="rollback"', *pair],
                "target_matchers": [lower, 'action!="rollback"'],
                "equal": ["service", "tier"],
            },
        ],
        "receivers": receivers,
    }


def to_yaml(config: Mapping[str, Any]) -> str:
    """The configuration as alertmanager.yaml text (long template lines kept whole)."""
    return yaml_text.to_yaml(dict(config), width=1000)


def _routes(route: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield route
    for child in route.get("routes", []):
        yield from _routes(child)


def routes_to_pagerduty(config: Mapping[str, Any]) -> bool:
    """Whether any route sends to a receiver with a PagerDuty integration."""
    paging = {r["name"] for r in config["receivers"] if r.get("pagerduty_configs")}
    return any(route.get("receiver") in paging for route in _routes(config["route"]))
