"""Offline CrossGuard evaluation, faithful to the engine.

The policy pack is started the way the Pulumi engine starts a Python pack
(``python -u -m pulumi.policy <engine-address> .`` from the pack directory, the pack's runtime
options as ``-key=value`` arguments, PULUMI_* variables in the environment), its port read from
the first line of its stdout, and then spoken to over the ``pulumirpc.Analyzer`` gRPC protocol:
Handshake, ConfigureStack, GetPluginInfo, GetAnalyzerInfo, Configure (config reconciled the way
the engine reconciles it, with an explicit enforcement level for every policy), Remediate and
Analyze for each resource with its inputs, and AnalyzeStack with every resource's outputs,
parent, dependencies and property dependencies. An in-process ``pulumirpc.Engine`` server
answers the engine address given to the pack and keeps its log messages.

Input is a state in ``pulumi stack export`` shape, from a file or rendered offline for one of
the project's stacks. The result renders as text, JSON, SARIF 2.1.0, JUnit XML or Markdown.

Where this differs from the engine, on purpose: Remediate is called only when some policy is
configured at ``remediate`` (otherwise the pack's answer is empty by construction and the call
would double the cost); a config key naming no policy is an error, not ignored; encrypted
secrets in an exported state cannot be decrypted offline and travel as unknowns.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import grpc  # type: ignore[import-untyped]
import jsonschema  # type: ignore[import-untyped]
import typer
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, engine_pb2, engine_pb2_grpc

from rollout_cli.stackfile import REPO_ROOT
from rollout_rules.contract import PROJECT

# The engine's wire signatures (secrets, unknowns) and the root stack's type.
from rollout_cli.offline import SECRET_SIG, SECRET_VALUE, STACK_TYPE, UNKNOWN

PACK_DIR = REPO_ROOT / "policies"

RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
OUTPUT_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"

LEVELS = ("advisory", "mandatory", "remediate", "disabled")
_LEVEL_TO_WIRE = {
    "advisory": analyzer_pb2.ADVISORY,
    "mandatory": analyzer_pb2.MANDATORY,
    "remediate": analyzer_pb2.REMEDIATE,
    "disabled": analyzer_pb2.DISABLED,
}
_WIRE_TO_LEVEL = {v: k for k, v in _LEVEL_TO_WIRE.items()}
_WIRE_TO_SEVERITY = {
    analyzer_pb2.POLICY_SEVERITY_UNSPECIFIED: "",
    analyzer_pb2.POLICY_SEVERITY_LOW: "low",
    analyzer_pb2.POLICY_SEVERITY_MEDIUM: "medium",
    analyzer_pb2.POLICY_SEVERITY_HIGH: "high",
    analyzer_pb2.POLICY_SEVERITY_CRITICAL: "critical",
}
SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3, "": 4}
LEVEL_RANK = {"mandatory": 0, "remediate": 0, "advisory": 1, "disabled": 2}
FORMATS = ("text", "json", "sarif", "junit", "markdown")

# The engine's channel limit for analyzer messages (AnalyzeStack carries the whole stack).
_GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", 400 * 1024 * 1024),
    ("grpc.max_send_message_length", 400 * 1024 * 1024),
]
_START_TIMEOUT = 60.0
_RPC_TIMEOUT = 300.0
_PIPELINE = 32


class PolicyCheckError(Exception):
    """Bad input (state, config, pack): the message is one line naming the problem."""


# =============================================================================================
# State
# =============================================================================================


@dataclass
class StateResource:
    """One resource of a ``pulumi stack export`` deployment."""

    urn: str
    type: str
    custom: bool
    inputs: dict[str, Any]
    outputs: dict[str, Any] | None
    id: str = ""
    parent: str = ""
    provider: str = ""
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    external: bool = False

    @property
    def name(self) -> str:
        # urn:pulumi:<stack>::<project>::<qualified type>::<name>; the name may contain "::".
        return self.urn.split("::", 3)[3] if self.urn.count("::") >= 3 else self.urn


def _resources_of(state: Any) -> list[Any]:
    if isinstance(state, Mapping) and isinstance(state.get("deployment"), Mapping):
        version = state.get("version")
        if version is not None and version not in (1, 2, 3):
            raise PolicyCheckError(f"unsupported stack export version {version!r} (expected 3)")
        resources = state["deployment"].get("resources", [])
    elif isinstance(state, Mapping) and "resources" in state:
        resources = state["resources"]
    else:
        raise PolicyCheckError(
            'not a stack export: expected {"version": 3, "deployment": {"resources": [...]}}'
        )
    if resources is None:
        return []
    if not isinstance(resources, list):
        raise PolicyCheckError("deployment.resources is not a list")
    return resources


def parse_state(state: Any) -> list[StateResource]:
    """The live resources of a state (pending deletions left out), validated."""
    parsed = []
    for index, raw in enumerate(_resources_of(state)):
        where = f"deployment.resources[{index}]"
        if not isinstance(raw, Mapping):
            raise PolicyCheckError(f"{where} is not an object")
        urn, typ = raw.get("urn"), raw.get("type")
        if not isinstance(urn, str) or not urn.startswith("urn:pulumi:") or urn.count("::") < 3:
            raise PolicyCheckError(f"{where}.urn is not a Pulumi URN: {urn!r}")
        if not isinstance(typ, str) or not typ:
            raise PolicyCheckError(f"{where} ({urn}) has no type")
        if raw.get("delete"):
            continue
        for key in ("inputs", "outputs"):
            if raw.get(key) is not None and not isinstance(raw.get(key), Mapping):
                raise PolicyCheckError(f"{where}.{key} ({urn}) is not an object")
        prop_deps = raw.get("propertyDependencies") or {}
        if not isinstance(prop_deps, Mapping):
            raise PolicyCheckError(f"{where}.propertyDependencies ({urn}) is not an object")
        options = {
            key: raw[key]
            for key in (
                "protect",
                "ignoreChanges",
                "additionalSecretOutputs",
                "aliases",
                "customTimeouts",
                "deleteBeforeReplace",
            )
            if raw.get(key) is not None
        }
        parsed.append(
            StateResource(
                urn=urn,
                type=typ,
                custom=bool(raw.get("custom", False)),
                inputs=dict(raw.get("inputs") or {}),
                outputs=dict(raw["outputs"]) if raw.get("outputs") is not None else None,
                id=str(raw.get("id") or ""),
                parent=str(raw.get("parent") or ""),
                provider=str(raw.get("provider") or ""),
                dependencies=[str(d) for d in raw.get("dependencies") or []],
                property_dependencies={
                    str(k): [str(u) for u in (v or [])] for k, v in prop_deps.items()
                },
                options=options,
                external=bool(raw.get("external", False)),
            )
        )
    return parsed


def load_state_file(path: Path) -> Any:
    """A ``pulumi stack export`` file, or ``DIR/resources.json`` of ``rollout render``."""
    if path.is_dir():
        path = path / "resources.json"
    try:
        text = path.read_text()
    except OSError as err:
        raise PolicyCheckError(f"--export {path}: cannot read ({err.strerror})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise PolicyCheckError(
            f"--export {path}: not JSON ({err.msg} at line {err.lineno})"
        ) from None


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


def stack_and_project(resources: Sequence[StateResource]) -> tuple[str, str]:
    for resource in resources:
        head, project = resource.urn.split("::")[:2]
        return head.split(":", 2)[2], project
    return "", PROJECT


def root_urn(resources: Sequence[StateResource]) -> str:
    for resource in resources:
        if resource.type == STACK_TYPE:
            return resource.urn
    stack, project = stack_and_project(resources)
    return f"urn:pulumi:{stack}::{project}::{STACK_TYPE}::{project}-{stack}"


# =============================================================================================
# Policy metadata and config
# =============================================================================================


@dataclass(frozen=True)
class PolicyMeta:
    """What the pack says about one policy (GetAnalyzerInfo), plus its controls."""

    name: str
    description: str
    enforcement_level: str
    severity: str
    framework: str
    framework_version: str
    reference: str
    remediation: str
    kind: str  # "resource" or "stack"
    tags: tuple[str, ...]
    config_schema: Mapping[str, Any]
    required: tuple[str, ...] = ()

    @property
    def controls(self) -> list[tuple[str, str]]:
        """(framework, reference) pairs, the primary framework first."""
        found = [(self.framework, self.reference)] if self.framework else []
        for tag in self.tags:
            if tag.startswith("control:"):
                _, framework, reference = tag.split(":", 2)
                if (framework, reference) not in found:
                    found.append((framework, reference))
        return found

    @property
    def domain(self) -> str:
        for tag in self.tags:
            if tag.startswith("domain:"):
                return tag.split(":", 1)[1]
        return ""


def meta_from_info(info: Any) -> PolicyMeta:
    kind = {
        analyzer_pb2.POLICY_TYPE_RESOURCE: "resource",
        analyzer_pb2.POLICY_TYPE_STACK: "stack",
    }.get(info.policy_type, "")
    return PolicyMeta(
        name=info.name,
        description=info.description,
        enforcement_level=_WIRE_TO_LEVEL[info.enforcementLevel],
        severity=_WIRE_TO_SEVERITY.get(info.severity, ""),
        framework=info.framework.name,
        framework_version=info.framework.version,
        reference=info.framework.reference,
        remediation=info.remediation_steps,
        kind=kind,
        tags=tuple(info.tags),
        config_schema=json_format.MessageToDict(info.configSchema.properties),
        required=tuple(info.configSchema.required),
    )


def meta_from_policy(policy: Any) -> PolicyMeta:
    """The same metadata read from a ``pulumi_policy.Policy`` object (no pack process)."""
    from pulumi_policy import StackValidationPolicy

    schema = policy.config_schema
    framework = policy.framework
    return PolicyMeta(
        name=policy.name,
        description=policy.description,
        enforcement_level=(
            policy.enforcement_level.value if policy.enforcement_level else "advisory"
        ),
        severity=policy.severity.value if policy.severity else "",
        framework=framework.name or "" if framework else "",
        framework_version=framework.version or "" if framework else "",
        reference=framework.reference or "" if framework else "",
        remediation=policy.remediation_steps or "",
        kind="stack" if isinstance(policy, StackValidationPolicy) else "resource",
        tags=tuple(policy.tags or ()),
        config_schema=dict(schema.properties) if schema else {},
        required=tuple(schema.required or ()) if schema else (),
    )


@dataclass(frozen=True)
class PolicyConfig:
    """One entry of a policy pack config: an enforcement level and/or properties."""

    enforcement_level: str | None
    properties: dict[str, Any] | None


def _extract_level(where: str, props: dict[str, Any]) -> str | None:
    if "enforcementLevel" not in props:
        return None
    level = props.pop("enforcementLevel")
    if not isinstance(level, str) or level not in LEVELS:
        raise PolicyCheckError(
            f"{where}: enforcementLevel {level!r} is not one of {', '.join(LEVELS)}"
        )
    return level


def parse_policy_pack_config(document: Any, source: str) -> dict[str, PolicyConfig]:
    """A ``--policy-pack-config`` document: keys are policy names or ``all``, values an
    enforcement level or an object of ``enforcementLevel`` plus config properties."""
    if document is None:
        return {}
    if not isinstance(document, Mapping):
        raise PolicyCheckError(f"{source}: policy pack config must be a JSON object")
    result = {}
    for key, value in document.items():
        props: dict[str, Any] | None
        level: str | None
        if isinstance(value, str):
            if value not in LEVELS:
                raise PolicyCheckError(
                    f"{source}: {key}: {value!r} is not a valid enforcement level "
                    f"({', '.join(LEVELS)})"
                )
            level, props = value, None
        elif isinstance(value, Mapping):
            props = dict(value)
            level = _extract_level(f"{source}: {key}", props)
            props = props or None
        else:
            raise PolicyCheckError(
                f"{source}: {key}: {json.dumps(value)} is not a valid value; must be a string "
                "or object"
            )
        if level is None and not props:
            continue
        result[str(key)] = PolicyConfig(level, props)
    return result


def load_config_file(path: Path) -> dict[str, PolicyConfig]:
    try:
        text = path.read_text()
    except OSError as err:
        raise PolicyCheckError(f"--config {path}: cannot read ({err.strerror})") from None
    if not text.strip():
        return {}
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        raise PolicyCheckError(
            f"--config {path}: not JSON ({err.msg} at line {err.lineno})"
        ) from None
    return parse_policy_pack_config(document, f"--config {path}")


def _apply(result: dict[str, PolicyConfig], given: Mapping[str, PolicyConfig]) -> None:
    # Mirrors the engine's applyConfig: "all" sets every level first, then each policy's entry.
    everything = given.get("all")
    if everything is not None and everything.enforcement_level is not None:
        for name, current in result.items():
            result[name] = PolicyConfig(everything.enforcement_level, current.properties)
    for name, entry in given.items():
        if name == "all":
            continue
        current = result[name]
        properties = dict(current.properties or {})
        properties.update(entry.properties or {})
        result[name] = PolicyConfig(
            entry.enforcement_level or current.enforcement_level, properties or None
        )


def reconcile_config(
    policies: Sequence[PolicyMeta],
    initial: Mapping[str, PolicyConfig],
    given: Mapping[str, PolicyConfig],
) -> dict[str, PolicyConfig]:
    """The engine's ReconcilePolicyPackConfig: schema defaults, then the pack's initial config,
    then the user's config, validated against each policy's config schema.

    Unlike the engine, a key naming no policy is an error rather than silently ignored.
    """
    known = {p.name for p in policies}
    for source, entries in (("initial config", initial), ("config", given)):
        unknown = sorted(set(entries) - known - {"all"})
        if unknown:
            raise PolicyCheckError(
                f"{source}: no policy named {', '.join(map(repr, unknown))} in the pack"
            )
    result = {
        p.name: PolicyConfig(
            p.enforcement_level,
            {k: v["default"] for k, v in p.config_schema.items() if "default" in v} or None,
        )
        for p in policies
    }
    _apply(result, initial)
    _apply(result, given)
    errors = []
    for policy in policies:
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {
                **policy.config_schema,
                "enforcementLevel": {"type": "string", "enum": list(LEVELS)},
            },
        }
        if policy.required:
            schema["required"] = list(policy.required)
        validator = jsonschema.Draft7Validator(schema)
        document = result[policy.name].properties or {}
        for error in sorted(validator.iter_errors(document), key=lambda e: list(e.path)):
            path = ".".join(str(p) for p in error.absolute_path)
            errors.append(f"{policy.name}: {path + ': ' if path else ''}{error.message}")
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise PolicyCheckError(f"invalid policy config: {errors[0]}{more}")
    return result


# =============================================================================================
# The engine side: an Engine server for the pack's logs, and the pack process
# =============================================================================================


class _EngineServicer(engine_pb2_grpc.EngineServicer):
    """The engine's ``pulumirpc.Engine`` service, enough for a plugin's log messages."""

    def __init__(self) -> None:
        self.logs: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()
        self._root = ""

    def Log(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC method name)
        severity = engine_pb2.LogSeverity.Name(request.severity).lower()
        with self._lock:
            self.logs.append((severity, request.urn, request.message))
        return empty_pb2.Empty()

    def GetRootResource(self, request: Any, context: Any) -> Any:  # noqa: N802
        return engine_pb2.GetRootResourceResponse(urn=self._root)

    def SetRootResource(self, request: Any, context: Any) -> Any:  # noqa: N802
        self._root = request.urn
        return engine_pb2.SetRootResourceResponse()

    def StartDebugging(self, request: Any, context: Any) -> Any:  # noqa: N802
        return empty_pb2.Empty()


def _interpreter(pack_dir: Path, default: str) -> tuple[str, dict[str, str]]:
    """The Python the engine's ``pulumi-analyzer-policy-python`` shim would run: the pack's
    ``virtualenv`` runtime option (relative to the pack) with its bin/ first on PATH, else
    ``default``."""
    try:
        project = yaml.safe_load((pack_dir / "PulumiPolicy.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise PolicyCheckError(f"{pack_dir}/PulumiPolicy.yaml: cannot load ({err})") from None
    runtime = project.get("runtime") if isinstance(project, Mapping) else None
    if isinstance(runtime, str):
        runtime = {"name": runtime}
    if not isinstance(runtime, Mapping) or runtime.get("name") != "python":
        raise PolicyCheckError(f"{pack_dir}/PulumiPolicy.yaml: runtime is not python")
    virtualenv = (runtime.get("options") or {}).get("virtualenv")
    if not virtualenv:
        return default, {}
    venv = (pack_dir / str(virtualenv).rstrip("/")).absolute()
    python = venv / "bin" / "python"
    if not python.is_file():
        raise PolicyCheckError(f"{venv} doesn't appear to be a virtual environment")
    return str(python), {"PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}


@dataclass
class AnalyzerInfo:
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
        self.engine = _EngineServicer()
        self._engine_server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        engine_pb2_grpc.add_EngineServicer_to_server(self.engine, self._engine_server)
        engine_port = self._engine_server.add_insecure_port("127.0.0.1:0")
        self._engine_server.start()
        self.engine_address = f"127.0.0.1:{engine_port}"
        python, shim_env = _interpreter(self.pack_dir, python)
        env = dict(os.environ)
        env.pop("PYTHONHOME", None)
        env.update(shim_env)
        env.update(
            PULUMI_PROJECT=project,
            PULUMI_STACK=stack,
            PULUMI_ORGANIZATION="organization",
            PULUMI_DRY_RUN="true",
        )
        if config:
            env["PULUMI_CONFIG"] = json.dumps(dict(config))
        # What the engine's shim runs: `<venv>/bin/python -u -m pulumi.policy <engine> .`
        argv = [python, "-u", "-m", "pulumi.policy", self.engine_address, "."]
        try:
            self._process = subprocess.Popen(
                argv,
                cwd=self.pack_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except OSError as err:
            self._engine_server.stop(0)
            raise PolicyCheckError(f"cannot start the policy pack: {err}") from None
        self._stderr: list[str] = []
        self._channel: grpc.Channel | None = None
        try:
            port = self._read_port()
            self._channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=_GRPC_OPTIONS)
            grpc.channel_ready_future(self._channel).result(timeout=_START_TIMEOUT)
            self.stub = analyzer_pb2_grpc.AnalyzerStub(self._channel)
            self._handshake()
            self.info = self._analyzer_info()
        except BaseException:
            self.close()
            raise

    # -- process ---------------------------------------------------------------------------

    def _read_port(self) -> int:
        assert self._process.stdout is not None and self._process.stderr is not None
        lines: queue.Queue[bytes] = queue.Queue()

        def pump_stdout() -> None:
            assert self._process.stdout is not None
            for line in self._process.stdout:
                lines.put(line)
            lines.put(b"")

        def pump_stderr() -> None:
            assert self._process.stderr is not None
            for line in self._process.stderr:
                self._stderr.append(line.decode(errors="replace").rstrip())

        threading.Thread(target=pump_stdout, daemon=True).start()
        threading.Thread(target=pump_stderr, daemon=True).start()
        try:
            first = lines.get(timeout=_START_TIMEOUT)
        except queue.Empty:
            raise PolicyCheckError(
                f"policy pack did not report a port within {_START_TIMEOUT:g}s"
            ) from None
        text = first.decode(errors="replace").strip()
        if not text.isdigit():
            self._process.wait(timeout=10)
            raise PolicyCheckError(f"policy pack failed to start: {self._failure(text)}")
        return int(text)

    def _failure(self, stdout: str = "") -> str:
        lines = [line for line in self._stderr if line.strip()] or [stdout or "no output"]
        errors = [line for line in lines if "Error" in line or "error" in line]
        return (errors or lines)[-1].strip()

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._engine_server.stop(0)

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
            initial[key] = PolicyConfig(_WIRE_TO_LEVEL[value.enforcementLevel], props)
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
            request.policyConfig[name].enforcementLevel = _LEVEL_TO_WIRE[level]
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
        resources = parse_state(state)
        stack, project = stack_and_project(resources)
        self.configure_stack(stack, project)
        effective = self.configure(config or {})
        levels = {name: entry.enforcement_level or "advisory" for name, entry in effective.items()}
        counters = WireCounters()
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
        providers = _provider_index(resources)
        wire_providers = {urn: _provider_message(prov, counters) for urn, prov in providers.items()}
        remediating = any(level == "remediate" for level in levels.values())

        analyzed = [r for r in resources if not r.external]
        inputs = {r.urn: r.inputs for r in analyzed}
        if remediating:
            for resource, response in self._pipeline(
                "Remediate",
                analyzed,
                lambda r: self._request(r, inputs[r.urn], wire_providers, providers, counters),
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
        for resource, response in self._pipeline(
            "Analyze",
            analyzed,
            lambda r: self._request(r, inputs[r.urn], wire_providers, providers, counters),
        ):
            report.add(response, resource, resource.urn, meta)

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
            message.properties.CopyFrom(_struct(props, counters, resource.urn))
            prov_urn = _provider_for(resource, providers)
            if prov_urn:
                message.provider.CopyFrom(wire_providers[prov_urn])
            for key, urns in resource.property_dependencies.items():
                if urns:  # the engine skips properties without dependencies
                    message.propertyDependencies[key].urns.extend(urns)
        response = self._call("AnalyzeStack", stack_request)
        report.add(response, None, root_urn(resources), meta, by_urn)
        report.hidden_secrets = len(counters.hidden)
        report.logs = list(self.engine.logs)
        report.sort()
        return report

    def _request(
        self,
        resource: StateResource,
        props: Mapping[str, Any],
        wire_providers: Mapping[str, Any],
        providers: Mapping[str, StateResource],
        counters: WireCounters,
    ) -> Any:
        request = analyzer_pb2.AnalyzeRequest(
            type=resource.type,
            urn=resource.urn,
            name=resource.name,
            options=_options(resource),
        )
        request.properties.CopyFrom(_struct(props, counters, resource.urn))
        prov_urn = _provider_for(resource, providers)
        if prov_urn:
            request.provider.CopyFrom(wire_providers[prov_urn])
        return request

    def _pipeline(
        self, method: str, resources: Sequence[StateResource], build: Any
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


def _provider_index(resources: Sequence[StateResource]) -> dict[str, StateResource]:
    return {r.urn: r for r in resources if r.type.startswith("pulumi:providers:")}


def _provider_for(resource: StateResource, providers: Mapping[str, StateResource]) -> str:
    """The URN of the resource's provider: its provider reference (``<urn>::<id>``), else the
    package's default provider."""
    if resource.type.startswith("pulumi:providers:") or not resource.custom:
        return ""
    if resource.provider:
        urn = resource.provider.rsplit("::", 1)[0]
        return urn if urn in providers else ""
    package = resource.type.split(":", 1)[0]
    for urn, provider in providers.items():
        if provider.type == f"pulumi:providers:{package}" and provider.name.startswith("default"):
            return urn
    return ""


