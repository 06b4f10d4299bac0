"""Config of the admission policies (`codex-rollout:admission`), all optional with defaults.

The allow-lists default to the ones the CrossGuard pack uses (rollout_rules.admission), so the
cluster refuses what the pack refuses; a stack that changes one here should give the pack the
same value (`--policy-pack-config`).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from components.model import ConfigModel, check
from rollout_rules.admission import (
    DEFAULT_ALLOWED_LICENSES,
    DEFAULT_ALLOWED_REGISTRIES,
    DEFAULT_DENIED_LICENSES,
)
from rollout_rules.plan import TIERS

# The pinned chart: Gatekeeper v3.23.0 (Rego v1 in templates needs >= 3.19).
CHART_VERSION = "3.23.0"
_EXACT_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
_NAMESPACE_PATTERN = re.compile(r"^\*?[-:a-z0-9]*\*?$")
CPU = re.compile(r"^[0-9]+m?$")
MEMORY = re.compile(r"^[0-9]+(Ki|Mi|Gi)$")


class GatekeeperResources(ConfigModel):
    """Requests and limits of each Gatekeeper pod (controller and audit)."""

    cpu_request: str = Field(default="100m", description="CPU request.")
    cpu_limit: str = Field(default="1", description="CPU limit.")
    memory: str = Field(default="512Mi", description="Memory request and limit.")

    @field_validator("cpu_request", "cpu_limit")
    @classmethod
    def _cpu(cls, v: str) -> str:
        return check(CPU, v, "is not a CPU quantity (e.g. 100m or 1)")

    @field_validator("memory")
    @classmethod
    def _memory(cls, v: str) -> str:
        return check(MEMORY, v, "is not a memory quantity (e.g. 512Mi)")


class AdmissionConfig(ConfigModel):
    """OPA Gatekeeper and the admission constraints of the tier namespaces."""

    chart_version: str = Field(
        default=CHART_VERSION, description="Exact gatekeeper Helm chart version."
    )
    replicas: int = Field(default=3, ge=1, le=10, description="Webhook (controller) replicas.")
    failure_policy: Literal["Ignore", "Fail"] = Field(
        default="Ignore",
        description=(
            "What the API server does when the webhook does not answer: Ignore admits "
            "(audit still reports), Fail refuses."
        ),
    )
    lead_weeks: int = Field(
        default=1,
        ge=0,
        le=4,
        description="Deny from this many weeks before a tier first takes traffic.",
    )
    enforce_from_week: dict[str, int] = Field(
        default_factory=dict,
        description="Per tier: the week its constraints switch from dryrun to deny.",
    )
    allowed_registries: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ALLOWED_REGISTRIES),
        min_length=1,
        description="Registries (prefixes, '*' wildcards) images may come from.",
    )
    allowed_licenses: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ALLOWED_LICENSES),
        min_length=1,
        description="SPDX licences a workload's licence label may name.",
    )
    denied_licenses: list[str] = Field(
        default_factory=lambda: list(DEFAULT_DENIED_LICENSES),
        description="SPDX licences (and -only/-or-later variants) never admitted.",
    )
    resources: GatekeeperResources = Field(default_factory=GatekeeperResources)

    @field_validator("chart_version")
    @classmethod
    def _version(cls, v: str) -> str:
        return check(_EXACT_VERSION, v, "is not an exact chart version (e.g. 3.23.0)")

    @field_validator("enforce_from_week")
    @classmethod
    def _tiers(cls, v: dict[str, int]) -> dict[str, int]:
        for tier, week in v.items():
            if tier not in TIERS:
                raise ValueError(f"{tier!r} is not a tier ({', '.join(TIERS)})")
            if week < 1:
                raise ValueError(f"{tier}: {week} is not a week (weeks start at 1)")
        return v
