"""Typed stack config: one pydantic model tree for the whole `codex-rollout:` namespace.

The stack model composes the components' own config models (each beside its component) with the
few that belong to the stack as a whole (rollout week, cluster access, tags). The program reads
values from the engine (`load_from_engine`); the tooling reads the same model from
Pulumi.<stack>.yaml. Any invalid value becomes one ConfigError whose message names the key path,
the value and the rule, e.g. `codex-rollout:rollout.week: 0 is not a week (weeks start at 1)`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator

from components.admission.config import AdmissionConfig
from components.environment.config import ServiceConfig
from components.model import ConfigModel, check
from components.observability.config import AlertingConfig, ObservabilityConfig
from components.promotion.config import PromotionConfig
from components.rollback.config import RollbackConfig
from components.routing.config import NetworkConfig, RoutingConfig
from rollout_rules.admission import enforcement_weeks, override_error
from rollout_rules.contract import PROJECT, account_from_arn
from rollout_rules.errors import ConfigError, PlanError
from rollout_rules.plan import (
    DEFAULT_PLAN,
    Allocation,
    WeekPlan,
    validate_plan,
    week_bound_error,
)

__all__ = ["PROJECT", "ConfigError", "StackConfig"]

NAMESPACE = f"{PROJECT}:"
K8S_VERSION = re.compile(r"^1\.(2[5-9]|3[0-9])$")


# ---------------------------------------------------------------------------------------------
# rollout


class AllocationConfig(ConfigModel):
    """Traffic share per tier for one week of a custom plan."""

    sandbox: int = Field(description="Percent of traffic to the sandbox tier.")
    canary: int = Field(description="Percent of traffic to the canary tier.")
    production: int = Field(description="Percent of traffic to the production tier.")


class PlanWeekConfig(ConfigModel):
    """One week of a custom plan."""

    week: int = Field(description="Week number, contiguous from 1.")
    phase: str = Field(min_length=1, description="Name of the phase this week belongs to.")
    allocation: AllocationConfig


class RolloutConfig(ConfigModel):
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

    @model_validator(mode="after")
    def _week_in_plan(self) -> RolloutConfig:
        problem = week_bound_error(self.week, self.schedule() or DEFAULT_PLAN)
        if problem is not None:
            raise ValueError(f"week: {problem}")
        return self

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
# cluster and tags


class ClusterConfig(ConfigModel):
    """Access to the EKS cluster the tiers run in."""

    name: str = Field(description="EKS cluster name.")
    kubernetes_version: str = Field(description="Kubernetes minor version, e.g. 1.31.")
    kubeconfig: SecretStr = Field(description="Kubeconfig for the cluster (secret).")
    oidc_provider_arn: str = Field(description="IAM OIDC provider ARN of the cluster (IRSA).")
    oidc_issuer: str = Field(description="OIDC issuer host/path, without https://.")

    @field_validator("kubernetes_version")
    @classmethod
    def _version(cls, v: str) -> str:
        return check(K8S_VERSION, v, "is not a supported Kubernetes minor version (1.25-1.39)")

    @field_validator("oidc_provider_arn")
    @classmethod
    def _oidc_arn(cls, v: str) -> str:
        return check(
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


class TagsConfig(ConfigModel):
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
# the whole namespace


class StackConfig(ConfigModel):
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
    promotion: PromotionConfig = Field(default_factory=PromotionConfig)
    admission: AdmissionConfig = Field(default_factory=AdmissionConfig)

    @field_validator("region")
    @classmethod
    def _region(cls, v: str) -> str:
        return check(re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$"), v, "is not an AWS region")

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

    @model_validator(mode="after")
    def _one_region(self) -> StackConfig:
        # A stack is one (account, region) copy: an ALB's certificate must be in the ALB's
        # region, the cluster's OIDC provider and subnets are where the cluster is, and images
        # come from the region's registry. A copied stack file with only aws:region changed
        # would validate and then fail to deploy.
        document = self.model_dump(by_alias=True, exclude={"region"})
        for key, region, what in embedded_regions(document):
            if region != self.region:
                raise ValueError(
                    f"{key}: {what} is in {region}, but the stack's aws:region is {self.region} "
                    "(a stack is one region: change one or the other)"
                )
        return self

    @model_validator(mode="after")
    def _enforcement_weeks(self) -> StackConfig:
        for tier, week in self.admission.enforce_from_week.items():
            problem = override_error(tier, week, self.schedule())
            if problem:
                raise ValueError(f"admission.enforceFromWeek.{tier}: {problem}")
        return self

    def deny_weeks(self) -> dict[str, int | None]:
        """Per tier: the week its admission constraints switch from dryrun to deny."""
        return enforcement_weeks(
            self.schedule(), self.admission.lead_weeks, self.admission.enforce_from_week
        )

    def schedule(self) -> tuple[WeekPlan, ...]:
        """The plan in effect: the stack's custom plan, else the default one."""
        return self.rollout.schedule() or DEFAULT_PLAN

    @property
    def account_id(self) -> str:
        """The stack's AWS account: the one holding the cluster's OIDC provider."""
        return account_from_arn(self.cluster.oidc_provider_arn)

    def service(self, name: str) -> ServiceConfig:
        return next(s for s in self.services if s.name == name)

    @property
    def routed_service(self) -> ServiceConfig:
        return self.service(self.routing.service)


NAMESPACE_KEYS = tuple(name for name in StackConfig.model_fields if name != "region")

# Where a config value names a region: the region field of an ARN, an ECR registry host, an EKS
# OIDC issuer host, an availability zone (the region plus one letter).
_ARN_REGION = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:([a-z]{2}(?:-gov)?-[a-z]+-[0-9]):")
_ECR_HOST = re.compile(r"^[0-9]{12}\.dkr\.ecr(?:-fips)?\.([a-z]{2}(?:-gov)?-[a-z]+-[0-9])\.")
_EKS_OIDC = re.compile(r"oidc\.eks\.([a-z]{2}(?:-gov)?-[a-z]+-[0-9])\.amazonaws\.com")
_ZONE = re.compile(r"^([a-z]{2}(?:-gov)?-[a-z]+-[0-9])[a-z]$")


def embedded_regions(value: Any, key: str = "") -> Iterator[tuple[str, str, str]]:
    """(key path, region, what) for every region named inside a config value."""
    if isinstance(value, dict):
        for name, item in value.items():
            yield from embedded_regions(item, f"{key}.{name}" if key else str(name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from embedded_regions(item, f"{key}[{index}]")
    elif isinstance(value, str):
        for pattern, what in (
            (_ARN_REGION, "the ARN"),
            (_ECR_HOST, "the ECR registry"),
            (_EKS_OIDC, "the EKS OIDC issuer"),
            (_ZONE, "the availability zone"),
        ):
            found = pattern.search(value)
            if found:
                yield key, found.group(1), f"{what} {value!r}"
                break


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
