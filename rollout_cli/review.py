"""The text of `rollout diff`: what a reviewer reads in a pull request.

First the traffic by tier (`canary 0 → 50`), then per resource (by name and type) the property
paths that changed. Weights of the listener's target groups are named by tier; JSON or YAML held
in a string (a dashboard, the rollback plan, a rule file) is diffed structurally, and a changed
multi-line string shows only its changed lines. Long values are shortened; `rollout diff --json`
keeps the full detail.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from rollout_cli.offline import SECRET_SIG, PlanResult, Record, conceal
from rollout_cli.render import PlanDiff
from rollout_rules.contract import STACK_TYPE, TARGET_GROUP_TYPE, TIER_TAG
from rollout_rules.plan import TIERS

ARROW = "→"
VALUE_WIDTH = 60  # characters of a value shown before it is shortened
TEXT_LINES = 12  # changed lines shown of one multi-line string
LABEL_KEYS = ("name", "title", "uid", "alert", "record")
_ABSENT: Any = object()
"""A key, label or index one side of a comparison does not have."""


@dataclass(frozen=True)
class Line:
    """One line of a resource's changes, indented by `depth`."""

    depth: int
    text: str


def traffic_line(before: Mapping[str, int], after: Mapping[str, int]) -> str:
    """`traffic: sandbox 100 → 50, canary 0 → 50, production none` (none: no environment)."""
    parts = []
    for tier in TIERS:
        old, new = before.get(tier), after.get(tier)
        if old is None and new is None:
            parts.append(f"{tier} none")
        elif old == new:
            parts.append(f"{tier} {old}")
        else:
            shown_old = "none" if old is None else str(old)
            shown_new = "none" if new is None else str(new)
            parts.append(f"{tier} {shown_old} {ARROW} {shown_new}")
    return "traffic: " + ", ".join(parts)


def _tiers_by_arn(*plans: PlanResult) -> dict[str, str]:
    found = {}
    for plan in plans:
        for record in plan.by_type(TARGET_GROUP_TYPE):
            arn, tier = record.outputs.get("arn"), (record.inputs.get("tags") or {}).get(TIER_TAG)
            if isinstance(arn, str) and isinstance(tier, str):
                found[arn] = tier
    return found


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    if len(text) <= VALUE_WIDTH:
        return text
    return f"{text[: VALUE_WIDTH - 1]}… ({len(text)} characters)"


def _document(text: Any) -> tuple[str, Any] | None:
    """("JSON" | "YAML", parsed) for a string holding a JSON or YAML mapping or list."""
    if not isinstance(text, str):
        return None
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            return "JSON", json.loads(stripped)
        except json.JSONDecodeError:
            pass
    if "\n" in stripped:
        try:
            parsed = yaml.safe_load(stripped)
        except yaml.YAMLError:
            return None
        if isinstance(parsed, dict | list):
            return "YAML", parsed
    return None