def _provider_message(provider: StateResource, counters: WireCounters) -> Any:
    message = analyzer_pb2.AnalyzerProviderResource(
        urn=provider.urn, type=provider.type, name=provider.name
    )
    message.properties.CopyFrom(_struct(provider.inputs, counters, provider.urn))
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


# =============================================================================================
# The report
# =============================================================================================


@dataclass(frozen=True)
class Violation:
    policy: str
    urn: str
    type: str
    enforcement_level: str
    severity: str
    message: str
    framework: str
    reference: str

    def as_dict(self) -> dict[str, str]:
        return {
            "policy": self.policy,
            "urn": self.urn,
            "type": self.type,
            "enforcementLevel": self.enforcement_level,
            "severity": self.severity,
            "message": self.message,
            "framework": self.framework,
            "reference": self.reference,
        }


@dataclass(frozen=True)
class NotApplicable:
    policy: str
    urn: str
    type: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"policy": self.policy, "urn": self.urn, "type": self.type, "reason": self.reason}


@dataclass(frozen=True)
class Remediated:
    policy: str
    urn: str
    type: str


@dataclass
class Report:
    """The outcome of one evaluation."""

    pack: str
    version: str
    stack: str
    project: str
    source: str
    resources: int
    policies: list[PolicyMeta]
    levels: dict[str, str]
    violations: list[Violation] = field(default_factory=list)
    not_applicable: list[NotApplicable] = field(default_factory=list)
    remediations: list[Remediated] = field(default_factory=list)
    hidden_secrets: int = 0
    logs: list[tuple[str, str, str]] = field(default_factory=list)

    # -- collection ------------------------------------------------------------------------

    def add(
        self,
        response: Any,
        resource: StateResource | None,
        default_urn: str,
        meta: Mapping[str, PolicyMeta],
        by_urn: Mapping[str, StateResource] | None = None,
    ) -> None:
        for diagnostic in response.diagnostics:
            # Resource policies always report against the analysed resource; stack policies
            # name one, or the root stack (as the engine does for unknown URNs).
            urn = default_urn
            if resource is None and diagnostic.urn and by_urn and diagnostic.urn in by_urn:
                urn = diagnostic.urn
            target = resource or (by_urn or {}).get(urn)
            kind = target.type if target else STACK_TYPE
            message = diagnostic.message
            if message.startswith("can't run policy"):
                self.not_applicable.append(NotApplicable(diagnostic.policyName, urn, kind, message))
                continue
            prefix = diagnostic.description + "\n"
            if message.startswith(prefix):
                message = message[len(prefix) :]
            policy = meta.get(diagnostic.policyName)
            self.violations.append(
                Violation(
                    policy=diagnostic.policyName,
                    urn=urn,
                    type=kind,
                    enforcement_level=_WIRE_TO_LEVEL[diagnostic.enforcementLevel],
                    severity=_WIRE_TO_SEVERITY.get(diagnostic.severity, "")
                    or (policy.severity if policy else ""),
                    message=message.strip(),
                    framework=policy.framework if policy else "",
                    reference=policy.reference if policy else "",
                )
            )
        for item in response.not_applicable:
            kind = resource.type if resource else STACK_TYPE
            self.not_applicable.append(
                NotApplicable(item.policy_name, default_urn, kind, item.reason)
            )

    def add_diagnostic_text(self, policy: str, resource: StateResource, text: str) -> None:
        self.not_applicable.append(NotApplicable(policy, resource.urn, resource.type, text))

    def sort(self) -> None:
        order = {p.name: i for i, p in enumerate(self.policies)}
        self.violations.sort(
            key=lambda v: (
                LEVEL_RANK.get(v.enforcement_level, 3),
                SEVERITY_RANK.get(v.severity, 4),
                order.get(v.policy, 999),
                v.urn,
            )
        )

    # -- verdict ---------------------------------------------------------------------------

    @property
    def evaluated(self) -> list[PolicyMeta]:
        return [p for p in self.policies if self.levels.get(p.name) != "disabled"]

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.enforcement_level == "mandatory"]

    @property
    def exit_code(self) -> int:
        return 1 if self.mandatory else 0

    def verdict(self) -> str:
        state = "FAIL" if self.mandatory else "PASS"
        return (
            f"policy check {state}: {len(self.violations)} violation(s), "
            f"{len(self.mandatory)} mandatory, {len(self.evaluated)} policies, "
            f"{self.resources} resources ({self.stack or self.source})"
        )

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "summary": {
                "resources": self.resources,
                "policies": len(self.evaluated),
                "violations": len(self.violations),
                "mandatory": len(self.mandatory),
            },
            "violations": [v.as_dict() for v in self.violations],
            "notApplicable": [n.as_dict() for n in self.not_applicable],
        }
        if self.remediations:
            result["remediations"] = [
                {"policy": r.policy, "urn": r.urn, "type": r.type} for r in self.remediations
            ]
        return result


