"""The function's configuration: the environment variables the program sets, read and checked."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rollout_rules.contract import (
    ENV_AUDIT_TABLE,
    ENV_LEDGER_PARAMETER,
    ENV_LISTENER_ARN,
    ENV_NOTIFY_TOPIC_ARN,
    ENV_ROLLBACK_PLAN,
    ENV_STACK,
    ENV_TARGET_GROUPS,
    ENV_VARS,
    arn_suffix,
)
from rollout_rules.plan import TIERS, weights_error
from rollout_rules.rollback import NO_TIER


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
        target_groups = _json_env(env, ENV_TARGET_GROUPS)
        if not isinstance(target_groups, dict) or not target_groups:
            raise SettingsError(f"{ENV_TARGET_GROUPS}: not a JSON object of tier -> ARN")
        for tier, arn in target_groups.items():
            if tier not in TIERS or not isinstance(arn, str) or ":targetgroup/" not in arn:
                raise SettingsError(
                    f"{ENV_TARGET_GROUPS}: {tier!r} -> {arn!r} is not a tier -> target group ARN"
                )
        plan = _json_env(env, ENV_ROLLBACK_PLAN)
        allocations = plan.get("allocations") if isinstance(plan, dict) else None
        if not isinstance(allocations, dict) or NO_TIER not in allocations:
            raise SettingsError(
                f'{ENV_ROLLBACK_PLAN}: no "allocations" object with a "{NO_TIER}" entry'
            )
        for key, allocation in allocations.items():
            if key != NO_TIER and key not in TIERS:
                raise SettingsError(f"{ENV_ROLLBACK_PLAN}: allocation key {key!r} is no tier")
            if not isinstance(allocation, dict) or weights_error(allocation) is not None:
                raise SettingsError(
                    f"{ENV_ROLLBACK_PLAN}: allocation {key!r} is not tier weights summing to 100"
                )
        return cls(
            stack=env[ENV_STACK],
            listener_arn=env[ENV_LISTENER_ARN],
            target_groups=dict(target_groups),
            plan=plan,
            ledger_parameter=env[ENV_LEDGER_PARAMETER],
            audit_table=env[ENV_AUDIT_TABLE],
            notify_topic_arn=env[ENV_NOTIFY_TOPIC_ARN],
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
