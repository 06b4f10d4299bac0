"""Gatekeeper under test: the program's ConstraintTemplates (Rego from policies/rego) and one
Constraint per rule for the production namespace, evaluated by regopy; and the Pod a workload
creates, built the way Gatekeeper's expansion builds it (the pod template's metadata and spec,
in the workload's namespace)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from components.admission.templates import RULES, Settings, constraint, constraint_template
from rollout_cli.policy.admission import Gatekeeper
from rollout_rules.admission import (
    DEFAULT_ALLOWED_LICENSES,
    DEFAULT_ALLOWED_REGISTRIES,
    DEFAULT_DENIED_LICENSES,
)

TIER = "production"
DEFAULTS = Settings(DEFAULT_ALLOWED_REGISTRIES, DEFAULT_ALLOWED_LICENSES, DEFAULT_DENIED_LICENSES)
TEMPLATE_OF_POLICY = {rule.policy: rule.kind for rule in RULES}

_TEMPLATE_PATHS = {
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
    "Pod": (),
}


def gatekeeper(action: str = "deny", settings: Settings = DEFAULTS) -> Gatekeeper:
    return Gatekeeper(
        [constraint_template(rule, {}) for rule in RULES],
        [constraint(rule, TIER, action, settings, {}) for rule in RULES],
    )


def pod_of(workload: Mapping[str, Any]) -> dict[str, Any]:
    """The Pod a workload's controller would create from its pod template."""
    if workload.get("kind") == "Pod":
        return copy.deepcopy(dict(workload))
    template: Any = workload
    for step in _TEMPLATE_PATHS.get(str(workload.get("kind")), ("spec", "template")):
        template = template[step]
    metadata = copy.deepcopy(dict(template.get("metadata") or {}))
    metadata.setdefault("name", f"{workload['metadata'].get('name', 'pod')}-x7k2p")
    metadata["namespace"] = workload["metadata"].get("namespace", f"codex-{TIER}")
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": copy.deepcopy(template["spec"]),
    }


def denied_templates(gk: Gatekeeper, obj: Mapping[str, Any]) -> set[str]:
    """The template kinds with a `deny` violation for `obj`."""
    return {f.constraint_kind for f in gk.review(obj) if f.action == "deny"}