# =============================================================================================
# Output formats
# =============================================================================================


def render_text(report: Report) -> str:
    lines = [
        f"{report.pack}@{report.version} on {report.stack or '?'} ({report.source}): "
        f"{report.resources} resources, {len(report.evaluated)} policies"
    ]
    for v in report.violations:
        lines.append(
            f"[{v.enforcement_level}] {v.policy} ({v.severity}, {v.framework} {v.reference})"
        )
        lines.append(f"    {v.urn}")
        for part in v.message.splitlines():
            lines.append(f"    {part}")
    for r in report.remediations:
        lines.append(f"[remediated] {r.policy}: {r.urn}")
    if report.hidden_secrets:
        lines.append(
            f"note: encrypted secrets of {report.hidden_secrets} resource(s) could not be read "
            "offline and were evaluated as unknown (export with --show-secrets to include them)"
        )
    skipped = Counter(n.policy for n in report.not_applicable)
    if skipped:
        lines.append(
            "not applicable: " + ", ".join(f"{p} x{n}" for p, n in sorted(skipped.items()))
        )
    lines.append(report.verdict())
    return "\n".join(lines) + "\n"


def render_json(report: Report) -> str:
    return json.dumps(report.as_dict(), indent=2) + "\n"


_SARIF_LEVEL = {"mandatory": "error", "remediate": "error", "advisory": "warning"}
_SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "": "1.0"}


