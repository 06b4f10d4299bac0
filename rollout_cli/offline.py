"""The offline plan: run the real program in-process under the Pulumi SDK's mock runtime.

A recording monitor captures every RegisterResource request as the engine would receive it
(type, name, URN built the engine's way, parent, raw wire-format inputs with unknowns and
secrets, dependencies, options) and answers with realistic outputs from `rollout_cli.mocks`. The
result can be written in the shape of `pulumi stack export`.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
import logging
import runpy
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from infra.config import PROJECT, ConfigError, StackConfig, decode_config_value
from rollout_cli.inputs import read_input
from rollout_cli.stackfile import REPO_ROOT, load_offline
from rollout_rules.contract import STACK_TYPE

PROGRAM_DIR = REPO_ROOT / "infra"
SECRET_SIG = "4dabf18193072939515e22adb298388d"
SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
ENGINE_VERSION = "v3.200.0-offline"
"""The manifest's engine version (a real export names the CLI that wrote it)."""
OFFLINE_SALT = "v1:b2ZmbGluZQ==:v1:b2ZmbGluZS1yb2xsb3V0Og==:b2ZmbGluZQ=="
OPTION_FIELDS = (
    "protect",
    "deleteBeforeReplace",
    "ignoreChanges",
    "replaceOnChanges",
    "additionalSecretOutputs",
    "retainOnDelete",
    "deletedWith",
    "version",
    "pluginDownloadURL",
)


@dataclass
class Record:
    """One RegisterResource request and the mocked response."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    inputs: dict[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)
    id: str = ""
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    provider: str = ""
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class PlanResult:
    """The desired state of one stack at one week."""

    stack: str
    week: int
    config: StackConfig
    records: list[Record]
    stack_outputs: dict[str, Any]
    messages: list[tuple[str, str]]
    from_week: int | None = None
    """The week this plan previews the change from (None: a plain plan, every output known)."""
    new: list[str] = field(default_factory=list)
    """With ``from_week``: the URNs of the resources the change creates (unknown outputs)."""

    def by_type(self, typ: str) -> list[Record]:
        return [r for r in self.records if r.type == typ]

    def find(self, urn_suffix: str) -> Record:
        matches = [r for r in self.records if r.urn.endswith(urn_suffix)]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources match {urn_suffix!r}")
        return matches[0]

    def components(self) -> dict[str, list[Record]]:
        """Resources grouped by their top-level component (the child of the stack); the stack
        itself and the custom resources directly under it (providers) are "(stack)", so the
        groups add up to every resource, as Pulumi and the policy pack count them."""
        by_urn = {r.urn: r for r in self.records}
        groups: dict[str, list[Record]] = {}
        for record in self.records:
            if record.type == STACK_TYPE:
                groups.setdefault("(stack)", []).append(record)
                continue
            top = record
            while top.parent in by_urn and by_urn[top.parent].type != STACK_TYPE:
                top = by_urn[top.parent]
            key = f"{top.type}::{top.name}" if not top.custom or top is not record else "(stack)"
            groups.setdefault(key, []).append(record)
        return groups

    def export(self) -> dict[str, Any]:
        return export_state(self)


def _normalise(value: Any) -> Any:
    """Integral floats (protobuf Struct numbers) become ints, as the engine's JSON shows them."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


def _struct(message: Any) -> dict[str, Any]:
    return _normalise(json_format.MessageToDict(message)) if message is not None else {}


