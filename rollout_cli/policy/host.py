"""The analyzer protocol over a running policy pack: ``PolicyHost`` starts the pack and the
engine service it talks back to, then evaluates states (ConfigureStack, Configure, Remediate,
Analyze per resource, AnalyzeStack) into reports; ``evaluate`` does that once for one state."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc  # type: ignore[import-untyped]
import yaml
from google.protobuf import empty_pb2, json_format
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from rollout_cli.policy.config import PolicyConfig, reconcile_config
from rollout_cli.policy.engine import EngineServer
from rollout_cli.policy.errors import PolicyCheckError
from rollout_cli.policy.metadata import LEVEL_TO_WIRE, WIRE_TO_LEVEL, PolicyMeta, meta_from_info
from rollout_cli.policy.process import START_TIMEOUT, PackProcess
from rollout_cli.policy.report import Remediated, Report
from rollout_cli.policy.state import StateResource, parse_state, root_urn, stack_and_project
from rollout_cli.policy.wire import StateEncoder
from rollout_cli.stackfile import REPO_ROOT
from rollout_rules.contract import PROJECT

PACK_DIR = REPO_ROOT / "policies"

# The engine's channel limit for analyzer messages (AnalyzeStack carries the whole stack).
_GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", 400 * 1024 * 1024),
    ("grpc.max_send_message_length", 400 * 1024 * 1024),
]
_RPC_TIMEOUT = 300.0
_PIPELINE = 32


@dataclass
class AnalyzerInfo:
    """What the pack says about itself: name, version, policies and its initial config."""

    name: str
    version: str
    policies: list[PolicyMeta]
    initial_config: dict[str, PolicyConfig]
    plugin_version: str


class PolicyHost:
    """A running policy pack and the engine-side services it talks to.

    Start once, evaluate many states: each evaluation reconfigures the pack (ConfigureStack,
    Configure) before analysing, as a new engine deployment would.
    """

    def __init__(
        self,
        pack_dir: Path = PACK_DIR,
        *,
        stack: str = "offline",
        project: str = PROJECT,
        config: Mapping[str, str] | None = None,
        python: str = sys.executable,
    ) -> None:
        self.pack_dir = pack_dir.resolve()
        if not (self.pack_dir / "PulumiPolicy.yaml").is_file():
            raise PolicyCheckError(f"{pack_dir}: no PulumiPolicy.yaml (not a policy pack)")
        self._engine_server = EngineServer()
        self.engine = self._engine_server.servicer
        self.engine_address = self._engine_server.address
        try:
            self._process = PackProcess(
                self.pack_dir,
                self.engine_address,
                stack=stack,
                project=project,
                config=config,
                python=python,
            )
        except BaseException:
            self._engine_server.stop()
            raise
        self._channel: grpc.Channel | None = None
        try:
            port = self._process.read_port()
            self._channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=_GRPC_OPTIONS)
            grpc.channel_ready_future(self._channel).result(timeout=START_TIMEOUT)
            self.stub = analyzer_pb2_grpc.AnalyzerStub(self._channel)
            self._handshake()
            self.info = self._analyzer_info()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        self._process.stop()
        self._engine_server.stop()

    def __enter__(self) -> PolicyHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- protocol --------------------------------------------------------------------------

    def _call(self, method: str, request: Any) -> Any:
        try:
            return getattr(self.stub, method)(request, timeout=_RPC_TIMEOUT)
        except grpc.RpcError as err:
            raise PolicyCheckError(self._rpc_error(method, err)) from None

    def _rpc_error(self, method: str, err: grpc.RpcError) -> str:
        details = err.details() if hasattr(err, "details") else str(err)
        first = (details or "").strip().splitlines()
        return f"policy pack {method} failed: {first[-1] if first else err}"

    def _handshake(self) -> None:
        request = analyzer_pb2.AnalyzerHandshakeRequest(
            engine_address=self.engine_address,
            root_directory=str(self.pack_dir),
            program_directory=str(self.pack_dir),
        )
        try:
            self.stub.Handshake(request, timeout=_RPC_TIMEOUT)
        except grpc.RpcError as err:
            # Packs that predate Handshake answer UNIMPLEMENTED; the engine carries on.
            if err.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise PolicyCheckError(self._rpc_error("Handshake", err)) from None

    def _analyzer_info(self) -> AnalyzerInfo:
        plugin = self._call("GetPluginInfo", empty_pb2.Empty())
        info = self._call("GetAnalyzerInfo", empty_pb2.Empty())
        initial = {}
        for key, value in info.initialConfig.items():
            props = json_format.MessageToDict(value.properties) or None
            initial[key] = PolicyConfig(WIRE_TO_LEVEL[value.enforcementLevel], props)
        version = info.version
        try:
            declared = yaml.safe_load((self.pack_dir / "PulumiPolicy.yaml").read_text())
            # The version in PulumiPolicy.yaml wins over the pack's own, as in the engine.
            version = str(declared.get("version") or version)
        except (OSError, yaml.YAMLError):
            pass
        return AnalyzerInfo(
            name=info.name,
            version=version,
            policies=sorted((meta_from_info(p) for p in info.policies), key=lambda p: p.name),
            initial_config=initial,
            plugin_version=plugin.version,
        )

    def configure(self, given: Mapping[str, PolicyConfig]) -> dict[str, PolicyConfig]:
        config = reconcile_config(self.info.policies, self.info.initial_config, given)
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for name, entry in config.items():
            # Always explicit: the engine never leaves a policy's level to the pack's default.
            level = entry.enforcement_level or "advisory"
            request.policyConfig[name].enforcementLevel = LEVEL_TO_WIRE[level]
            if entry.properties:
                request.policyConfig[name].properties.update(entry.properties)
        self._call("Configure", request)
        return config

    def configure_stack(self, stack: str, project: str) -> None:
        request = analyzer_pb2.AnalyzerStackConfigureRequest(
            stack=stack, project=project, organization="organization", dry_run=True
        )
        try:
            self.stub.ConfigureStack(request, timeout=_RPC_TIMEOUT)
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise PolicyCheckError(self._rpc_error("ConfigureStack", err)) from None

    # -- evaluation ------------------------------------------------------------------------

    def evaluate(
        self,
        state: Any,
        config: Mapping[str, PolicyConfig] | None = None,
        source: str = "state",
    ) -> Report:
        return self.evaluate_resources(parse_state(state), config, source)

    def evaluate_resources(
        self,
        resources: Sequence[StateResource],
        config: Mapping[str, PolicyConfig] | None = None,
        source: str = "state",
    ) -> Report:
        """``evaluate`` of a state already parsed with ``parse_state``."""
        stack, project = stack_and_project(resources)
        self.configure_stack(stack, project)
        effective = self.configure(config or {})
        levels = {name: entry.enforcement_level or "advisory" for name, entry in effective.items()}
        report = Report(
            pack=self.info.name,
            version=self.info.version,
            stack=stack,
            project=project,
            source=source,
            resources=len(resources),
            policies=self.info.policies,
            levels=levels,
        )
        by_urn = {r.urn: r for r in resources}
        meta = {p.name: p for p in self.info.policies}
        encoder = StateEncoder(resources)
        remediating = any(level == "remediate" for level in levels.values())

        analyzed = [r for r in resources if not r.external]
        inputs = {r.urn: r.inputs for r in analyzed}
        if remediating:
            for resource, response in self._pipeline(
                "Remediate",
                analyzed,
                lambda r: encoder.analyze_request(r, inputs[r.urn]),
            ):
                for remediation in response.remediations:
                    if remediation.diagnostic:
                        report.add_diagnostic_text(
                            remediation.policyName, resource, remediation.diagnostic
                        )
                    elif remediation.HasField("properties"):
                        inputs[resource.urn] = json_format.MessageToDict(remediation.properties)
                        report.remediations.append(
                            Remediated(remediation.policyName, resource.urn, resource.type)
                        )
        # The stack request goes out first, so the pack works on the stack policies while the
        # resource requests are built; its findings are still added after the resources'.
        stack_future = self.stub.AnalyzeStack.future(
            encoder.analyze_stack_request(resources), timeout=_RPC_TIMEOUT
        )
        try:
            for resource, response in self._pipeline(
                "Analyze",
                analyzed,
                lambda r: encoder.analyze_request(r, inputs[r.urn]),
            ):
                report.add(response, resource, resource.urn, meta)
            try:
                response = stack_future.result()
            except grpc.RpcError as err:
                raise PolicyCheckError(self._rpc_error("AnalyzeStack", err)) from None
        finally:
            stack_future.cancel()
        report.add(response, None, root_urn(resources), meta, by_urn)
        report.hidden_secrets = len(encoder.counters.hidden)
        report.logs = list(self.engine.logs)
        report.sort()
        return report

    def _pipeline(
        self,
        method: str,
        resources: Sequence[StateResource],
        build: Callable[[StateResource], Any],
    ) -> Iterator[tuple[StateResource, Any]]:
        """Calls ``method`` for each resource in order, keeping a few requests in flight so
        building the next request overlaps the pack's work on the current one."""
        call = getattr(self.stub, method)
        pending: list[tuple[StateResource, Any]] = []
        for resource in resources:
            pending.append((resource, call.future(build(resource), timeout=_RPC_TIMEOUT)))
            if len(pending) >= _PIPELINE:
                yield self._settle(method, *pending.pop(0))
        while pending:
            yield self._settle(method, *pending.pop(0))

    def _settle(self, method: str, resource: StateResource, future: Any) -> tuple[Any, Any]:
        try:
            return resource, future.result()
        except grpc.RpcError as err:
            raise PolicyCheckError(
                f"{self._rpc_error(method, err)} (resource {resource.urn})"
            ) from None


def evaluate(
    state: Any,
    config: Mapping[str, PolicyConfig] | None = None,
    *,
    pack_dir: Path = PACK_DIR,
    source: str = "state",
    stack_config: Mapping[str, str] | None = None,
) -> Report:
    """Start the pack, evaluate one state, stop the pack."""
    resources = parse_state(state)
    stack, project = stack_and_project(resources)
    with PolicyHost(
        pack_dir, stack=stack or "offline", project=project, config=stack_config
    ) as host:
        return host.evaluate_resources(resources, config, source)