def render_sarif(report: Report, artifact: str = "Pulumi.yaml") -> str:
    """SARIF 2.1.0: one rule per policy, one result per violation, located at the stack's
    config file (the resource URN as a logical location)."""
    rules = []
    index = {}
    for i, p in enumerate(report.policies):
        index[p.name] = i
        rules.append(
            {
                "id": p.name,
                "name": "".join(part.capitalize() for part in p.name.split("-")),
                "shortDescription": {"text": p.description},
                "fullDescription": {"text": p.description},
                "help": {"text": p.remediation or p.description, "markdown": p.remediation},
                "defaultConfiguration": {
                    "level": _SARIF_LEVEL.get(report.levels.get(p.name, "advisory"), "none"),
                    "enabled": report.levels.get(p.name) != "disabled",
                },
                "properties": {
                    "tags": [p.domain, *(f"{f} {r}" for f, r in p.controls)],
                    "precision": "very-high",
                    "problem.severity": "error"
                    if p.severity in ("high", "critical")
                    else "warning",
                    "security-severity": _SECURITY_SEVERITY.get(p.severity, "1.0"),
                    "framework": p.framework,
                    "frameworkVersion": p.framework_version,
                    "reference": p.reference,
                    "enforcementLevel": report.levels.get(p.name, p.enforcement_level),
                },
            }
        )
    results = []
    for v in report.violations:
        results.append(
            {
                "ruleId": v.policy,
                "ruleIndex": index.get(v.policy, -1),
                "level": _SARIF_LEVEL.get(v.enforcement_level, "note"),
                "message": {"text": f"{v.message} ({v.urn})"},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": artifact},
                            "region": {"startLine": 1},
                        },
                        "logicalLocations": [
                            {
                                "fullyQualifiedName": v.urn,
                                "name": v.urn.split("::", 3)[-1],
                                "kind": "resource",
                            }
                        ],
                    }
                ],
                "partialFingerprints": {"policyUrn/v1": f"{v.policy}:{v.urn}:{v.message}"},
                "properties": {
                    "resourceType": v.type,
                    "severity": v.severity,
                    "enforcementLevel": v.enforcement_level,
                    "framework": v.framework,
                    "reference": v.reference,
                },
            }
        )
    document = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": report.pack,
                        "version": report.version,
                        "informationUri": "https://www.pulumi.com/docs/iac/crossguard/",
                        "rules": rules,
                    }
                },
                "automationDetails": {"id": f"policy-check/{report.stack}/"},
                "results": results,
                "properties": {"stack": report.stack, "resources": report.resources},
            }
        ],
    }
    return json.dumps(document, indent=2) + "\n"


