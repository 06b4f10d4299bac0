"""One decoding pass per request for the pack's analyzer service.

The SDK's analyzer (``pulumi_policy.policy._PolicyAnalyzerServicer``) decodes a request's
properties once for every policy that looks at it: Analyze converts each resource's properties
for each of the pack's resource policies, and AnalyzeStack rebuilds the whole stack (every
resource's properties, its provider's properties and the parent and dependency links) for each
stack policy. With a dozen stack policies on a 5,000-resource stack that is most of a check's
time, and the engine pays it on every preview.

``OnePassAnalyzer`` is the SDK's servicer with Analyze and AnalyzeStack decoding once and
handing the same read-only view to every policy; everything else (configuration, enforcement
levels, violation reports, remediation, unknown handling, not-applicable reasons) is the SDK's
own code. The property conversion is the SDK's ``json_format.MessageToDict`` followed by
``deserialize_properties``, written directly over the protobuf ``Struct`` (``struct_to_dict``)
with the same results, including the ValueError for NaN and infinity.

``install()`` swaps the servicer class the SDK's ``PolicyPack`` instantiates. It only does so
for the SDK version these two methods mirror (``MIRRORED_SDK_VERSION``); any other version, or
``ROLLOUT_POLICY_ANALYZER=sdk`` in the environment, runs the SDK's analyzer unchanged. The pack
is the same under ``rollout policy check`` and under the real engine, so the engine gets the
same saving.

Sharing one decoded view between policies relies on policies not writing to the properties they
are given; none of this pack's policies does, and the tests compare every report with the SDK's
analyzer.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Callable
from functools import partial
from inspect import isawaitable
from typing import Any

from pulumi.runtime import proto
from pulumi_policy import policy as sdk
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy
from pulumi_policy.version import VERSION

MIRRORED_SDK_VERSION = "1.21.0"
SWITCH = "ROLLOUT_POLICY_ANALYZER"

_SERVICER = "_PolicyAnalyzerServicer"
_SDK_SERVICER: type = getattr(sdk, _SERVICER)


def _value(value: Any) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "struct_value":
        return {key: _value(item) for key, item in value.struct_value.fields.items()}
    if kind == "number_value":
        number = value.number_value
        if math.isinf(number):
            raise ValueError(
                "Fail to serialize Infinity for Value.number_value, "
                "which would parse as string_value"
            )
        if math.isnan(number):
            raise ValueError(
                "Fail to serialize NaN for Value.number_value, which would parse as string_value"
            )
        return number
    if kind == "bool_value":
        return value.bool_value
    if kind == "list_value":
        return [_value(item) for item in value.list_value.values]
    return None  # null_value, or a Value with nothing set


def struct_to_dict(message: Any) -> dict[str, Any]:
    """A ``google.protobuf.Struct`` as ``json_format.MessageToDict`` gives it."""
    return {key: _value(item) for key, item in message.fields.items()}


def _props(message: Any) -> Any:
    return unknown_checking_proxy(deserialize_properties(struct_to_dict(message)))


_PENDING: Any = object()


class _StackResource(sdk.PolicyResource):
    """A stack policy's ``PolicyResource`` whose ``props`` are decoded on first read (and then
    kept): most stack policies look at a few resource types, so most resources' properties are
    never decoded at all. The decoded value is exactly what the SDK builds up front."""

    _message: Any
    _props: Any = _PENDING

    @property
    def props(self) -> Any:
        if self._props is _PENDING:
            self._props = _props(self._message)
        return self._props

    @props.setter
    def props(self, value: Any) -> None:
        self._props = value


def _stack_resource(r: Any, opts: Any, provider: Any) -> Any:
    resource = _StackResource(r.type, _PENDING, r.urn, r.name, opts, provider, None, [], {})
    resource._message = r.properties
    return resource


class OnePassAnalyzer(_SDK_SERVICER):
    """The SDK's analyzer service with Analyze and AnalyzeStack decoding each request once."""

    # The SDK keeps its state in name-mangled attributes; these read them.
    def _sdk(self, name: str) -> Any:
        return getattr(self, f"_PolicyAnalyzerServicer__{name}")

    @property
    def _policies(self) -> list[Any]:
        return self._sdk("policies")

    @property
    def _pack_name(self) -> str:
        return self._sdk("policy_pack_name")

    @property
    def _pack_version(self) -> str:
        return self._sdk("policy_pack_version")

    @property
    def _stack_tags(self) -> Any:
        return self._sdk("stack_tags")

    def _get_provider_resource(self, request: Any) -> Any:
        if not request.HasField("provider"):
            return None
        prov = request.provider
        return sdk.PolicyProviderResource(prov.type, _props(prov.properties), prov.urn, prov.name)

    def _level(self, policy: Any, kind: type) -> Any:
        """The level ``policy`` reports at when it is a ``kind`` policy and not disabled (the
        SDK reports a remediation policy's findings as mandatory), else None."""
        level = self._get_enforcement_level(policy)
        if level == sdk.EnforcementLevel.DISABLED or not isinstance(policy, kind):
            return None
        if level == sdk.EnforcementLevel.REMEDIATE:
            return sdk.EnforcementLevel.MANDATORY
        return level

    def _run(
        self,
        response: Any,
        policy: Any,
        validate: Callable[[], Any],
    ) -> None:
        """``validate()`` as the SDK runs it: awaited when it returns an awaitable, an unknown
        value turned into an advisory diagnostic, not-applicable recorded."""
        try:
            result = validate()
            if isawaitable(result):
                loop = asyncio.new_event_loop()
                loop.run_until_complete(asyncio.ensure_future(result, loop=loop))
                loop.close()
        except UnknownValueError as e:
            response.diagnostics.append(
                proto.AnalyzeDiagnostic(
                    policyName=policy.name,
                    policyPackName=self._pack_name,
                    policyPackVersion=self._pack_version,
                    message=(
                        f"can't run policy '{policy.name}' from policy pack "
                        f"'{self._pack_name}@v{self._pack_version}' during preview: {e.message}"
                    ),
                    urn="",
                    description=policy.description,
                    enforcementLevel=self._map_enforcement_level(sdk.EnforcementLevel.ADVISORY),
                )
            )
        except sdk._NotApplicableError as e:
            response.not_applicable.append(
                proto.PolicyNotApplicable(policy_name=policy.name, reason=e.reason or "")
            )

    def Analyze(self, request: Any, _context: Any) -> Any:  # noqa: N802 (gRPC method name)
        self._configure_runtime_settings()
        response = proto.AnalyzeResponse()
        decoded: tuple[Any, Any, Any] | None = None
        for policy in self._policies:
            level = self._level(policy, sdk.ResourceValidationPolicy)
            if level is None:
                continue
            if not policy.has_validation():
                response.not_applicable.append(
                    proto.PolicyNotApplicable(
                        policy_name=policy.name, reason="Policy does not implement validate"
                    )
                )
                continue
            report = self._create_report_violation(
                response, policy.name, policy.description, level, policy.severity
            )
            if decoded is None:
                decoded = (
                    _props(request.properties),
                    self._get_resource_options(request),
                    self._get_provider_resource(request),
                )
            props, opts, provider = decoded
            args = sdk.ResourceValidationArgs(
                request.type,
                props,
                request.urn,
                request.name,
                opts,
                provider,
                self._get_policy_config(policy.name),
                self._stack_tags,
            )
            self._run(response, policy, partial(policy.validate, args, report))
        return response

    def _stack_resources(self, request: Any) -> list[Any]:
        """The stack's resources as the SDK builds them for a stack policy, built once; each
        provider's properties decoded once however many resources it serves, and each resource's
        own properties when a policy first reads them."""
        providers: dict[bytes, Any] = {}
        resources: list[Any] = []
        by_urn: dict[str, Any] = {}
        links: list[tuple[Any, str, list[str], dict[str, list[str]]]] = []
        for r in request.resources:
            provider = None
            if r.HasField("provider"):
                key = r.provider.SerializeToString(deterministic=True)
                provider = providers.get(key)
                if provider is None:
                    provider = providers[key] = self._get_provider_resource(r)
            resource = _stack_resource(r, self._get_resource_options(r), provider)
            resources.append(resource)
            by_urn[resource.urn] = resource
            deps = {k: list(v.urns) for k, v in r.propertyDependencies.items()}
            links.append((resource, r.parent, list(r.dependencies), deps))
        for resource, parent, dependencies, property_dependencies in links:
            if parent is not None and parent in by_urn:
                resource.parent = by_urn[parent]
            resource.dependencies.extend(by_urn[d] for d in dependencies if d in by_urn)
            for key, urns in property_dependencies.items():
                resource.property_dependencies[key] = [by_urn[d] for d in urns if d in by_urn]
        return resources

    def AnalyzeStack(self, request: Any, _context: Any) -> Any:  # noqa: N802 (gRPC method name)
        self._configure_runtime_settings()
        response = proto.AnalyzeResponse()
        resources: list[Any] | None = None
        for policy in self._policies:
            level = self._level(policy, sdk.StackValidationPolicy)
            if level is None:
                continue
            report = self._create_report_violation(
                response, policy.name, policy.description, level, policy.severity
            )
            if resources is None:
                resources = self._stack_resources(request)
            args = sdk.StackValidationArgs(
                resources, self._get_policy_config(policy.name), self._stack_tags
            )
            self._run(response, policy, partial(policy.validate, args, report))
        return response


def active() -> bool:
    """Whether ``install`` swaps the analyzer: the mirrored SDK version, and not switched off."""
    return VERSION == MIRRORED_SDK_VERSION and os.environ.get(SWITCH, "") != "sdk"


def install() -> bool:
    """Make ``PolicyPack`` serve ``OnePassAnalyzer``; False (and the SDK's analyzer) when
    ``active()`` is not."""
    chosen = OnePassAnalyzer if active() else _SDK_SERVICER
    setattr(sdk, _SERVICER, chosen)
    return chosen is OnePassAnalyzer
