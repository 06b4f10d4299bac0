"""Shared building blocks of the codex-rollout policy pack.

Policy metadata (frameworks, controls, severity -> enforcement), safe access to resource
properties as the engine sends them (camelCase wire names, unknowns raising
``UnknownValueError``), and the resource relations stack policies need (which resource refers to
which, by property dependency or by ARN/id).
"""

from __future__ import annotations

import functools
import json
import re
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

from pulumi_policy import (
    EnforcementLevel,
    PolicyComplianceFramework,
    PolicyConfigSchema,
    PolicyResource,
    ResourceRemediation,
    ResourceValidation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidation,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

from rollout_rules.contract import LISTENER_TYPE, PREVIEW_BLIND, TARGET_GROUP_TYPE

__all__ = [
    "CIS_AWS",
    "CIS_K8S",
    "GDPR",
    "LISTENER_TYPES",
    "LOAD_BALANCER_TYPES",
    "OPENCHAIN",
    "PREVIEW_BLIND",
    "SOC2",
    "TARGET_GROUP_TYPES",
    "Blind",
    "Control",
    "NotVerifiableAtPreviewError",
    "Report",
    "UnknownValueError",
    "aws_provider_region",
    "aws_tags",
    "by_type",
    "identifies",
    "is_unknown",
    "json_value",
    "mentions",
    "per_resource",
    "resource_policy",
    "stack_name",
    "stack_policy",
]


class Report(Protocol):
    """The SDK's report-violation callback; ``urn`` is optional (stack policies name the
    resource, resource policies never do)."""

    def __call__(self, message: str, urn: str | None = None) -> None: ...


ResourceCheck = Callable[[ResourceValidationArgs, Report], None]
StackCheck = Callable[[StackValidationArgs, Report], None]
Remediation = Callable[[ResourceValidationArgs], Mapping[str, Any] | None]

# ---------------------------------------------------------------------------------------------
# Frameworks and controls
# ---------------------------------------------------------------------------------------------

SOC2 = ("SOC 2", "2017 TSC (rev. 2022)")
GDPR = ("GDPR", "Regulation (EU) 2016/679")
CIS_AWS = ("CIS AWS Foundations Benchmark", "3.0.0")
CIS_K8S = ("CIS Kubernetes Benchmark", "1.9.0")
OPENCHAIN = ("OpenChain ISO/IEC 5230", "2020")


@dataclass(frozen=True)
class Control:
    """One control of one compliance framework that a policy helps to meet."""

    framework: str
    version: str
    reference: str

    @classmethod
    def of(cls, framework: tuple[str, str], reference: str) -> Control:
        return cls(framework[0], framework[1], reference)

    @property
    def tag(self) -> str:
        # Policy tags travel over the analyzer protocol, so the evaluator can rebuild the
        # coverage matrix from GetAnalyzerInfo alone.
        return f"control:{self.framework}:{self.reference}"


def parse_control_tag(tag: str) -> tuple[str, str] | None:
    """(framework, reference) of a ``control:`` tag, None for other tags."""
    if not tag.startswith("control:"):
        return None
    _, framework, reference = tag.split(":", 2)
    return framework, reference


# Severity decides the default enforcement: high and critical block a deployment.
_LEVEL_BY_SEVERITY = {
    Severity.LOW: EnforcementLevel.ADVISORY,
    Severity.MEDIUM: EnforcementLevel.ADVISORY,
    Severity.HIGH: EnforcementLevel.MANDATORY,
    Severity.CRITICAL: EnforcementLevel.MANDATORY,
}


def _common_kwargs(
    name: str,
    description: str,
    severity: Severity,
    controls: Sequence[Control],
    remediation: str,
    domain: str,
    config: Mapping[str, Mapping[str, Any]] | None,
) -> dict[str, Any]:
    if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name):
        raise ValueError(f"policy name {name!r} is not kebab-case")
    primary = controls[0]
    return {
        "name": name,
        "description": description,
        "enforcement_level": _LEVEL_BY_SEVERITY[severity],
        "config_schema": (
            PolicyConfigSchema(properties={k: dict(v) for k, v in config.items()})
            if config
            else None
        ),
        "severity": severity,
        "framework": PolicyComplianceFramework(
            name=primary.framework, version=primary.version, reference=primary.reference
        ),
        "tags": [f"domain:{domain}", *(c.tag for c in controls)],
        "remediation_steps": remediation,
    }