def render_junit(report: Report) -> str:
    """One test case per policy: mandatory violations fail it, advisory ones are reported
    as output, disabled policies are skipped."""
    by_policy: dict[str, list[Violation]] = {}
    for v in report.violations:
        by_policy.setdefault(v.policy, []).append(v)
    suite = ET.Element(
        "testsuite",
        name=f"{report.pack} ({report.stack})",
        tests=str(len(report.policies)),
        failures="0",
        errors="0",
        skipped="0",
    )
    failures = skipped = 0
    for p in report.policies:
        case = ET.SubElement(
            suite, "testcase", classname=f"policies.{p.domain or 'pack'}", name=p.name
        )
        level = report.levels.get(p.name, p.enforcement_level)
        found = by_policy.get(p.name, [])
        blocking = [v for v in found if v.enforcement_level == "mandatory"]
        if level == "disabled":
            skipped += 1
            ET.SubElement(case, "skipped", message="policy disabled by config")
        elif blocking:
            failures += 1
            failure = ET.SubElement(
                case,
                "failure",
                message=f"{len(blocking)} mandatory violation(s)",
                type=p.severity or "mandatory",
            )
            failure.text = "\n".join(f"{v.urn}: {v.message}" for v in blocking)
        advisory = [v for v in found if v.enforcement_level != "mandatory"]
        if advisory:
            out = ET.SubElement(case, "system-out")
            out.text = "\n".join(f"advisory: {v.urn}: {v.message}" for v in advisory)
    suite.set("failures", str(failures))
    suite.set("skipped", str(skipped))
    root = ET.Element(
        "testsuites", name="policy check", tests=str(len(report.policies)), failures=str(failures)
    )
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def render_markdown(report: Report) -> str:
    """A PR comment: verdict, violations grouped by framework (worst first), coverage."""
    icon = "❌" if report.mandatory else ("⚠️" if report.violations else "✅")
    lines = [
        f"### {icon} Policy check: `{report.stack}`",
        "",
        f"{report.verdict()}.",
        "",
    ]
    groups: dict[str, list[Violation]] = {}
    for v in report.violations:
        groups.setdefault(v.framework or "Other", []).append(v)

    def worst(items: list[Violation]) -> tuple[int, int, int]:
        return (
            min(LEVEL_RANK.get(v.enforcement_level, 3) for v in items),
            min(SEVERITY_RANK.get(v.severity, 4) for v in items),
            -len(items),
        )

    for framework, items in sorted(groups.items(), key=lambda kv: worst(kv[1])):
        lines += [
            f"#### {framework} ({len(items)})",
            "",
            "| Enforcement | Severity | Policy | Control | Resource | Finding |",
            "|---|---|---|---|---|---|",
        ]
        for v in items:
            lines.append(
                f"| {v.enforcement_level} | {v.severity} | `{v.policy}` | {_md(v.reference)} | "
                f"`{_md(v.urn.split('::', 3)[-1])}` ({_md(v.type)}) | {_md(v.message)} |"
            )
        lines.append("")
    if report.hidden_secrets:
        lines += [
            f"> Encrypted secrets of {report.hidden_secrets} resource(s) could not be read offline "
            "and were evaluated as unknown.",
            "",
        ]
    lines += [
        "<details><summary>Coverage: policies by framework control</summary>",
        "",
        render_coverage(report.policies, "markdown", report.levels).rstrip(),
        "",
        "</details>",
        "",
    ]
    return "\n".join(lines)


