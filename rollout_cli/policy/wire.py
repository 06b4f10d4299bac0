"""The engine's wire form for analyzers: state property values marshalled as the engine marshals
them (secrets, unknowns, resource references, output values), and the Analyze and AnalyzeStack
requests built from a state's resources with their providers and resource options."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import struct_pb2
from pulumi.runtime.proto import analyzer_pb2

# The engine's wire signatures for secrets and unknowns, as the offline runner writes them.
from rollout_cli.offline import SECRET_SIG, SECRET_VALUE, UNKNOWN
from rollout_cli.policy.state import StateResource

RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
OUTPUT_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
PROVIDER_PREFIX = "pulumi:providers:"


@dataclass
class WireCounters:
    """What the conversion to the engine's wire form could not carry faithfully."""

    hidden: set[str] = field(default_factory=set)
    current: str = ""


def to_wire(value: Any, counters: WireCounters | None = None) -> Any:
    """A state property value as the engine marshals it for analyzers.

    Secrets keep their signature with the plaintext ``value`` (the engine decrypts before
    sending); encrypted secrets cannot be decrypted offline and travel as unknowns. Resource
    references are downgraded to their id (custom) or URN (component) and output values to
    their plain value, as the engine does without the keep-resources/keep-outputs options.
    Internal keys (``__defaults``, ``__meta``) are skipped.
    """
    if isinstance(value, Mapping):
        sig = value.get(SECRET_SIG)
        if sig == SECRET_VALUE:
            if "plaintext" in value:
                try:
                    inner = json.loads(value["plaintext"])
                except (TypeError, ValueError):
                    inner = value["plaintext"]
            elif "value" in value:
                inner = value["value"]
            else:
                if counters is not None:
                    counters.hidden.add(counters.current)
                inner = UNKNOWN
            return {SECRET_SIG: SECRET_VALUE, "value": to_wire(inner, counters)}
        if sig == RESOURCE_SIG:
            ref_id = value.get("id")
            if isinstance(ref_id, str) and ref_id:
                return ref_id
            return value.get("urn", UNKNOWN)
        if sig == OUTPUT_SIG:
            plain = to_wire(value["value"], counters) if "value" in value else UNKNOWN
            if value.get("secret"):
                return {SECRET_SIG: SECRET_VALUE, "value": plain}
            return plain
        if sig is not None:
            return {k: to_wire(v, counters) if k != SECRET_SIG else v for k, v in value.items()}
        return {
            str(k): to_wire(v, counters) for k, v in value.items() if not str(k).startswith("__")
        }
    if isinstance(value, list | tuple):
        return [to_wire(v, counters) for v in value]
    return value


def _struct(props: Mapping[str, Any], counters: WireCounters, urn: str) -> struct_pb2.Struct:
    counters.current = urn
    message = struct_pb2.Struct()
    message.update(to_wire(props, counters))
    return message


def _options(resource: StateResource) -> Any:
    opts = resource.options
    message = analyzer_pb2.AnalyzerResourceOptions(
        protect=bool(opts.get("protect", False)),
        ignoreChanges=[str(x) for x in opts.get("ignoreChanges", [])],
        additionalSecretOutputs=[str(x) for x in opts.get("additionalSecretOutputs", [])],
        aliases=[
            str(a) if isinstance(a, str) else str(a.get("urn", "")) for a in opts.get("aliases", [])
        ],
        parent=resource.parent,
    )
    if "deleteBeforeReplace" in opts:
        message.deleteBeforeReplace = bool(opts["deleteBeforeReplace"])
        message.deleteBeforeReplaceDefined = True
    timeouts = opts.get("customTimeouts")
    if isinstance(timeouts, Mapping):
        message.customTimeouts.create = float(timeouts.get("create") or 0)
        message.customTimeouts.update = float(timeouts.get("update") or 0)
        message.customTimeouts.delete = float(timeouts.get("delete") or 0)
    return message


class StateEncoder:
    """Builds the analyzer requests for one state's resources.

    The providers are encoded once and attached to every resource they serve; ``counters``
    records the resources whose encrypted secrets could not be read.
    """

    def __init__(self, resources: Sequence[StateResource]) -> None:
        self.counters = WireCounters()
        self._providers = {r.urn: r for r in resources if r.type.startswith(PROVIDER_PREFIX)}
        self._wire_providers = {
            urn: self._provider_message(provider) for urn, provider in self._providers.items()
        }

    def _provider_message(self, provider: StateResource) -> Any:
        message = analyzer_pb2.AnalyzerProviderResource(
            urn=provider.urn, type=provider.type, name=provider.name
        )
        message.properties.CopyFrom(_struct(provider.inputs, self.counters, provider.urn))
        return message

    def _provider_for(self, resource: StateResource) -> str:
        """The URN of the resource's provider: its provider reference (``<urn>::<id>``), else
        the package's default provider."""
        if resource.type.startswith(PROVIDER_PREFIX) or not resource.custom:
            return ""
        if resource.provider:
            urn = resource.provider.rsplit("::", 1)[0]
            return urn if urn in self._providers else ""
        package = resource.type.split(":", 1)[0]
        for urn, provider in self._providers.items():
            if provider.type == f"{PROVIDER_PREFIX}{package}" and provider.name.startswith(
                "default"
            ):
                return urn
        return ""

    def analyze_request(self, resource: StateResource, props: Mapping[str, Any]) -> Any:
        """Analyze (or Remediate) of one resource with ``props``, its inputs."""
        request = analyzer_pb2.AnalyzeRequest(
            type=resource.type,
            urn=resource.urn,
            name=resource.name,
            options=_options(resource),
        )
        request.properties.CopyFrom(_struct(props, self.counters, resource.urn))
        prov_urn = self._provider_for(resource)
        if prov_urn:
            request.provider.CopyFrom(self._wire_providers[prov_urn])
        return request

    def analyze_stack_request(self, resources: Sequence[StateResource]) -> Any:
        """AnalyzeStack of every resource with its outputs (inputs when it has none), parent,
        dependencies and property dependencies."""
        stack_request = analyzer_pb2.AnalyzeStackRequest()
        for resource in resources:
            props = resource.outputs if resource.outputs is not None else resource.inputs
            message = stack_request.resources.add(
                urn=resource.urn,
                type=resource.type,
                name=resource.name,
                parent=resource.parent,
                dependencies=resource.dependencies,
                options=_options(resource),
            )
            message.properties.CopyFrom(_struct(props, self.counters, resource.urn))
            prov_urn = self._provider_for(resource)
            if prov_urn:
                message.provider.CopyFrom(self._wire_providers[prov_urn])
            for key, urns in resource.property_dependencies.items():
                if urns:  # the engine skips properties without dependencies
                    message.propertyDependencies[key].urns.extend(urns)
        return stack_request