def _monitor_class() -> type:
    from pulumi.runtime.mocks import MockMonitor
    from pulumi.runtime.settings import get_project, get_stack

    class RecordingMonitor(MockMonitor):
        """MockMonitor that records each request the way the engine would receive it.

        With ``existing`` (a preview from an earlier week), a custom resource whose URN is not
        in it is new: it is answered as the engine answers at preview, with no id and its
        computed outputs unknown.
        """

        def __init__(self, mocks: Any, existing: set[str] | None = None) -> None:
            super().__init__(mocks)
            self.checker = mocks.check
            self.records: list[Record] = []
            self.stack_outputs: dict[str, Any] = {}
            self.component_outputs: dict[str, dict[str, Any]] = {}
            self.existing = existing
            self._lock = threading.Lock()

        def make_urn(self, parent: str, type_: str, name: str) -> str:
            # The engine prefixes the parent's full qualified type, except for the root stack.
            parent_type = parent.split("::")[2] if parent else ""
            qualified = (
                f"{parent_type}${type_}" if parent_type and parent_type != STACK_TYPE else type_
            )
            return f"urn:pulumi:{get_stack()}::{get_project()}::{qualified}::{name}"

        def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
            response = super().RegisterResource(request)
            if (
                self.existing is not None
                and request.custom
                and not request.type.startswith("pulumi:providers:")
                and response.urn not in self.existing
            ):
                planned = preview_outputs(request.type, _struct(request.object), response.object)
                response.id = ""
                response.object.Clear()
                response.object.update(planned)
            options: dict[str, Any] = {}
            for name in OPTION_FIELDS:
                value = getattr(request, name, None)
                if value:
                    options[name] = list(value) if not isinstance(value, (str, bool)) else value
            if request.HasField("customTimeouts"):
                options["customTimeouts"] = json_format.MessageToDict(request.customTimeouts)
            # The state holds the provider's checked inputs: auto-names filled in.
            inputs = self.checker(request.type, request.name, _struct(request.object))
            if request.type.startswith("pulumi:providers:") and request.version:
                # The engine records an explicit provider's plugin version among its inputs.
                inputs.setdefault("version", request.version)
            record = Record(
                urn=response.urn,
                type=request.type,
                name=request.name,
                custom=bool(request.custom),
                parent=request.parent,
                inputs=inputs,
                outputs=_struct(response.object) if request.custom else {},
                id=response.id,
                dependencies=sorted(set(request.dependencies)),
                property_dependencies={
                    k: sorted(set(v.urns)) for k, v in request.propertyDependencies.items()
                },
                provider=request.provider,
                options=options,
            )
            with self._lock:
                self.records.append(record)
            return response

        def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802
            # The engine keeps every component's registered outputs in the state (the root
            # stack's are the program's exports).
            with self._lock:
                self.component_outputs[request.urn] = _struct(request.outputs)
                if request.urn.split("::")[2] == STACK_TYPE:
                    self.stack_outputs = self.component_outputs[request.urn]
            return super().RegisterResourceOutputs(request)

    return RecordingMonitor


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.INFO:
            self.messages.append((record.levelname.lower(), record.getMessage()))


def run_plan(
    stack: str,
    week: int | None = None,
    ledger: str | None = None,
    root: Path = REPO_ROOT,
    from_week: int | None = None,
    before: PlanResult | None = None,
) -> PlanResult:
    """Run the program for `stack` (at `week`, default: the configured week) under mocks.

    With `from_week`, the result is the preview of the change from what the program declared at
    `from_week` to `week`: resources that existed keep their outputs, new ones get unknown
    computed outputs; 0 is a first deploy (nothing exists yet).

    Raises ConfigError for invalid config (including a bad `week` or `from_week`) before
    anything runs. `before`, the plan at `from_week` when the caller has it, saves a run.
    """
    offline = load_offline(stack, root, week)
    target = offline.model.rollout.week
    existing: set[str] | None = None
    if from_week is not None:
        if isinstance(from_week, bool) or not isinstance(from_week, int) or from_week < 0:
            raise ConfigError(
                f"--from-week {from_week}: not a week (0 is a first deploy, weeks start at 1)"
            )
        if from_week > target:
            raise ConfigError(
                f"--from-week {from_week}: after the week previewed ({target}); a preview goes "
                "from an earlier week to a later one"
            )
        existing = set()
        if from_week > 0:
            if before is None or before.week != from_week:
                before = run_plan(stack, from_week, ledger, root)
            existing = {r.urn for r in before.records}
    ledger_value = _read_ledger_file(ledger) if ledger is not None else None
    result = contextvars.copy_context().run(
        _run,
        stack,
        offline.model,
        offline.engine_config,
        offline.secret_keys,
        ledger_value,
        existing,
    )
    if existing is not None:
        result.from_week = from_week
        result.new = [
            r.urn
            for r in result.records
            if r.custom and not r.type.startswith("pulumi:providers:") and r.urn not in existing
        ]
    return result


