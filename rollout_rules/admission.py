"""Admission enforcement: what the cluster refuses, and from which week it refuses it.

The CrossGuard pack (at preview) and the Gatekeeper constraints (at admission) read the same
defaults from here, so the two engines never disagree because a list was edited in one place.
Enforcement lands like infrastructure: a tier's constraints start in `dryrun` (audit only) and
switch to `deny` from the week before the schedule first gives the tier traffic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rollout_rules.plan import DEFAULT_PLAN, TIERS, WeekPlan, first_week_with_traffic

DEFAULT_ALLOWED_REGISTRIES: tuple[str, ...] = (
    "*.dkr.ecr.*.amazonaws.com",
    "ghcr.io/codex-dominion",
)
"""Registries (or registry/path prefixes, '*' wildcards) images may come from."""
DEFAULT_ALLOWED_LICENSES: tuple[str, ...] = (
    "Apache-2.0",
    "MIT",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "ISC",
    "MPL-2.0",
    "LicenseRef-Codex-Proprietary",
)
"""SPDX licence identifiers a workload may carry in its licence label."""
DEFAULT_DENIED_LICENSES: tuple[str, ...] = ("AGPL-3.0", "SSPL-1.0", "BUSL-1.1")
"""SPDX identifiers (and their -only / -or-later variants) never allowed."""
ALLOWED_ADDED_CAPABILITIES: tuple[str, ...] = ("NET_BIND_SERVICE",)
"""The only capability a container of the restricted profile may add."""
ALLOWED_SECCOMP_PROFILES: tuple[str, ...] = ("RuntimeDefault", "Localhost")

DRYRUN = "dryrun"
DENY = "deny"
FIRST_ENFORCING_WEEK = 2
"""Gatekeeper and every constraint are declared from week 1; nothing denies in the week it is
installed, so even a tier with traffic from week 1 has one week of audit before it denies."""


def default_enforcement_week(
    tier: str, plan: Sequence[WeekPlan] = DEFAULT_PLAN, lead_weeks: int = 1
) -> int | None:
    """The week a tier's constraints switch to deny: `lead_weeks` before its first traffic,
    never before FIRST_ENFORCING_WEEK; None for a tier the plan never gives traffic."""
    first = first_week_with_traffic(tier, plan)
    if first is None:
        return None
    return max(first - lead_weeks, FIRST_ENFORCING_WEEK)


def enforcement_weeks(
    plan: Sequence[WeekPlan] = DEFAULT_PLAN,
    lead_weeks: int = 1,
    overrides: Mapping[str, int] | None = None,
) -> dict[str, int | None]:
    """The deny week of every tier: the configured one where given, else the default rule."""
    weeks: dict[str, int | None] = {}
    for tier in TIERS:
        given = (overrides or {}).get(tier)
        weeks[tier] = (
            given if given is not None else default_enforcement_week(tier, plan, lead_weeks)
        )
    return weeks


def override_error(tier: str, week: int, plan: Sequence[WeekPlan] = DEFAULT_PLAN) -> str | None:
    """Why a configured deny week is not acceptable, or None. Enforcement must be in place by
    the week the tier first takes traffic: denying later would let traffic in unguarded."""
    if week < 1:
        return f"{week} is not a week (weeks start at 1)"
    first = first_week_with_traffic(tier, plan)
    if first is not None and week > first:
        return (
            f"{week} is after week {first}, when {tier} first takes traffic "
            "(enforcement must land before traffic)"
        )
    return None


def enforcement_action(week: int, deny_from: int | None) -> str:
    """`deny` from `deny_from` on, `dryrun` before it (and forever when it is None)."""
    return DENY if deny_from is not None and week >= deny_from else DRYRUN
