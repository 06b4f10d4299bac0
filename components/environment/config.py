"""The services an environment tier runs: image, ports, licence, sizing per tier, SLO, egress."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from components.model import MEMORY_QUANTITY, ConfigModel, check, cidr
from rollout_rules.plan import TIERS

DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$")
IMAGE_BY_DIGEST = re.compile(
    r"^(?P<registry>[a-z0-9.-]+(:[0-9]+)?)/(?P<repo>[a-z0-9._/-]+)(:[\w.-]+)?@sha256:[0-9a-f]{64}$"
)
SPDX_ID = re.compile(r"^[A-Za-z0-9.+-]+$")
CPU_QUANTITY = re.compile(r"^([0-9]+m|[0-9]+(\.[0-9]+)?)$")


class TierSizing(ConfigModel):
    """Size of one service in one tier."""

    replicas: int = Field(ge=1, le=200, description="Minimum (and initial) replicas.")
    max_replicas: int = Field(ge=1, le=500, description="Upper bound for the autoscaler.")
    cpu: str = Field(description="CPU request and limit, a Kubernetes quantity (e.g. 500m).")
    memory: str = Field(description="Memory request and limit, a Kubernetes quantity (512Mi).")

    @field_validator("cpu")
    @classmethod
    def _cpu(cls, v: str) -> str:
        return check(CPU_QUANTITY, v, "is not a CPU quantity (e.g. 250m or 2)")

    @field_validator("memory")
    @classmethod
    def _memory(cls, v: str) -> str:
        return check(MEMORY_QUANTITY, v, "is not a memory quantity (e.g. 512Mi or 2Gi)")

    @model_validator(mode="after")
    def _bounds(self) -> TierSizing:
        if self.max_replicas < self.replicas:
            raise ValueError(f"maxReplicas: {self.max_replicas} is below replicas {self.replicas}")
        return self


class SloConfig(ConfigModel):
    """Service level objectives."""

    availability: float = Field(
        description="Availability target in percent of successful requests, e.g. 99.9."
    )
    latency_p95_ms: int = Field(gt=0, le=60000, description="p95 latency target in ms.")

    @field_validator("availability")
    @classmethod
    def _availability(cls, v: float) -> float:
        if not 50.0 <= v < 100.0:
            raise ValueError(f"{v} is not an availability target (a percentage in [50, 100))")
        return v


class EgressRule(ConfigModel):
    """One destination a service needs to reach."""

    cidr: str = Field(description="Destination network in CIDR notation.")
    port: int = Field(ge=1, le=65535, description="Destination TCP port.")
    description: str = Field(min_length=1, description="Why the service needs it.")

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, v: str) -> str:
        return cidr(v)


class ServiceConfig(ConfigModel):
    """One service of the coding system."""

    name: str = Field(description="Service name, a DNS label.")
    image: str = Field(description="Container image pinned by digest.")
    port: int = Field(ge=1024, le=65535, description="HTTP port the container listens on.")
    metrics_port: int = Field(ge=1024, le=65535, description="Port serving /metrics.")
    health_path: str = Field(description="HTTP path of the health endpoint.")
    license: str = Field(description="SPDX licence identifier of the service.")
    tiers: dict[str, TierSizing] = Field(
        description="Sizing per tier: sandbox, canary, production."
    )
    slo: SloConfig
    egress: list[EgressRule] = Field(default_factory=list, description="Allowed egress.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check(DNS_LABEL, v, "is not a DNS label (lower-case letters, digits, '-')")

    @field_validator("image")
    @classmethod
    def _image(cls, v: str) -> str:
        return check(
            IMAGE_BY_DIGEST, v, "is not pinned by digest (expected registry/repo@sha256:<64 hex>)"
        )

    @field_validator("health_path")
    @classmethod
    def _health(cls, v: str) -> str:
        if not v.startswith("/") or " " in v:
            raise ValueError(f"{v!r} is not an absolute URL path")
        return v

    @field_validator("license")
    @classmethod
    def _license(cls, v: str) -> str:
        return check(SPDX_ID, v, "is not an SPDX licence identifier")

    @field_validator("tiers")
    @classmethod
    def _tiers(cls, v: dict[str, TierSizing]) -> dict[str, TierSizing]:
        unknown = sorted(set(v) - set(TIERS))
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not a tier (tiers: {', '.join(TIERS)})")
        missing = [t for t in TIERS if t not in v]
        if missing:
            raise ValueError(f"sizing for tier {missing[0]!r} is missing (every tier is sized)")
        return v

    @model_validator(mode="after")
    def _ports(self) -> ServiceConfig:
        if self.port == self.metrics_port:
            raise ValueError(f"metricsPort: {self.metrics_port} must be different from port")
        return self

    @property
    def registry(self) -> str:
        match = IMAGE_BY_DIGEST.match(self.image)
        assert match is not None  # validated above
        return match.group("registry")
