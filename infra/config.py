"""Typed stack config: one pydantic model tree for the whole `codex-rollout:` namespace.

The same models validate config in two places: the Pulumi program (values from the engine) and
the offline tools (values read from Pulumi.<stack>.yaml, where `secure:` values stay opaque).
Any invalid value becomes one ConfigError whose message names the key path, the value and the
rule, e.g. `codex-rollout:rollout.week: 0 is not a week (weeks start at 1)`.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from infra.schedule import TIERS, Allocation, PlanError, WeekPlan, validate_plan

PROJECT = "codex-rollout"
NAMESPACE = f"{PROJECT}:"
REPO_ROOT = Path(__file__).resolve().parent.parent
# Shown in place of a `secure:` value offline: the ciphertext cannot be decrypted without the
# stack's secrets provider, and the offline tools never need the plaintext.
OFFLINE_SECRET = "[secret]"


class ConfigError(Exception):
    """Invalid stack config. str(err) is the one-line message shown to the user."""


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$")
IMAGE_BY_DIGEST = re.compile(
    r"^(?P<registry>[a-z0-9.-]+(:[0-9]+)?)/(?P<repo>[a-z0-9._/-]+)(:[\w.-]+)?@sha256:[0-9a-f]{64}$"
)
SPDX_ID = re.compile(r"^[A-Za-z0-9.+-]+$")
CPU_QUANTITY = re.compile(r"^([0-9]+m|[0-9]+(\.[0-9]+)?)$")
MEMORY_QUANTITY = re.compile(r"^[0-9]+(Ki|Mi|Gi|Ti)$")
K8S_VERSION = re.compile(r"^1\.(2[5-9]|3[0-9])$")
DURATION = re.compile(r"^[0-9]+(s|m|h|d|w|y)$")
ARN = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:[0-9]{0,12}:.+$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")
HOSTNAME = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,}$")


def _check(pattern: re.Pattern[str], value: str, rule: str) -> str:
    if not pattern.match(value):
        raise ValueError(f"{value!r} {rule}")
    return value


# ---------------------------------------------------------------------------------------------
# rollout


class AllocationConfig(_Model):
    """Traffic share per tier for one week of a custom plan."""

    sandbox: int = Field(description="Percent of traffic to the sandbox tier.")
    canary: int = Field(description="Percent of traffic to the canary tier.")
    production: int = Field(description="Percent of traffic to the production tier.")


class PlanWeekConfig(_Model):
    """One week of a custom plan."""

    week: int = Field(description="Week number, contiguous from 1.")
    phase: str = Field(min_length=1, description="Name of the phase this week belongs to.")
    allocation: AllocationConfig


class RolloutConfig(_Model):
    """Where the stack is in the rollout."""

    week: int = Field(description="The rollout week this stack declares (1-based).")
    plan: list[PlanWeekConfig] | None = Field(
        default=None, description="Custom plan overriding the default traffic table."
    )

    @field_validator("week")
    @classmethod
    def _week(cls, week: int) -> int:
        if week < 1:
            raise ValueError(f"{week} is not a week (weeks start at 1)")
        return week

    @field_validator("plan")
    @classmethod
    def _plan(cls, plan: list[PlanWeekConfig] | None) -> list[PlanWeekConfig] | None:
        if plan is not None:
            try:
                validate_plan([_to_week_plan(row) for row in plan])
            except PlanError as err:
                raise ValueError(f"invalid plan: {err}") from None
        return plan

    def schedule(self) -> tuple[WeekPlan, ...] | None:
        """The custom plan as schedule rows, or None for the default plan."""
        return None if self.plan is None else tuple(_to_week_plan(row) for row in self.plan)


def _to_week_plan(row: PlanWeekConfig) -> WeekPlan:
    a = row.allocation
    return WeekPlan(row.week, row.phase, Allocation(a.sandbox, a.canary, a.production))


# ---------------------------------------------------------------------------------------------
# services


class TierSizing(_Model):
    """Size of one service in one tier."""

    replicas: int = Field(ge=1, le=200, description="Minimum (and initial) replicas.")
    max_replicas: int = Field(ge=1, le=500, description="Upper bound for the autoscaler.")
    cpu: str = Field(description="CPU request and limit, a Kubernetes quantity (e.g. 500m).")
    memory: str = Field(description="Memory request and limit, a Kubernetes quantity (512Mi).")

    @field_validator("cpu")
    @classmethod
    def _cpu(cls, v: str) -> str:
        return _check(CPU_QUANTITY, v, "is not a CPU quantity (e.g. 250m or 2)")

    @field_validator("memory")
    @classmethod
    def _memory(cls, v: str) -> str:
        return _check(MEMORY_QUANTITY, v, "is not a memory quantity (e.g. 512Mi or 2Gi)")

    @model_validator(mode="after")
    def _bounds(self) -> TierSizing:
        if self.max_replicas < self.replicas:
            raise ValueError(f"maxReplicas: {self.max_replicas} is below replicas {self.replicas}")
        return self


class SloConfig(_Model):
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


class EgressRule(_Model):
    """One destination a service needs to reach."""

    cidr: str = Field(description="Destination network in CIDR notation.")
    port: int = Field(ge=1, le=65535, description="Destination TCP port.")
    description: str = Field(min_length=1, description="Why the service needs it.")

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, v: str) -> str:
        try:
            ipaddress.ip_network(v, strict=True)
        except ValueError:
            raise ValueError(f"{v!r} is not a CIDR block") from None
        return v


class ServiceConfig(_Model):
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
        return _check(DNS_LABEL, v, "is not a DNS label (lower-case letters, digits, '-')")

    @field_validator("image")
    @classmethod
    def _image(cls, v: str) -> str:
        return _check(
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
        return _check(SPDX_ID, v, "is not an SPDX licence identifier")

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


# ---------------------------------------------------------------------------------------------
# routing, alerting, cluster, network, tags


class RoutingConfig(_Model):
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
        return _check(HOSTNAME, v, "is not a fully qualified hostname")

    @field_validator("zone_id")
    @classmethod
    def _zone(cls, v: str) -> str:
        return _check(re.compile(r"^Z[A-Z0-9]{4,31}$"), v, "is not a Route 53 hosted zone id")

    @field_validator("certificate_arn")
    @classmethod
    def _cert(cls, v: str) -> str:
        return _check(re.compile(r"^arn:aws[a-z-]*:acm:"), v, "is not an ACM certificate ARN")

    @field_validator("ssl_policy")
    @classmethod
    def _ssl(cls, v: str) -> str:
        if not (v.startswith("ELBSecurityPolicy-TLS13-") or "TLS-1-2" in v):
            raise ValueError(f"{v!r} is not a TLS 1.2+ ALB security policy")
        return v


class EmailConfig(_Model):
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
            _check(EMAIL, address, "is not an email address")
        return v

    @field_validator("sender")
    @classmethod
    def _from(cls, v: str) -> str:
        return _check(EMAIL, v, "is not an email address")

    @field_validator("smarthost")
    @classmethod
    def _smarthost(cls, v: str) -> str:
        return _check(re.compile(r"^[a-z0-9.-]+:[0-9]{2,5}$"), v, "is not host:port")


class AlertingConfig(_Model):
    """Channels people are alerted through; credentials are Pulumi secrets."""

    pagerduty_routing_key: SecretStr = Field(description="PagerDuty Events v2 routing key.")
    slack_webhook_url: SecretStr = Field(description="Slack incoming webhook URL.")
    slack_channel: str = Field(description="Slack channel, e.g. #codex-alerts.")
    email: EmailConfig

    @field_validator("slack_channel")
    @classmethod
    def _channel(cls, v: str) -> str:
        return _check(re.compile(r"^#[a-z0-9_-]+$"), v, "is not a Slack channel (#name)")


class ClusterConfig(_Model):
    """Access to the EKS cluster the tiers run in."""

    name: str = Field(description="EKS cluster name.")
    kubernetes_version: str = Field(description="Kubernetes minor version, e.g. 1.31.")
    kubeconfig: SecretStr = Field(description="Kubeconfig for the cluster (secret).")
    oidc_provider_arn: str = Field(description="IAM OIDC provider ARN of the cluster (IRSA).")
    oidc_issuer: str = Field(description="OIDC issuer host/path, without https://.")

    @field_validator("kubernetes_version")
    @classmethod
    def _version(cls, v: str) -> str:
        return _check(K8S_VERSION, v, "is not a supported Kubernetes minor version (1.25-1.39)")

    @field_validator("oidc_provider_arn")
    @classmethod
    def _oidc_arn(cls, v: str) -> str:
        return _check(
            re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/.+$"),
            v,
            "is not an IAM OIDC provider ARN",
        )

    @field_validator("oidc_issuer")
    @classmethod
    def _issuer(cls, v: str) -> str:
        if v.startswith("https://"):
            raise ValueError(f"{v!r} must not include the https:// scheme")
        return v


class NetworkConfig(_Model):
    """The VPC the load balancer and pods live in."""

    vpc_id: str = Field(description="VPC id.")
    vpc_cidr: str = Field(description="VPC CIDR block (the ALB's source range for pods).")
    public_subnet_ids: list[str] = Field(description="Public subnets for the ALB (>= 2 AZs).")
    availability_zones: list[str] = Field(description="Zones the pods spread across.")

    @field_validator("vpc_id")
    @classmethod
    def _vpc(cls, v: str) -> str:
        return _check(re.compile(r"^vpc-[0-9a-f]{8,17}$"), v, "is not a VPC id")

    @field_validator("vpc_cidr")
    @classmethod
    def _cidr(cls, v: str) -> str:
        try:
            ipaddress.ip_network(v, strict=True)
        except ValueError:
            raise ValueError(f"{v!r} is not a CIDR block") from None
        return v

    @field_validator("public_subnet_ids")
    @classmethod
    def _subnets(cls, v: list[str]) -> list[str]:
        for subnet in v:
            _check(re.compile(r"^subnet-[0-9a-f]{8,17}$"), subnet, "is not a subnet id")
        if len(set(v)) < 2:
            raise ValueError(f"{len(set(v))} subnet(s) given (an ALB needs at least 2)")
        return v

    @field_validator("availability_zones")
    @classmethod
    def _zones(cls, v: list[str]) -> list[str]:
        if len(set(v)) < 2:
            raise ValueError(f"{len(set(v))} zone(s) given (spreading needs at least 2)")
        return v


class TagsConfig(_Model):
    """Tags every taggable AWS resource carries (and labels on Kubernetes objects)."""

    owner: str = Field(min_length=1, description="Owning team.")
    cost_center: str = Field(alias="cost-center", min_length=1, description="Cost centre.")
    environment: str = Field(min_length=1, description="Environment name, e.g. production.")
    data_classification: Literal["public", "internal", "confidential", "personal"] = Field(
        alias="data-classification", description="Highest class of data handled."
    )

    def as_dict(self) -> dict[str, str]:
        return self.model_dump(by_alias=True)


# ---------------------------------------------------------------------------------------------
# observability and rollback


class ThresholdsConfig(_Model):
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


class ObservabilityConfig(_Model):
    """Prometheus, Alertmanager and Grafana settings."""

    thresholds: ThresholdsConfig = Field(default_factory=ThresholdsConfig)
    retention: str = Field(default="15d", description="Prometheus retention (duration).")
    storage_size: str = Field(default="50Gi", description="Prometheus volume size.")
    storage_class: str = Field(default="gp3", description="StorageClass for Prometheus.")
    evaluation_interval: str = Field(default="15s", description="Rule evaluation interval.")
    grafana_admin_password: SecretStr = Field(description="Grafana admin password (secret).")

    @field_validator("retention", "evaluation_interval")
    @classmethod
    def _duration(cls, v: str) -> str:
        return _check(DURATION, v, "is not a duration (e.g. 15s, 15d)")

    @field_validator("storage_size")
    @classmethod
    def _size(cls, v: str) -> str:
        return _check(MEMORY_QUANTITY, v, "is not a storage quantity (e.g. 50Gi)")


class RollbackConfig(_Model):
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


# ---------------------------------------------------------------------------------------------
# the whole namespace


class StackConfig(_Model):
    """Everything under `codex-rollout:` plus the stack's AWS region."""

    region: str = Field(alias="aws:region", description="AWS region of the stack.")
    rollout: RolloutConfig
    services: list[ServiceConfig] = Field(min_length=1)
    routing: RoutingConfig
    alerting: AlertingConfig
    cluster: ClusterConfig
    network: NetworkConfig
    tags: TagsConfig
    observability: ObservabilityConfig
    rollback: RollbackConfig = Field(default_factory=RollbackConfig)

    @field_validator("region")
    @classmethod
    def _region(cls, v: str) -> str:
        return _check(re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$"), v, "is not an AWS region")

    @field_validator("services")
    @classmethod
    def _unique(cls, v: list[ServiceConfig]) -> list[ServiceConfig]:
        seen: set[str] = set()
        for service in v:
            if service.name in seen:
                raise ValueError(f"service name {service.name!r} is used twice")
            seen.add(service.name)
        return v

    @model_validator(mode="after")
    def _routed_service(self) -> StackConfig:
        names = [s.name for s in self.services]
        if self.routing.service not in names:
            raise ValueError(
                f"routing.service: {self.routing.service!r} is not one of the services "
                f"({', '.join(names)})"
            )
        return self

    def schedule(self) -> tuple[WeekPlan, ...] | None:
        return self.rollout.schedule()

    def service(self, name: str) -> ServiceConfig:
        return next(s for s in self.services if s.name == name)

    @property
    def routed_service(self) -> ServiceConfig:
        return self.service(self.routing.service)


NAMESPACE_KEYS = tuple(name for name in StackConfig.model_fields if name != "region")


# ---------------------------------------------------------------------------------------------
# loading and error messages


def _key_path(loc: tuple[int | str, ...]) -> str:
    if not loc:
        return PROJECT
    head, *rest = loc
    path = str(head) if str(head).startswith("aws:") else f"{NAMESPACE}{head}"
    for part in rest:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


_NAMED_RULE = re.compile(r"^([A-Za-z][\w-]*(?:\.[A-Za-z][\w-]*|\[\d+\])*): (.+)$")


def _message(err: ValidationError) -> str:
    first = err.errors(include_url=False)[0]
    loc = tuple(p for p in first["loc"] if not str(p).startswith("function-"))
    path = _key_path(loc)
    kind = first["type"]
    if kind == "missing":
        return f"{path}: required key is missing"
    if kind == "extra_forbidden":
        return f"{path}: unknown key (check its spelling)"
    msg = str(first["msg"])
    if msg.startswith("Value error, "):
        text = msg.removeprefix("Value error, ")
        # Cross-field rules name the key they are about: "<key.path>: <value and rule>".
        named = _NAMED_RULE.match(text)
        if named:
            key, text = named.groups()
            path = f"{NAMESPACE}{key}" if not loc else f"{path}.{key}"
        return f"{path}: {text}"
    value = first.get("input")
    shown = "<secret>" if "secret" in path.lower() or "password" in path.lower() else repr(value)
    return f"{path}: {shown} is invalid ({msg[0].lower() + msg[1:]})"


def secret_paths(model: BaseModel, prefix: tuple[int | str, ...] = ()) -> Iterator[tuple]:
    """Key paths (as in the config) of every secret-typed field of `model`."""
    for name, field in type(model).model_fields.items():
        key = field.alias or name
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            yield (*prefix, key)
        elif isinstance(value, BaseModel):
            yield from secret_paths(value, (*prefix, key))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    yield from secret_paths(item, (*prefix, key, i))


def parse(
    values: Mapping[str, Any], is_secret: Callable[[tuple[int | str, ...]], bool]
) -> StackConfig:
    """Validate raw config values (top-level keys without the namespace) into a StackConfig.

    `is_secret(path)` says whether the value at `path` came from a Pulumi secret; a secret-typed
    field holding a plaintext value is an error, so credentials never sit in a stack file.
    """
    try:
        config = StackConfig.model_validate(dict(values))
    except ValidationError as err:
        raise ConfigError(_message(err)) from None
    for path in secret_paths(config):
        if not is_secret(path):
            key = _key_path(path)
            raise ConfigError(
                f"{key}: plaintext value where a secret is required "
                f"(set it with: pulumi config set --secret --path '{key}' <value>)"
            )
    return config


# -- offline: Pulumi.<stack>.yaml ---------------------------------------------------------------


def stack_file(stack: str, root: Path = REPO_ROOT) -> Path:
    return root / f"Pulumi.{stack}.yaml"


def _offline_values(raw: Any, path: tuple[int | str, ...], secure: set[tuple]) -> Any:
    """Replace `secure:` values by an opaque placeholder and remember where they were."""
    if isinstance(raw, dict):
        if set(raw) == {"secure"}:
            secure.add(path)
            return OFFLINE_SECRET
        return {k: _offline_values(v, (*path, k), secure) for k, v in raw.items()}
    if isinstance(raw, list):
        return [_offline_values(v, (*path, i), secure) for i, v in enumerate(raw)]
    return raw


class OfflineConfig:
    """A stack file read offline: the validated model plus the raw values the engine would pass.

    `week`, when given, replaces `rollout.week` as `pulumi config set` would, and is validated
    with the rest.
    """

    def __init__(self, stack: str, root: Path = REPO_ROOT, week: int | None = None) -> None:
        path = stack_file(stack, root)
        if not path.is_file():
            raise ConfigError(
                f"{path.name}: no such stack file (stacks: {', '.join(stacks(root))})"
            )
        try:
            document = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"{path.name}:{where} is not valid YAML") from None
        raw = document.get("config") if isinstance(document, dict) else None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path.name}: has no `config:` mapping")
        self.stack = stack
        self.secure: set[tuple] = set()
        # Engine-style flat config: "<namespace>:<key>" -> value (objects as JSON strings).
        self.engine_config: dict[str, str] = {}
        self.secret_keys: list[str] = []
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if not isinstance(key, str) or ":" not in key:
                raise ConfigError(f"{path.name}: config key {key!r} has no namespace")
            namespace, _, name = key.partition(":")
            plain = _offline_values(value, (name,) if namespace == PROJECT else (key,), self.secure)
            self.engine_config[key] = plain if isinstance(plain, str) else json.dumps(plain)
            if any(p[0] in (name, key) for p in self.secure):
                self.secret_keys.append(key)
            if namespace == PROJECT:
                if name not in NAMESPACE_KEYS:
                    raise ConfigError(f"{key}: unknown key (check its spelling)")
                values[name] = plain
            elif key == "aws:region":
                values[key] = plain
        self.model = parse(values, lambda p: p in self.secure)
        if week is not None:
            # The file itself must be valid too; then the week is replaced and checked.
            values["rollout"] = {**values["rollout"], "week": week}
            self.engine_config[f"{NAMESPACE}rollout"] = json.dumps(values["rollout"])
            self.model = parse(values, lambda p: p in self.secure)


