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


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise ConfigError(
                    f"line {line}: duplicate key {key!r} (first on line {seen[key]}); "
                    "give each key once"
                )
            if isinstance(key, (str, int, float, bool)):
                seen[key] = line
        return super().construct_mapping(node, deep)


def load_yaml(text: str, name: str) -> Any:
    """A YAML document; ConfigError names the file, the line and what is wrong."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except ConfigError as err:
        raise ConfigError(f"{name}: {err}") from None
    except yaml.MarkedYAMLError as err:
        raise ConfigError(f"{name}: {_yaml_problem(err, text)}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{name}: not valid YAML ({str(err).splitlines()[0]})") from None


def _yaml_problem(err: yaml.MarkedYAMLError, text: str) -> str:
    """`line L, column C: not valid YAML: <problem>`, at the line where the fix goes: for an
    unclosed quote or bracket that is where it opened, not the end of the file."""
    problem = err.problem or "not valid YAML"
    mark, context_mark = err.problem_mark, err.context_mark
    if "end of stream" in problem or "<stream end>" in problem:
        opened = _unclosed_bracket(text)
        if opened is not None:
            line, column = opened
            char = text.splitlines()[line][column]
            return f"line {line + 1}, column {column + 1}: not valid YAML: {char!r} is never closed"
        if err.context and context_mark is not None:
            thing = err.context.removeprefix("while scanning ").removeprefix("while parsing ")
            line, column = context_mark.line + 1, context_mark.column + 1
            return (
                f"line {line}, column {column}: not valid YAML: {thing} opened here is never closed"
            )
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    message = f"{where}not valid YAML: {problem}"
    if err.context and context_mark is not None:
        message += f" ({err.context} from line {context_mark.line + 1})"
    if "\\t" in problem:
        message += "; indent with spaces, not tabs"
    elif "<block end>" in problem or "<block mapping start>" in problem:
        message += "; check the indentation"
    return message


def _unclosed_bracket(text: str) -> tuple[int, int] | None:
    """Line and column (0-based) of the last `[` or `{` still open where the YAML breaks."""
    opened: list[tuple[int, int]] = []
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if isinstance(token, yaml.FlowSequenceStartToken | yaml.FlowMappingStartToken):
                opened.append((token.start_mark.line, token.start_mark.column))
            elif isinstance(token, yaml.FlowSequenceEndToken | yaml.FlowMappingEndToken) and opened:
                opened.pop()
    except yaml.YAMLError:
        pass
    return opened[-1] if opened else None


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
        document = load_yaml(read_input(path, path.name), path.name) or {}
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
