"""Policy pack config as the engine reconciles it: the ``--policy-pack-config`` document (policy
names or ``all`` mapped to an enforcement level or an object of properties), merged over the
schema defaults and the pack's initial config, and validated against each policy's schema."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]

from rollout_cli.inputs import read_input
from rollout_cli.policy.errors import PolicyCheckError
from rollout_cli.policy.metadata import LEVELS, PolicyMeta


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
    """A ``--config`` file; an empty file is an empty config."""
    text = read_input(path, f"--config {path}", PolicyCheckError)
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
