"""Render a plan to files, and diff two plans.

`render` writes DIR/resources.json (the `pulumi stack export` shape) and DIR/k8s/ (every
Kubernetes object as YAML, one object per file), plus the components' own outputs (see
`component_renderers`), and DIR/render-manifest.json listing every file written with its digest.

Render never deletes or overwrites a file it did not write: DIR must be absent, empty, or a
previous render whose files are exactly those its manifest lists, unchanged. Everything is
written to a sibling staging directory first, which then replaces DIR in one rename, so a
failure never leaves a half-written DIR and a reader sees the old render or the new one.
"""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import hashlib
import json
import os
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


MANIFEST = "render-manifest.json"
MANIFEST_KIND = "codex-rollout render"


class RenderRefusedError(ValueError):
    """DIR holds something render did not write, or is not a directory it may write."""


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _manifest(staging: Path, plan: PlanResult) -> dict[str, Any]:
    files = sorted(p for p in staging.rglob("*") if p.is_file())
    return {
        "kind": MANIFEST_KIND,
        "stack": plan.stack,
        "week": plan.week,
        "files": {p.relative_to(staging).as_posix(): _digest(p) for p in files},
    }


def check_target(out: Path) -> None:
    """Refuse `out` unless render may replace it: absent, empty, or an unchanged previous render
    (every file listed in its manifest with the same digest, and nothing else)."""
    if not out.exists() and not out.is_symlink():
        return
    if out.is_symlink() or not out.is_dir():
        raise RenderRefusedError(f"{out} exists and is not a directory")
    entries = list(out.rglob("*"))
    if not entries:
        return
    manifest_path = out / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        listed = manifest["files"] if manifest.get("kind") == MANIFEST_KIND else None
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        listed = None
    if not isinstance(listed, dict):
        raise RenderRefusedError(
            f"{out} is not empty and is not a previous render (no valid {MANIFEST}); "
            "choose an empty or new directory"
        )
    folders = {parent for name in listed for parent in Path(name).parents}
    for entry in sorted(entries):
        name = entry.relative_to(out).as_posix()
        if entry.is_symlink() or not (entry.is_file() or entry.is_dir()):
            raise RenderRefusedError(f"{entry} was not written by render (not a regular file)")
        if entry.is_dir():
            if Path(name) not in folders:
                raise RenderRefusedError(f"{entry} was not written by render (not in {MANIFEST})")
        elif name != MANIFEST and name not in listed:
            raise RenderRefusedError(f"{entry} was not written by render (not in {MANIFEST})")
        elif name != MANIFEST and _digest(entry) != listed[name]:
            raise RenderRefusedError(
                f"{entry} has changed since it was rendered; move it away first"
            )


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories in one step (Linux renameat2 RENAME_EXCHANGE); False if unsupported."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    done = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return bool(done == 0)


def _replace(staging: Path, out: Path) -> None:
    """Put `staging` in place of `out` (absent, empty or a checked previous render)."""
    if not out.exists():
        staging.rename(out)
        return
    shutil.copymode(out, staging)
    if _exchange(staging, out):
        shutil.rmtree(staging)  # now the previous render
        return
    # Without an atomic exchange: move the old one aside, the new one in, then drop the old.
    aside = staging.with_name(staging.name + ".old")
    out.rename(aside)
    try:
        staging.rename(out)
    except OSError:
        aside.rename(out)
        raise
    shutil.rmtree(aside)


def render(plan: PlanResult, out: Path) -> list[Path]:
    """Write the plan under `out`; returns the written files relative to `out`.

    Raises RenderRefusedError (before writing anything) when `out` holds anything render did not
    write.
    """
    if str(out) == "":
        raise RenderRefusedError("an empty path is not a directory to render into")
    out = out.absolute()
    check_target(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        staging.chmod(0o777 & ~_umask())
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
        manifest = _manifest(staging, plan)
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        # Checked again just before the swap: DIR may have changed while the plan rendered.
        check_target(out)
        _replace(staging, out)
        return sorted(Path(name) for name in [*manifest["files"], MANIFEST])
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


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