def coverage(policies: Iterable[PolicyMeta]) -> dict[str, dict[str, list[str]]]:
    """framework -> control reference -> policy names."""
    matrix: dict[str, dict[str, list[str]]] = {}
    for p in policies:
        for framework, reference in p.controls:
            matrix.setdefault(framework, {}).setdefault(reference, []).append(p.name)
    return {
        f: dict(sorted(refs.items(), key=lambda kv: _ref_key(kv[0])))
        for f, refs in sorted(matrix.items())
    }


def _ref_key(reference: str) -> list[Any]:
    import re

    return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", reference)]


def render_coverage(
    policies: Sequence[PolicyMeta], fmt: str = "text", levels: Mapping[str, str] | None = None
) -> str:
    frameworks = sorted({f for p in policies for f, _ in p.controls})
    if fmt == "json":
        return (
            json.dumps(
                {
                    "policies": [
                        {
                            "name": p.name,
                            "severity": p.severity,
                            "enforcementLevel": (levels or {}).get(p.name, p.enforcement_level),
                            "controls": [{"framework": f, "reference": r} for f, r in p.controls],
                        }
                        for p in policies
                    ],
                    "frameworks": coverage(policies),
                },
                indent=2,
            )
            + "\n"
        )

    def cell(p: PolicyMeta, framework: str) -> str:
        return ", ".join(r for f, r in p.controls if f == framework)

    if fmt == "markdown":
        lines = [
            "| Policy | Severity | " + " | ".join(frameworks) + " |",
            "|---|---|" + "---|" * len(frameworks),
        ]
        for p in policies:
            cells = " | ".join(cell(p, f) or "" for f in frameworks)
            lines.append(f"| `{p.name}` | {p.severity} | {cells} |")
        return "\n".join(lines) + "\n"
    lines = []
    for framework, refs in coverage(policies).items():
        lines.append(framework)
        for reference, names in refs.items():
            lines.append(f"  {reference:<14} {', '.join(names)}")
    return "\n".join(lines) + "\n"