class _Walker:
    """Structural differences of two values, as indented lines."""

    def __init__(self, tiers_by_arn: Mapping[str, str]) -> None:
        self.tiers_by_arn = tiers_by_arn

    def label(self, item: Any) -> str | None:
        if not isinstance(item, dict):
            return None
        arn = item.get("arn")
        if isinstance(arn, str) and arn in self.tiers_by_arn:
            return self.tiers_by_arn[arn]
        for key in LABEL_KEYS:
            if isinstance(item.get(key), str) and item[key]:
                return str(item[key])
        return None

    def _labels(self, items: list[Any]) -> list[str] | None:
        labels = [self.label(item) for item in items]
        if None in labels or len(set(labels)) != len(labels):
            return None
        return [str(label) for label in labels]

    def walk(self, old: Any, new: Any, path: str, depth: int) -> Iterator[Line]:
        if old == new:
            return
        if isinstance(old, dict) and isinstance(new, dict) and SECRET_SIG not in old | new:
            for key in sorted(set(old) | set(new), key=str):
                yield from self._entry(
                    old.get(key, _ABSENT), new.get(key, _ABSENT), _join(path, key), depth
                )
            return
        if isinstance(old, list) and isinstance(new, list):
            yield from self._walk_lists(old, new, path, depth)
            return
        documents = _document(old), _document(new)
        if documents[0] and documents[1] and documents[0][0] == documents[1][0]:
            yield Line(depth, f"{path} ({documents[0][0]}):")
            yield from self.walk(documents[0][1], documents[1][1], "", depth + 1)
            return
        if isinstance(old, str) and isinstance(new, str) and ("\n" in old or "\n" in new):
            yield Line(depth, f"{path}: text changed")
            yield from _text_lines(old, new, depth + 1)
            return
        yield Line(depth, f"{path}: {_short(old)} {ARROW} {_short(new)}")

    def _walk_lists(self, old: list[Any], new: list[Any], path: str, depth: int) -> Iterator[Line]:
        old_labels, new_labels = self._labels(old), self._labels(new)
        if old_labels is not None and new_labels is not None:
            before = dict(zip(old_labels, old, strict=True))
            after = dict(zip(new_labels, new, strict=True))
            for label in [*old_labels, *(x for x in new_labels if x not in before)]:
                yield from self._entry(
                    before.get(label, _ABSENT), after.get(label, _ABSENT), f"{path}[{label}]", depth
                )
            return
        for index in range(max(len(old), len(new))):
            yield from self._entry(
                old[index] if index < len(old) else _ABSENT,
                new[index] if index < len(new) else _ABSENT,
                f"{path}[{index}]",
                depth,
            )

    def _entry(self, old: Any, new: Any, path: str, depth: int) -> Iterator[Line]:
        """One key, label or index: added, removed, or walked into."""
        if old is _ABSENT:
            yield Line(depth, f"{path}: + {_short(new)}")
        elif new is _ABSENT:
            yield Line(depth, f"{path}: - {_short(old)}")
        else:
            yield from self.walk(old, new, path, depth)


def _join(path: str, key: Any) -> str:
    key = str(key)
    simple = key.replace("_", "a").replace("-", "a").isalnum()
    if simple:
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


def _text_lines(old: str, new: str, depth: int) -> Iterator[Line]:
    changed = [
        line
        for line in difflib.ndiff(old.splitlines(), new.splitlines())
        if line.startswith(("- ", "+ "))
    ]
    for line in changed[:TEXT_LINES]:
        yield Line(depth, line if len(line) <= VALUE_WIDTH + 2 else line[: VALUE_WIDTH + 1] + "…")
    if len(changed) > TEXT_LINES:
        yield Line(depth, f"… {len(changed) - TEXT_LINES} more changed lines (--json for all)")


def _title(record: Record) -> str:
    return f"{record.name} ({record.type})"


def review(before: PlanResult, after: PlanResult, result: PlanDiff) -> list[str]:
    """The reviewer's text of moving `before` to `after` (`result` is their `diff`)."""
    from rollout_cli.summary import listener_weights

    old = {r.urn: r for r in before.records if r.type != STACK_TYPE}
    new = {r.urn: r for r in after.records if r.type != STACK_TYPE}
    phases = (before.stack_outputs.get("phase"), after.stack_outputs.get("phase"))
    lines = [f"{after.stack}: week {before.week} {ARROW} week {after.week}"]
    if all(phases) and phases[0] != phases[1]:
        lines[0] += f" ({phases[0]} {ARROW} {phases[1]})"
    lines.append(traffic_line(listener_weights(before), listener_weights(after)))
    lines.append(
        f"{len(result.changed)} to change, {len(result.added)} to add, "
        f"{len(result.removed)} to remove"
    )
    walker = _Walker(_tiers_by_arn(before, after))
    for urn in result.changed:
        lines.append(f"~ {_title(new[urn])}")
        old_inputs, new_inputs = conceal(old[urn].inputs), conceal(new[urn].inputs)
        for line in walker.walk(old_inputs, new_inputs, "", 1):
            lines.append("    " * line.depth + line.text)
    for urn in result.added:
        lines.append(f"+ {_title(new[urn])}")
    for urn in result.removed:
        lines.append(f"- {_title(old[urn])}")
    return lines
