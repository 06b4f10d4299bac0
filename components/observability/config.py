"""Config of the observability stack: alert channels, thresholds, Prometheus settings."""

from __future__ import annotations

import re

from pydantic import Field, SecretStr, field_validator

from components.model import DURATION, EMAIL, MEMORY_QUANTITY, ConfigModel, check


class EmailConfig(ConfigModel):
    """Email channel of Alertmanager."""

    to: list[str] = Field(min_length=1, description="Recipients.")
    sender: str = Field(alias="from", description="Sender address.")
    smarthost: str = Field(description="SMTP relay host:port.")
    username: str = Field(description="SMTP user.")
    password: SecretStr = Field(description="SMTP password (secret).")

    @field_validator("to")
    @classmethod
    def _to(cls, v: list[str]) -> list[str]:
        for address in v:
            check(EMAIL, address, "is not an email address")
        return v

    @field_validator("sender")
    @classmethod
    def _from(cls, v: str) -> str:
        return check(EMAIL, v, "is not an email address")

    @field_validator("smarthost")
    @classmethod
    def _smarthost(cls, v: str) -> str:
        return check(re.compile(r"^[a-z0-9.-]+:[0-9]{2,5}$"), v, "is not host:port")


class AlertingConfig(ConfigModel):
    """Channels people are alerted through; credentials are Pulumi secrets."""

    pagerduty_routing_key: SecretStr = Field(description="PagerDuty Events v2 routing key.")
    slack_webhook_url: SecretStr = Field(description="Slack incoming webhook URL.")
    slack_channel: str = Field(description="Slack channel, e.g. #codex-alerts.")
    email: EmailConfig

    @field_validator("slack_channel")
    @classmethod
    def _channel(cls, v: str) -> str:
        return check(re.compile(r"^#[a-z0-9_-]+$"), v, "is not a Slack channel (#name)")


class ThresholdsConfig(ConfigModel):
    """Alert thresholds; defaults are the plan's alert thresholds."""

    error_rate: float = Field(default=0.01, gt=0, lt=1, description="5xx share that alerts.")
    latency_p95_seconds: float = Field(default=0.5, gt=0, description="p95 latency that alerts.")
    codegen_success_rate: float = Field(default=0.90, gt=0, lt=1, description="Min success.")
    validation_pipeline_seconds: float = Field(default=420, gt=0, description="Max duration.")
    deployment_success_rate: float = Field(default=0.95, gt=0, lt=1, description="Min success.")
    test_coverage_ratio: float = Field(default=0.70, gt=0, lt=1, description="Min coverage.")
    min_request_rate: float = Field(
        default=0.1, ge=0, description="Requests/s below which a tier counts as without traffic."
    )


class ObservabilityConfig(ConfigModel):
    """Prometheus, Alertmanager and Grafana settings."""

    thresholds: ThresholdsConfig = Field(default_factory=ThresholdsConfig)
    retention: str = Field(default="15d", description="Prometheus retention (duration).")
    storage_size: str = Field(default="50Gi", description="Prometheus volume size.")
    storage_class: str = Field(default="gp3", description="StorageClass for Prometheus.")
    evaluation_interval: str = Field(
        default="10s",
        description="Rule evaluation interval (a rollback budget term: docs/rollback.md).",
    )
    grafana_admin_password: SecretStr = Field(description="Grafana admin password (secret).")
    repository_url: str = Field(
        default="https://github.com/codex-dominion/codex-rollout",
        description="This repository's web URL; every alert's runbook_url points into it.",
    )
    runbook_ref: str = Field(
        default="main", description="Branch or tag of the runbooks that runbook_url links to."
    )

    @field_validator("repository_url")
    @classmethod
    def _repository(cls, v: str) -> str:
        url = re.compile(r"^https://[a-z0-9.-]+(/[A-Za-z0-9._-]+)+$")
        return check(url, v, "is not an https URL of a repository")

    def runbook_base_url(self) -> str:
        """Where the runbooks are read: <repository>/blob/<ref>/docs/runbooks."""
        return f"{self.repository_url}/blob/{self.runbook_ref}/docs/runbooks"

    @field_validator("retention", "evaluation_interval")
    @classmethod
    def _duration(cls, v: str) -> str:
        return check(DURATION, v, "is not a duration (e.g. 15s, 15d)")

    @field_validator("storage_size")
    @classmethod
    def _size(cls, v: str) -> str:
        return check(MEMORY_QUANTITY, v, "is not a storage quantity (e.g. 50Gi)")
