"""Every recorded resource's inputs, both stacks, weeks 1-12, against the provider schema as the
installed SDKs encode it: the pulumi_aws and pulumi_kubernetes args classes (property names as
the wire spells them, required inputs at any depth, primitive types, enum and literal values).

Custom resources of CRDs (Prometheus operator, AWS LB controller, Gatekeeper) have no args class
in the SDK; their schemas are checked by the manifest validators (tests/schemas).
"""

from __future__ import annotations

import collections.abc
import copy
import enum
import importlib
import sys
import typing
from typing import Any

import pulumi
import pulumi._types as pulumi_types
import pytest

from rollout_cli.offline import SECRET_SIG, SECRET_VALUE, UNKNOWN, PlanResult
from tests.conftest import STACKS, WEEKS, plan_of

SDK_VERSIONS = {"pulumi_aws": "7.51.1", "pulumi_kubernetes": "4.34.2"}
_SEQUENCES = {list, collections.abc.Sequence, typing.Sequence, typing.List}  # noqa: UP006
_MAPPINGS = {dict, collections.abc.Mapping, typing.Mapping, typing.Dict}  # noqa: UP006
_PLUMBING = {collections.abc.Awaitable, typing.Awaitable, pulumi.Output}


def args_class(typ: str) -> type | None:
    """The SDK's args class of a resource type token, None when the SDK has none (CRDs)."""
    package, module, name = typ.split(":")
    group, _, version = module.partition("/")
    if package == "aws":
        candidates = [f"pulumi_aws.{group}", f"pulumi_aws.{group}_"]
    elif package == "kubernetes":
        short = "helm" if group == "helm.sh" else group.split(".")[0]
        if "." in group and not group.endswith("k8s.io") and group != "helm.sh":
            return None
        candidates = [f"pulumi_kubernetes.{short}.{version}"]
    else:
        return None
    for candidate in candidates:
        try:
            resource = getattr(importlib.import_module(candidate), name, None)
        except ImportError:
            continue
        if resource is not None:
            # The args class from the resource's own module; where a nested input type has the
            # name already, the SDK calls it <Name>InitArgs (s3's
            # BucketServerSideEncryptionConfigurationInitArgs).
            module_of = sys.modules[resource.__module__]
            for attr in (f"{name}InitArgs", f"{name}Args"):
                found = getattr(module_of, attr, None)
                if found is not None:
                    return found
    return None


def _members(typ: Any) -> list[Any]:
    """The alternatives of a union, without None and the Input plumbing (Awaitable, Output)."""
    out = []
    for arg in typing.get_args(typ):
        if arg is type(None) or typing.get_origin(arg) in _PLUMBING or arg in _PLUMBING:
            continue
        out.append(arg)
    return out


def _unwrap(typ: Any) -> Any:
    for _ in range(5):
        unwrapped = pulumi_types.unwrap_type(typ)
        if unwrapped is typ:
            break
        typ = unwrapped
    if typing.get_origin(typ) is typing.Union:
        members = _members(typ)
        if len(members) == 1:
            return _unwrap(members[0])
    return typ


def check_value(value: Any, typ: Any, path: str, errors: list[str]) -> None:
    if isinstance(value, dict) and SECRET_SIG in value:
        if value[SECRET_SIG] != SECRET_VALUE:
            return  # an asset or archive
        if "value" not in value:
            return
        value = value["value"]
    if value is None or value == UNKNOWN:
        return
    typ = _unwrap(typ)
    origin = typing.get_origin(typ)
    if typ is Any or typ is object:
        return
    if isinstance(typ, type) and pulumi_types.is_input_type(typ):
        check_object(value, typ, path, errors)
    elif origin in _SEQUENCES:
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list, got {type(value).__name__}")
            return
        (item,) = typing.get_args(typ) or (Any,)
        for i, element in enumerate(value):
            check_value(element, item, f"{path}[{i}]", errors)
    elif origin in _MAPPINGS:
        if not isinstance(value, dict):
            errors.append(f"{path}: expected an object, got {type(value).__name__}")
            return
        item = typing.get_args(typ)[1] if typing.get_args(typ) else Any
        for key, element in value.items():
            check_value(element, item, f"{path}.{key}", errors)
    elif origin is typing.Literal:
        if value not in typing.get_args(typ):
            errors.append(f"{path}: {value!r} is not one of {list(typing.get_args(typ))}")
    elif origin is typing.Union:
        members = _members(typ)
        enums = [m for m in members if isinstance(m, type) and issubclass(m, enum.Enum)]
        if enums:
            allowed = {e.value for m in enums for e in m}
            if value not in allowed:
                errors.append(f"{path}: {value!r} is not one of {sorted(map(str, allowed))}")
            return
        for member in members:
            attempt: list[str] = []
            check_value(value, member, path, attempt)
            if not attempt:
                return
        errors.append(f"{path}: {value!r} matches none of {members}")
    elif isinstance(typ, type) and issubclass(typ, enum.Enum):
        if value not in {e.value for e in typ}:
            errors.append(f"{path}: {value!r} is not one of {[e.value for e in typ]}")
    elif typ is bool:
        if not isinstance(value, bool):
            errors.append(f"{path}: expected a boolean, got {value!r}")
    elif typ is int:
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append(f"{path}: expected an integer, got {value!r}")
    elif typ is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            errors.append(f"{path}: expected a number, got {value!r}")
    elif typ is str and not isinstance(value, str):
        errors.append(f"{path}: expected a string, got {value!r}")