def resource_policy(
    *,
    name: str,
    description: str,
    severity: Severity,
    controls: Sequence[Control],
    remediation: str,
    domain: str,
    validate: ResourceCheck,
    config: Mapping[str, Mapping[str, Any]] | None = None,
    remediate: Remediation | None = None,
) -> ResourceValidationPolicy:
    """A resource policy with the house metadata: severity, framework controls, remediation
    and enforcement level (policies/README.md)."""
    return ResourceValidationPolicy(
        validate=cast(ResourceValidation, validate),
        remediate=cast(ResourceRemediation | None, remediate),
        **_common_kwargs(name, description, severity, controls, remediation, domain, config),
    )


def stack_policy(
    *,
    name: str,
    description: str,
    severity: Severity,
    controls: Sequence[Control],
    remediation: str,
    domain: str,
    validate: StackCheck,
    config: Mapping[str, Mapping[str, Any]] | None = None,
) -> StackValidationPolicy:
    """A stack policy with the house metadata: severity, framework controls, remediation and
    enforcement level (policies/README.md)."""
    return StackValidationPolicy(
        validate=cast(StackValidation, validate),
        **_common_kwargs(name, description, severity, controls, remediation, domain, config),
    )


def string_list_schema(description: str, default: Sequence[str]) -> dict[str, Any]:
    return {
        "type": "array",
        "items": {"type": "string", "minLength": 1},
        "uniqueItems": True,
        "description": description,
        "default": list(default),
    }


# ---------------------------------------------------------------------------------------------
# Property access
# ---------------------------------------------------------------------------------------------

_UNKNOWNS = frozenset(
    {
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
        "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
        "030794c1-ac77-496b-92df-f27374a8bd58",
        "e48ece36-62e2-4504-bad9-02848725956a",
        "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
    }
)


def is_unknown(value: Any) -> bool:
    """True for the engine's unknown sentinels (only visible through unwrapped containers)."""
    return isinstance(value, str) and value in _UNKNOWNS


class NotVerifiableAtPreviewError(UnknownValueError):
    """Raised by a policy, after it has evaluated everything it could, for what it could not see.

    The policy SDK turns an ``UnknownValueError`` escaping a policy into an advisory diagnostic
    ("can't run policy ... during preview: <message>"), the one way a mandatory policy can say
    "not verified" without failing the preview; the message names every value and resource.
    """

    def __init__(self, unknowns: Sequence[str]) -> None:
        Exception.__init__(self)
        self.unknown_type_sentinel = UNKNOWN_STRING_VALUE
        self.props: list[str] = []
        self.message = f"{PREVIEW_BLIND}: " + "; ".join(unknowns)


class Blind:
    """What one evaluation could not see; ``done()`` raises the advisory if anything."""

    def __init__(self) -> None:
        self.unknowns: list[str] = []

    def note(self, resource: PolicyResource, what: str) -> None:
        entry = f"{what} of {resource.resource_type} {resource.name!r} is unknown"
        if entry not in self.unknowns:
            self.unknowns.append(entry)

    def done(self) -> None:
        if self.unknowns:
            raise NotVerifiableAtPreviewError(self.unknowns)


def get(obj: Any, *path: str | int, default: Any = None) -> Any:
    """``obj[path[0]][path[1]]...`` or ``default`` when a step is missing or of the wrong kind.

    Unknown values still raise ``UnknownValueError`` (through the policy SDK's proxies), so a
    check that needs a value the preview cannot know is reported as not evaluated instead of
    passing silently.
    """
    current = obj
    for step in path:
        if isinstance(step, int):
            if not isinstance(current, Sequence) or isinstance(current, str):
                return default
            if step >= len(current):
                return default
            current = current[step]
        else:
            if not isinstance(current, Mapping) or step not in current:
                return default
            current = current[step]
        if current is None:
            return default
    return current


def as_list(value: Any) -> list[Any]:
    """A list for a list-like value, ``[value]`` for a scalar, ``[]`` for None."""
    if value is None:
        return []
    if isinstance(value, str | Mapping):
        return [value]
    if isinstance(value, Sequence):
        return [value[i] for i in range(len(value))]
    return [value]


def json_value(value: Any) -> Any:
    """Decode a JSON document given as a string (policy documents, config blobs); dicts pass."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def truthy(value: Any) -> bool:
    """Booleans as providers record them: true/false or the strings "true"/"false"."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return value is True


def as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def stack_name(urn: str) -> str:
    """The stack a URN belongs to: ``urn:pulumi:<stack>::<project>::<type>::<name>``."""
    head = urn.split("::", 1)[0]
    return head.split(":", 2)[2] if head.count(":") >= 2 else ""


