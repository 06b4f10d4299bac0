"""Render a plan to files, and diff two plans.

`render` writes DIR/resources.json (the `pulumi stack export` shape) and DIR/k8s/ (every
Kubernetes object as YAML, one object per file), plus the components' own outputs (see
`component_renderers`). Everything is written to a temporary directory first and moved into
place at the end, so a failure never leaves a half-written DIR.
"""

from __future__ import annotations

import base64
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.yaml_text import to_yaml
from rollout_cli.offline import SECRET_SIG, SECRET_VALUE, PlanResult, Record, conceal
from rollout_rules.contract import STACK_TYPE

# Placeholder written wherever a secret value would be; keeps the document valid.
SECRET_PLACEHOLDER = "offline-secret-placeholder"
KUBERNETES_PSEUDO_TYPES = ("kubernetes:helm.sh/v3:Release",)

Renderer = Callable[[PlanResult, Path], None]


def component_renderers() -> list[Renderer]:
    """The outputs components add under DIR (imported here, when rendering)."""
    from rollout_cli.renderers.observability import render_plan as observability
    from rollout_cli.renderers.rollback import render_rollback as rollback

    return [observability, rollback]


def reveal_placeholders(value: Any) -> Any:
    """Secret values become a placeholder string, so documents stay well-formed."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == SECRET_VALUE:
            return _placeholder_shape(value.get("value"))
        return {k: reveal_placeholders(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal_placeholders(v) for v in value]
    return value


def _placeholder_shape(value: Any) -> Any:
    """A secret map or list keeps its keys and length (a Secret's `stringData` stays a map)."""
    if isinstance(value, dict):
        return {k: _placeholder_shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_placeholder_shape(v) for v in value]
    return SECRET_PLACEHOLDER


def kubernetes_objects(plan: PlanResult) -> list[dict[str, Any]]:
    """Every Kubernetes object the plan declares, as it would be applied."""
    objects = []
    for record in plan.records:
        if not _is_kubernetes_object(record):
            continue
        obj = reveal_placeholders(record.inputs)
        if obj.get("kind") == "Secret" and isinstance(obj.get("data"), dict):
            obj["data"] = {
                k: v if _is_base64(v) else base64.b64encode(str(v).encode()).decode()
                for k, v in obj["data"].items()
            }
        objects.append(obj)
    return objects


def _is_kubernetes_object(record: Record) -> bool:
    return (
        record.type.startswith("kubernetes:")
        and record.custom
        and record.type not in KUBERNETES_PSEUDO_TYPES
        and "apiVersion" in record.inputs
    )


def _is_base64(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        base64.b64decode(value, validate=True)
    except ValueError:
        return False
    return True


def object_filename(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace") or "cluster"
    return f"{namespace}--{obj['kind'].lower()}--{meta.get('name', 'unnamed')}.yaml"


def render(plan: PlanResult, out: Path) -> list[Path]:
    """Write the plan under `out`; returns the written files relative to `out`."""
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        (staging / "resources.json").write_text(
            json.dumps(plan.export(), indent=2, sort_keys=False) + "\n"
        )
        k8s_dir = staging / "k8s"
        k8s_dir.mkdir()
        for obj in kubernetes_objects(plan):
            path = k8s_dir / object_filename(obj)
            if path.exists():
                raise ValueError(f"two Kubernetes objects render to {path.name}")
            path.write_text(to_yaml(obj))
        for renderer in component_renderers():
            renderer(plan, staging)
        written = sorted(p.relative_to(staging) for p in staging.rglob("*") if p.is_file())
        out.mkdir(exist_ok=True)
        for entry in sorted(staging.iterdir()):
            target = out / entry.name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            entry.rename(target)
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# -- diff ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One changed property of a resource."""

    path: str
    old: Any
    new: Any


@dataclass(frozen=True)
class PlanDiff:
    """What moving a stack from one plan to another would do."""

    added: list[str]
    removed: list[str]
    changed: dict[str, list[Change]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "removed": self.removed,
            "changed": {
                urn: [{"path": c.path, "old": c.old, "new": c.new} for c in changes]
                for urn, changes in self.changed.items()
            },
        }


def _paths(old: Any, new: Any, path: str) -> Iterator[Change]:
    if isinstance(old, dict) and isinstance(new, dict) and SECRET_SIG not in old | new:
        for key in sorted(set(old) | set(new)):
            sub = f"{path}.{key}" if path else key
            if key not in old:
                yield Change(sub, None, new[key])
            elif key not in new:
                yield Change(sub, old[key], None)
            else:
                yield from _paths(old[key], new[key], sub)
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            yield from _paths(a, b, f"{path}[{index}]")
    elif old != new:
        yield Change(path, old, new)


def diff(before: PlanResult, after: PlanResult) -> PlanDiff:
    """Resources added, removed, and changed (with property paths) between two plans."""
    old = {r.urn: r for r in before.records if r.type != STACK_TYPE}
    new = {r.urn: r for r in after.records if r.type != STACK_TYPE}
    changed = {}
    for urn in sorted(old.keys() & new.keys()):
        changes = list(_paths(conceal(old[urn].inputs), conceal(new[urn].inputs), ""))
        if changes:
            changed[urn] = changes
    return PlanDiff(
        added=sorted(new.keys() - old.keys()),
        removed=sorted(old.keys() - new.keys()),
        changed=changed,
    )