def check_object(value: Any, cls: type, path: str, errors: list[str]) -> None:
    if not isinstance(value, dict):
        errors.append(f"{path}: expected an object, got {type(value).__name__}")
        return
    types = pulumi_types.input_type_types(cls)
    for key, element in value.items():
        if key not in types:
            errors.append(f"{path}.{key}: no such property of {cls.__name__}")
            continue
        check_value(element, types[key], f"{path}.{key}", errors)
    for key in sorted(pulumi_types._required_property_names(cls)):
        if key not in value:
            errors.append(f"{path}.{key}: required by {cls.__name__}, missing")


def schema_errors(plan: PlanResult) -> tuple[list[str], set[str]]:
    """Problems of every recorded custom resource's inputs, and the types without args class."""
    errors: list[str] = []
    unchecked: set[str] = set()
    for record in plan.records:
        if not record.custom or record.type.startswith("pulumi:providers:"):
            continue
        cls = args_class(record.type)
        if cls is None:
            unchecked.add(record.type)
            continue
        check_object(record.inputs, cls, f"{record.type}::{record.name}", errors)
    return errors, unchecked


def test_the_installed_sdks_are_the_pinned_ones() -> None:
    from importlib.metadata import version

    for package, pinned in SDK_VERSIONS.items():
        assert version(package.replace("_", "-")) == pinned


@pytest.mark.parametrize("week", WEEKS)
@pytest.mark.parametrize("stack", STACKS)
def test_recorded_inputs_match_the_provider_schema(stack: str, week: int) -> None:
    errors, unchecked = schema_errors(plan_of(stack, week))
    assert errors == []
    # Only custom resources of CRDs go unchecked here.
    assert all(not t.startswith("aws:") for t in unchecked), unchecked
    assert all(args_class(t) is None for t in unchecked)


def _mutated(plan: PlanResult, suffix: str, change: Any) -> PlanResult:
    records = copy.deepcopy(plan.records)
    (record,) = [r for r in records if r.urn.endswith(suffix)]
    change(record.inputs)
    return PlanResult(
        plan.stack, plan.week, plan.config, records, plan.stack_outputs, plan.messages
    )


@pytest.mark.parametrize(
    ("suffix", "change", "expected"),
    [
        (
            "::codex-https",
            lambda i: i.update(sslPolicies=i.pop("sslPolicy")),
            "sslPolicies: no such property of ListenerArgs",
        ),
        (
            "::codex-https",
            lambda i: i["defaultActions"][0].pop("type"),
            "defaultActions[0].type: required by ListenerDefaultActionArgs, missing",
        ),
        (
            "::codex-https",
            lambda i: i.update(port="443"),
            "port: expected an integer, got '443'",
        ),
        (
            "::codex-tg-sandbox",
            lambda i: i["healthCheck"].update(enabled="yes"),
            "healthCheck.enabled: expected a boolean, got 'yes'",
        ),
        (
            "::env-sandbox-codegen-api-deployment",
            lambda i: i["spec"]["template"]["spec"]["containers"][0].pop("name"),
            "containers[0].name: required by ContainerArgs, missing",
        ),
        (
            "::env-sandbox-codegen-api-deployment",
            lambda i: i.update(kind="Deploymnet"),
            "kind: 'Deploymnet' is not one of ['Deployment']",
        ),
        (
            "::codex-dns",
            lambda i: i.update(type="AAAAA"),
            "type: 'AAAAA' is not one of",
        ),
    ],
    ids=["name", "required", "integer", "boolean", "k8s-required", "literal", "enum"],
)
def test_deliberate_mistakes_are_caught(suffix: str, change: Any, expected: str) -> None:
    plan = plan_of("prod", 8)
    assert schema_errors(plan)[0] == []
    errors, _ = schema_errors(_mutated(plan, suffix, change))
    assert len(errors) == 1 and expected in errors[0], errors