RENDERERS = {
    "text": render_text,
    "json": render_json,
    "sarif": render_sarif,
    "junit": render_junit,
    "markdown": render_markdown,
}


# =============================================================================================
# Entry points
# =============================================================================================


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
        return host.evaluate(state, config, source)


def policy_verdict(plan: Any) -> Report:
    """The pack's verdict on an offline plan with the default config (``rollout plan``)."""
    return evaluate(plan_state(plan), source="offline plan")


def pack_policies() -> list[PolicyMeta]:
    """The pack's policies read in-process (for the coverage matrix; no pack process)."""
    from policies.pack import all_policies

    return sorted((meta_from_policy(p) for p in all_policies()), key=lambda p: p.name)


def _stack_config(stack: str) -> dict[str, str]:
    """The stack's config as the engine passes it in PULUMI_CONFIG (``namespace:key`` -> string,
    objects JSON-encoded), read by the same loader as the offline plan; ``secure:`` values stay
    opaque placeholders."""
    from rollout_cli.stackfile import load_offline, project_root

    return dict(load_offline(stack, project_root()).engine_config)


policy_app = typer.Typer(
    help="CrossGuard policy checks of a stack's state, offline.", no_args_is_help=True
)


def _fail(message: str) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(2)


@policy_app.command()
def check(
    stack: Annotated[
        str | None, typer.Option("--stack", "-s", help="Render this stack offline and check it.")
    ] = None,
    week: Annotated[
        int | None, typer.Option("--week", "-w", help="Rollout week (with --stack).")
    ] = None,
    export: Annotated[
        Path | None,
        typer.Option("--export", help="A `pulumi stack export` file, or a render DIR."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Policy pack config (the --policy-pack-config format)."),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="text, json, sarif, junit or markdown.")
    ] = "text",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report to this file.")
    ] = None,
    ledger: Annotated[
        str | None, typer.Option("--ledger", help="Rollback ledger JSON file (with --stack).")
    ] = None,
    pack: Annotated[Path, typer.Option("--policy-pack", help="Policy pack directory.")] = PACK_DIR,
) -> None:
    """Evaluate the policy pack against a stack's state. Exit 1 on a mandatory violation,
    2 on bad input."""
    if fmt not in FORMATS:
        raise _fail(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if (stack is None) == (export is None):
        raise _fail("give exactly one of --stack or --export")
    if export is not None and (week is not None or ledger is not None):
        raise _fail("--week and --ledger go with --stack, not --export")
    try:
        given = load_config_file(config) if config is not None else {}
        if export is not None:
            state = load_state_file(export)
            source, artifact, stack_config = str(export), str(export), None
        else:
            assert stack is not None
            state = _render(stack, week, ledger)
            source = f"offline render, week {week}" if week is not None else "offline render"
            artifact, stack_config = f"Pulumi.{stack}.yaml", _stack_config(stack)
        report = evaluate(state, given, pack_dir=pack, source=source, stack_config=stack_config)
    except PolicyCheckError as err:
        raise _fail(str(err)) from None
    text = render_sarif(report, artifact) if fmt == "sarif" else RENDERERS[fmt](report)
    if output is not None:
        try:
            output.write_text(text)
        except OSError as err:
            raise _fail(f"--output {output}: cannot write ({err.strerror})") from None
        print(report.verdict())
    else:
        sys.stdout.write(text)
    raise typer.Exit(report.exit_code)


def _render(stack: str, week: int | None, ledger: str | None) -> Any:
    from rollout_cli.stackfile import project_root
    from rollout_rules.errors import ConfigError
    from rollout_cli.offline import run_plan

    try:
        return plan_state(run_plan(stack, week, ledger, root=project_root()))
    except ConfigError as err:
        raise PolicyCheckError(str(err)) from None


def plan_state(plan: Any) -> dict[str, Any]:
    """An offline plan in stack-export shape with its secrets readable.

    ``render_state`` writes secrets as ciphertext, as an export file would; the plan itself
    knows their values (placeholders for secure config), and the engine decrypts secrets before
    analysis, so the check sees them in plain text like a real preview does.
    """
    state: dict[str, Any] = plan.export()
    records = {r.urn: r for r in plan.records}
    for entry in state["deployment"]["resources"]:
        record = records.get(entry["urn"])
        if record is not None:
            entry["inputs"], entry["outputs"] = record.inputs, record.outputs
    return state


@policy_app.command("coverage")
def coverage_command(
    fmt: Annotated[str, typer.Option("--format", "-f", help="text, markdown or json.")] = "text",
) -> None:
    """Which policies cover which framework controls (SOC 2, GDPR, CIS, OpenChain)."""
    if fmt not in ("text", "markdown", "json"):
        raise _fail(f"--format {fmt!r}: expected text, markdown or json")
    sys.stdout.write(render_coverage(pack_policies(), fmt))
