"""Reading Pulumi.<stack>.yaml offline: the stack model, and the values the engine would pass.

`secure:` values stay opaque (the ciphertext cannot be decrypted without the stack's secrets
provider, and the offline tools never need the plaintext); the config model still knows where
they were, so a plaintext credential is refused offline as in the program.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from infra.config import NAMESPACE, NAMESPACE_KEYS, PROJECT, ConfigError, parse
from rollout_cli.inputs import read_input

REPO_ROOT = Path(__file__).resolve().parent.parent
# Shown in place of a `secure:` value offline.
OFFLINE_SECRET = "[secret]"


def stack_file(stack: str, root: Path = REPO_ROOT) -> Path:
    return root / f"Pulumi.{stack}.yaml"


def _offline_values(raw: Any, path: tuple[int | str, ...], secure: set[tuple]) -> Any:
    """Replace `secure:` values by an opaque placeholder and remember where they were."""
    if isinstance(raw, dict):
        if set(raw) == {"secure"}:
            secure.add(path)
            return OFFLINE_SECRET
        return {k: _offline_values(v, (*path, k), secure) for k, v in raw.items()}
    if isinstance(raw, list):
        return [_offline_values(v, (*path, i), secure) for i, v in enumerate(raw)]
    return raw


class OfflineConfig:
    """A stack file read offline: the validated model plus the raw values the engine would pass.

    `week`, when given, replaces `rollout.week` as `pulumi config set` would, and is validated
    with the rest.
    """

    def __init__(self, stack: str, root: Path = REPO_ROOT, week: int | None = None) -> None:
        path = stack_file(stack, root)
        if not path.is_file():
            raise ConfigError(
                f"{path.name}: no such stack file (stacks: {', '.join(stacks(root))})"
            )
        try:
            document = yaml.safe_load(read_input(path, path.name)) or {}
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"{path.name}:{where} is not valid YAML") from None
        raw = document.get("config") if isinstance(document, dict) else None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path.name}: has no `config:` mapping")
        self.stack = stack
        self.secure: set[tuple] = set()
        # Engine-style flat config: "<namespace>:<key>" -> value (objects as JSON strings).
        self.engine_config: dict[str, str] = {}
        self.secret_keys: list[str] = []
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if not isinstance(key, str) or ":" not in key:
                raise ConfigError(f"{path.name}: config key {key!r} has no namespace")
            namespace, _, name = key.partition(":")
            plain = _offline_values(value, (name,) if namespace == PROJECT else (key,), self.secure)
            self.engine_config[key] = plain if isinstance(plain, str) else json.dumps(plain)
            if any(p[0] in (name, key) for p in self.secure):
                self.secret_keys.append(key)
            if namespace == PROJECT:
                if name not in NAMESPACE_KEYS:
                    raise ConfigError(f"{key}: unknown key (check its spelling)")
                values[name] = plain
            elif key == "aws:region":
                values[key] = plain
        self.model = parse(values, lambda p: p in self.secure)
        if week is not None:
            # The file itself must be valid too; then the week is replaced and checked.
            values["rollout"] = {**values["rollout"], "week": week}
            self.engine_config[f"{NAMESPACE}rollout"] = json.dumps(values["rollout"])
            self.model = parse(values, lambda p: p in self.secure)


def project_root(start: Path | None = None) -> Path:
    """The Pulumi project directory: the nearest one holding Pulumi.yaml, as the CLI finds it."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "Pulumi.yaml").is_file():
            return candidate
    return REPO_ROOT


def stacks(root: Path = REPO_ROOT) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in root.glob("Pulumi.*.yaml"))


def load_offline(stack: str, root: Path = REPO_ROOT, week: int | None = None) -> OfflineConfig:
    return OfflineConfig(stack, root, week)
