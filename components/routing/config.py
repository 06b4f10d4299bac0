"""Config of the public entry point (hostname, certificate, TLS) and the network it lives in."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from components.model import HOSTNAME, ConfigModel, check, cidr


class RoutingConfig(ConfigModel):
    """Public entry point of the coding system."""

    service: str = Field(description="The service the load balancer fronts (a services name).")
    hostname: str = Field(description="Public hostname, e.g. codex.example.com.")
    zone_id: str = Field(description="Route 53 hosted zone id holding the hostname.")
    certificate_arn: str = Field(description="ACM certificate ARN for the hostname.")
    ssl_policy: str = Field(
        default="ELBSecurityPolicy-TLS13-1-2-2021-06",
        description="ALB TLS security policy (TLS 1.2+ only).",
    )
    deletion_protection: bool = Field(description="ALB deletion protection.")
    access_log_retention_days: int = Field(
        default=90, ge=1, le=3650, description="Days ALB access logs are kept."
    )
    deregistration_delay_seconds: int = Field(
        default=15, ge=0, le=300, description="Target deregistration delay."
    )

    @field_validator("hostname")
    @classmethod
    def _hostname(cls, v: str) -> str:
        return check(HOSTNAME, v, "is not a fully qualified hostname")

    @field_validator("zone_id")
    @classmethod
    def _zone(cls, v: str) -> str:
        return check(re.compile(r"^Z[A-Z0-9]{4,31}$"), v, "is not a Route 53 hosted zone id")

    @field_validator("certificate_arn")
    @classmethod
    def _cert(cls, v: str) -> str:
        return check(re.compile(r"^arn:aws[a-z-]*:acm:"), v, "is not an ACM certificate ARN")

    @field_validator("ssl_policy")
    @classmethod
    def _ssl(cls, v: str) -> str:
        if not (v.startswith("ELBSecurityPolicy-TLS13-") or "TLS-1-2" in v):
            raise ValueError(f"{v!r} is not a TLS 1.2+ ALB security policy")
        return v


class NetworkConfig(ConfigModel):
    """The VPC the load balancer and pods live in."""

    vpc_id: str = Field(description="VPC id.")
    vpc_cidr: str = Field(description="VPC CIDR block (the ALB's source range for pods).")
    public_subnet_ids: list[str] = Field(description="Public subnets for the ALB (>= 2 AZs).")
    availability_zones: list[str] = Field(description="Zones the pods spread across.")

    @field_validator("vpc_id")
    @classmethod
    def _vpc(cls, v: str) -> str:
        return check(re.compile(r"^vpc-[0-9a-f]{8,17}$"), v, "is not a VPC id")

    @field_validator("vpc_cidr")
    @classmethod
    def _cidr(cls, v: str) -> str:
        return cidr(v)

    @field_validator("public_subnet_ids")
    @classmethod
    def _subnets(cls, v: list[str]) -> list[str]:
        for subnet in v:
            check(re.compile(r"^subnet-[0-9a-f]{8,17}$"), subnet, "is not a subnet id")
        if len(set(v)) < 2:
            raise ValueError(f"{len(set(v))} subnet(s) given (an ALB needs at least 2)")
        return v

    @field_validator("availability_zones")
    @classmethod
    def _zones(cls, v: list[str]) -> list[str]:
        if len(set(v)) < 2:
            raise ValueError(f"{len(set(v))} zone(s) given (spreading needs at least 2)")
        return v