def _read_ledger_file(path: str) -> str:
    text = read_input(path, f"--ledger {path}")
    try:
        json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"--ledger {path}: not JSON ({err.msg} at line {err.lineno})") from None
    return text


def _run(
    stack: str,
    config: StackConfig,
    engine_config: dict[str, str],
    secret_keys: list[str],
    ledger: str | None,
    existing: set[str] | None = None,
) -> PlanResult:
    import pulumi
    from pulumi.runtime import config as runtime_config
    from pulumi.runtime import settings as runtime_settings
    from pulumi.runtime.mocks import MockEngine, MockSettings
    from pulumi.runtime.stack import run_in_stack

    from rollout_cli.mocks import RealisticMocks, ledger_invokes

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    mocks = RealisticMocks(stack, PROJECT, config.region, config.account_id)
    mocks.invokes.update(ledger_invokes(stack, ledger))
    monitor = _monitor_class()(mocks, existing)
    collector = _Collector()
    logger = logging.getLogger(f"codex-rollout.offline.{id(collector)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(collector)
    features = set(monitor.GetDeploymentInfo(None).supportedFeatures)
    runtime_settings.configure(
        MockSettings(
            monitor=monitor,
            monitor_features=features,
            engine=MockEngine(logger),
            project=PROJECT,
            stack=stack,
            dry_run=True,
            organization="organization",
            root_directory=str(REPO_ROOT),
            callbacks=None,
        )
    )
    runtime_settings.ROOT.set(None)
    runtime_config.set_all_config(engine_config, secret_keys)

    def program() -> None:
        # What the Python language host does with `main: infra/`.
        runpy.run_path(str(PROGRAM_DIR), run_name="__main__")

    try:
        loop.run_until_complete(run_in_stack(program))
    except pulumi.RunError as err:
        raise ConfigError(str(err)) from None
    finally:
        loop.close()
        asyncio.set_event_loop(None)
        logger.removeHandler(collector)
    records = _with_default_providers(monitor.records, stack, engine_config)
    # The root stack registers like any component; its outputs are the program's exports.
    for record in records:
        if not record.custom and record.urn in monitor.component_outputs:
            record.outputs = monitor.component_outputs[record.urn]
    return PlanResult(
        stack=stack,
        week=config.rollout.week,
        config=config,
        records=_ordered(records),
        stack_outputs=monitor.stack_outputs,
        messages=collector.messages,
    )


# Outputs the engine knows at preview for a resource it is about to create, beyond its checked
# inputs: the auto-name Check fills in, the region the provider applies, and tagsAll, which
# pulumi-aws computes while planning (default tags merged with the resource's).
_KNOWN_AT_PREVIEW = frozenset({"name", "region", "tagsAll"})


def preview_outputs(typ: str, inputs: dict[str, Any], planned: Any) -> dict[str, Any]:
    """What the engine gives the program and the pack at preview for a new resource.

    Its checked inputs (with the auto-name), and every other output unknown. `planned` is the
    mock's answer (a Struct) after create, which says which outputs the provider computes.
    """
    after = _struct(planned)
    outputs: dict[str, Any] = dict(inputs)
    for key, value in after.items():
        if key in inputs:
            continue
        outputs[key] = value if key in _KNOWN_AT_PREVIEW else UNKNOWN
    if typ.startswith("kubernetes:") and isinstance(after.get("metadata"), dict):
        # metadata.name is filled in by Check; uid and resourceVersion come from the API server.
        metadata = dict(inputs.get("metadata") or {})
        if "name" in after["metadata"]:
            metadata.setdefault("name", after["metadata"]["name"])
        outputs["metadata"] = metadata
    return outputs


def _with_default_providers(
    records: list[Record], stack: str, engine_config: dict[str, str]
) -> list[Record]:
    """Add the default providers the engine would create for resources without an explicit one."""
    from rollout_cli.mocks import uuid_from

    out = list(records)
    defaults: dict[str, Record] = {}
    for record in records:
        if not record.custom or record.provider or record.type.startswith("pulumi:providers:"):
            continue
        package = record.type.split(":")[0]
        version = record.options.get("version", "")
        name = f"default_{version.replace('.', '_')}" if version else "default"
        if package not in defaults:
            urn = f"urn:pulumi:{stack}::{PROJECT}::pulumi:providers:{package}::{name}"
            inputs = {
                key.split(":", 1)[1]: decode_config_value(value)
                for key, value in engine_config.items()
                if key.startswith(f"{package}:")
            }
            if version:
                inputs["version"] = version
            provider_id = uuid_from(urn)
            defaults[package] = Record(
                urn=urn,
                type=f"pulumi:providers:{package}",
                name=name,
                custom=True,
                parent="",
                inputs=inputs,
                outputs=dict(inputs),
                id=provider_id,
            )
        default = defaults[package]
        record.provider = f"{default.urn}::{default.id}"
    out.extend(defaults.values())
    return out


def _ordered(records: list[Record]) -> list[Record]:
    """Deterministic engine-like order: parents, providers and dependencies before dependents."""
    by_urn = {r.urn: r for r in records}
    done: set[str] = set()
    result: list[Record] = []

    def requires(record: Record) -> Iterable[str]:
        yield record.parent
        yield record.provider.rsplit("::", 1)[0] if record.provider else ""
        yield from record.dependencies

    def visit(record: Record, stack: set[str]) -> None:
        if record.urn in done or record.urn in stack:
            return
        stack.add(record.urn)
        for urn in sorted(u for u in requires(record) if u in by_urn):
            visit(by_urn[urn], stack)
        done.add(record.urn)
        result.append(record)

    for record in sorted(records, key=lambda r: r.urn):
        visit(record, set())
    return result


# -- stack export shape ----------------------------------------------------------------------


def conceal(value: Any) -> Any:
    """Replace secret values by the export's ciphertext form; never write plaintext secrets."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == SECRET_VALUE:
            return {SECRET_SIG: SECRET_VALUE, "ciphertext": "[offline: not encrypted]"}
        return {k: conceal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [conceal(v) for v in value]
    return value


def export_state(plan: PlanResult) -> dict[str, Any]:
    resources = []
    for record in plan.records:
        entry: dict[str, Any] = {
            "urn": record.urn,
            "custom": record.custom,
            "type": record.type,
        }
        if record.custom and record.id:
            entry["id"] = record.id
        # The engine omits empty property maps.
        if record.inputs:
            entry["inputs"] = conceal(record.inputs)
        if record.outputs:
            entry["outputs"] = conceal(record.outputs)
        if record.parent:
            entry["parent"] = record.parent
        if record.dependencies:
            entry["dependencies"] = record.dependencies
        if record.property_dependencies:
            entry["propertyDependencies"] = record.property_dependencies
        if record.provider:
            entry["provider"] = record.provider
        for key in ("protect", "ignoreChanges", "additionalSecretOutputs", "retainOnDelete"):
            if key in record.options:
                entry[key] = record.options[key]
        resources.append(entry)
    return {
        "version": 3,
        "deployment": {
            "manifest": {
                "time": "1970-01-01T00:00:00Z",
                # `pulumi stack import` checks magic == sha256(version).
                "magic": hashlib.sha256(ENGINE_VERSION.encode()).hexdigest(),
                "version": ENGINE_VERSION,
            },
            # The state's secrets provider; offline secrets are never encrypted, so they are
            # written as the "[offline: not encrypted]" ciphertext placeholder (see conceal).
            "secrets_providers": {"type": "passphrase", "state": {"salt": OFFLINE_SALT}},
            "resources": resources,
        },
    }


def render_state(stack: str, week: int | None = None, ledger: str | None = None) -> dict[str, Any]:
    """The stack's desired state at `week` in `pulumi stack export` shape."""
    return export_state(run_plan(stack, week, ledger))
