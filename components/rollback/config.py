"""Config of the automated rollback: the time budget, the function, the alarms."""

from __future__ import annotations

from pydantic import Field

from components.model import ConfigModel
from rollout_rules.rollback import BudgetInputs, duration_seconds


class RollbackConfig(ConfigModel):
    """Automated rollback settings."""

    budget_seconds: int = Field(
        default=120, ge=10, le=600, description="Max seconds from fault to traffic moved."
    )
    log_retention_days: int = Field(default=90, ge=30, le=400, description="Function logs.")
    reserved_concurrency: int = Field(default=2, ge=1, le=10, description="Function concurrency.")
    alarm_period_seconds: int = Field(
        default=60, ge=60, le=300, multiple_of=60, description="Rollback alarm period (ALB: 60s)."
    )
    alarm_evaluation_periods: int = Field(
        default=1, ge=1, le=5, description="Breaching periods before a rollback alarm fires."
    )

    def budget_inputs(
        self,
        *,
        prometheus_evaluation_interval: str,
        prometheus_scrape_interval: str,
        health_check_interval: int,
        health_check_unhealthy_threshold: int,
    ) -> BudgetInputs:
        """The rollback budget's terms: these settings and the other components' declared values."""
        return BudgetInputs(
            alarm_period=self.alarm_period_seconds,
            alarm_evaluation_periods=self.alarm_evaluation_periods,
            health_check_interval=health_check_interval,
            health_check_unhealthy_threshold=health_check_unhealthy_threshold,
            prometheus_evaluation_interval=duration_seconds(prometheus_evaluation_interval),
            prometheus_scrape_interval=duration_seconds(prometheus_scrape_interval),
            limit=self.budget_seconds,
        )
