"""The state a policy check reads: a ``pulumi stack export`` document (a file, a render directory
or an offline plan) parsed into validated resources, and the stack, project and root stack
resource it belongs to."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rollout_cli.inputs import read_input
from rollout_cli.policy.errors import PolicyCheckError
from rollout_rules.contract import PROJECT, STACK_TYPE

if TYPE_CHECKING:
    from rollout_cli.offline import PlanResult


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
    text = read_input(path, f"--export {path}", PolicyCheckError)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise PolicyCheckError(
            f"--export {path}: not JSON ({err.msg} at line {err.lineno})"
        ) from None


def plan_state(plan: PlanResult) -> dict[str, Any]:
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


def stack_and_project(resources: Sequence[StateResource]) -> tuple[str, str]:
    """The stack and project the resources' URNs name (the first resource decides)."""
    for resource in resources:
        head, project = resource.urn.split("::")[:2]
        return head.split(":", 2)[2], project
    return "", PROJECT


def root_urn(resources: Sequence[StateResource]) -> str:
    """The URN of the root stack resource, as the engine would name it when the state lacks it."""
    for resource in resources:
        if resource.type == STACK_TYPE:
            return resource.urn
    stack, project = stack_and_project(resources)
    return f"urn:pulumi:{stack}::{project}::{STACK_TYPE}::{project}-{stack}"