_Resource = TypeVar("_Resource")
_Value = TypeVar("_Value")


def per_resource(derive: Callable[[_Resource], _Value]) -> Callable[[_Resource], _Value]:
    """``derive`` computed once per resource object and shared afterwards (callers must not
    change what it returns). Stack policies derive the same facts (effective tags, plain inputs)
    from the same resources; with the pack's one-pass analyzer every stack policy gets the same
    resource objects, so each fact is derived once per check instead of once per policy. An
    unknown value (``UnknownValueError``) is raised again on the next call, never remembered."""
    memo: weakref.WeakKeyDictionary[Any, _Value] = weakref.WeakKeyDictionary()

    @functools.wraps(derive)
    def derived(resource: _Resource) -> _Value:
        try:
            return memo[resource]
        except KeyError:
            value = memo[resource] = derive(resource)
            return value

    return derived


# ---------------------------------------------------------------------------------------------
# AWS specifics
# ---------------------------------------------------------------------------------------------

# pulumi-aws spells the load balancer resources under both its lb and its alb module.
LISTENER_TYPES = (LISTENER_TYPE, "aws:alb/listener:Listener")
TARGET_GROUP_TYPES = (TARGET_GROUP_TYPE, "aws:alb/targetGroup:TargetGroup")
LOAD_BALANCER_TYPES = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")


def aws_provider_region(provider_props: Mapping[str, Any] | None) -> str | None:
    region = get(provider_props, "region")
    return region if isinstance(region, str) and region else None


def aws_tags(props: Mapping[str, Any], provider_props: Mapping[str, Any] | None) -> dict[str, Any]:
    """Effective tags: the provider's default tags overlaid with the resource's own tags.

    Default provider inputs come from stack config, where objects are JSON-encoded strings.
    """
    merged: dict[str, Any] = {}
    default_tags = json_value(get(provider_props, "defaultTags"))
    if isinstance(default_tags, Mapping):
        inner = default_tags.get("tags")
        if isinstance(inner, Mapping):
            merged.update({k: inner[k] for k in inner})
    for key in ("tagsAll", "tags"):
        tags = get(props, key)
        if isinstance(tags, Mapping):
            merged.update({k: tags[k] for k in tags})
        else:
            # Auto Scaling groups take a list of {key, value, propagateAtLaunch}.
            for item in as_list(tags):
                if isinstance(get(item, "key"), str):
                    merged[get(item, "key")] = get(item, "value")
    return merged


# ---------------------------------------------------------------------------------------------
# Resource relations (stack policies)
# ---------------------------------------------------------------------------------------------


def by_type(resources: Iterable[PolicyResource], *types: str) -> Iterator[PolicyResource]:
    wanted = set(types)
    return (r for r in resources if r.resource_type in wanted)


def _identities(resource: PolicyResource) -> set[str]:
    """Strings other resources use to refer to this one: its ARN, id, name, and URN."""
    found = {resource.urn}
    for key in ("arn", "id", "bucket", "name"):
        try:
            value = resource.props.get(key)
        except UnknownValueError:
            continue
        if isinstance(value, str) and value and not is_unknown(value):
            found.add(value)
    return found


def identifies(value: Any, target: PolicyResource) -> bool:
    """Whether a plain value (an ARN, id or name) names ``target``."""
    return isinstance(value, str) and value in _identities(target)


def mentions(
    referrer: PolicyResource, prop: str, target: PolicyResource, value: Any = None
) -> bool:
    """Whether ``referrer``'s property ``prop`` refers to ``target``.

    Property dependencies are exact even when the referenced ARN or id is unknown at preview;
    a value match (ARN, id, name) covers state exported without dependency information.
    """
    deps = referrer.property_dependencies.get(prop)
    if deps and any(d.urn == target.urn for d in deps):
        return True
    if value is None:
        try:
            value = referrer.props.get(prop)
        except UnknownValueError:
            return False
    identities = _identities(target)
    return any(isinstance(v, str) and v in identities for v in _flatten(value))


def _flatten(value: Any) -> Iterator[Any]:
    if isinstance(value, Mapping):
        for key in value:
            try:
                yield from _flatten(value[key])
            except UnknownValueError:
                continue
    elif isinstance(value, Sequence) and not isinstance(value, str):
        for i in range(len(value)):
            try:
                yield from _flatten(value[i])
            except UnknownValueError:
                continue
    else:
        yield value