def project_root(start: Path | None = None) -> Path:
    """The Pulumi project directory: the nearest one holding Pulumi.yaml, as the CLI finds it."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "Pulumi.yaml").is_file():
            return candidate
    return REPO_ROOT


def stacks(root: Path = REPO_ROOT) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in root.glob("Pulumi.*.yaml"))


def load_offline(stack: str, root: Path = REPO_ROOT, week: int | None = None) -> OfflineConfig:
    return OfflineConfig(stack, root, week)


# -- in the program: values from the engine ------------------------------------------------------


def load_from_engine() -> StackConfig:
    """Read and validate the stack config the engine passed to this program."""
    from pulumi.runtime import config as runtime_config

    known = dict(runtime_config.get_config_env())
    known.update(runtime_config.CONFIG.get())
    values: dict[str, Any] = {}
    for key in known:
        if key.startswith(NAMESPACE) and key[len(NAMESPACE) :] not in NAMESPACE_KEYS:
            raise ConfigError(f"{key}: unknown key (check its spelling)")
    for name in (*NAMESPACE_KEYS, "aws:region"):
        key = name if name.startswith("aws:") else f"{NAMESPACE}{name}"
        raw = runtime_config.get_config(key)
        if raw is None:
            continue
        values[name] = decode_config_value(raw)

    def is_secret(path: tuple[int | str, ...]) -> bool:
        # The engine marks a whole top-level key secret when any value under it is `secure:`.
        return runtime_config.is_config_secret(f"{NAMESPACE}{path[0]}")

    return parse(values, is_secret)


def decode_config_value(raw: Any) -> Any:
    """A config value as the engine passes it: objects and lists arrive as JSON text."""
    if isinstance(raw, str) and raw[:1] in "[{":
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw
