"""Gatekeeper admission policies evaluated offline on a real Rego engine (regopy).

`Gatekeeper` loads ConstraintTemplates (their Rego, v1 or v0 as the template says) and
Constraints, and reviews Kubernetes objects as Gatekeeper's validating webhook does: for each
constraint whose `match` selects the object, the template's `violation` rule is queried with
`input.review` (the admission request: object, kind, namespace, name, operation) and
`input.parameters`. `check_state` does that for every Kubernetes object of a stack state and
returns the same Report the CrossGuard check returns, so every output format works.

What the engine cannot know offline is not claimed: `match` selectors that need the cluster
(namespaceSelector, labelSelector) and `data.inventory` (synced objects) are refused with one
line instead of being guessed.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rollout_cli.policy.errors import PolicyCheckError
from rollout_cli.policy.metadata import PolicyMeta, pack_policies
from rollout_cli.policy.report import Report, Violation
from rollout_cli.policy.state import StateResource, parse_state, stack_and_project
from rollout_rules.contract import PROJECT

TEMPLATE_KIND = "ConstraintTemplate"
TEMPLATE_GROUP = "templates.gatekeeper.sh"
CONSTRAINT_GROUP = "constraints.gatekeeper.sh"
TARGET = "admission.k8s.gatekeeper.sh"
# Gatekeeper's enforcement actions and what they mean for a deployment's verdict.
LEVEL_OF_ACTION = {"deny": "mandatory", "warn": "advisory", "dryrun": "advisory"}
_PACKAGE = re.compile(r"^\s*package\s+([A-Za-z_][\w.]*)", re.M)
_UNSUPPORTED_MATCH = ("namespaceSelector", "labelSelector", "name", "scope", "source")


@dataclass(frozen=True)
class Finding:
    """One violation of one constraint by one object."""

    constraint_kind: str
    constraint: str
    action: str
    message: str
    details: Any


def _group_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def rego_of(template: Mapping[str, Any]) -> tuple[str, str]:
    """(Rego text, Rego version) of a template's admission target."""
    name = template.get("metadata", {}).get("name", "?")
    targets = template.get("spec", {}).get("targets") or []
    target = next((t for t in targets if t.get("target") == TARGET), None)
    if target is None:
        raise PolicyCheckError(f"ConstraintTemplate {name}: no {TARGET} target")
    for code in target.get("code") or []:
        if code.get("engine") == "Rego":
            source = code.get("source") or {}
            return str(source.get("rego", "")), str(source.get("version", "v0"))
    if target.get("rego"):
        return str(target["rego"]), "v0"
    raise PolicyCheckError(f"ConstraintTemplate {name}: no Rego code")


class _Template:
    def __init__(self, manifest: Mapping[str, Any]) -> None:
        from regopy import Interpreter

        self.name = str(manifest.get("metadata", {}).get("name", ""))
        self.kind = str(manifest["spec"]["crd"]["spec"]["names"]["kind"])
        rego, version = rego_of(manifest)
        if version != "v1":
            # regopy implements Rego v1; v0 templates would need OPA's v0 parser.
            raise PolicyCheckError(
                f"ConstraintTemplate {self.name}: Rego {version} (only v1 is evaluated offline)"
            )
        found = _PACKAGE.search(rego)
        if found is None:
            raise PolicyCheckError(f"ConstraintTemplate {self.name}: Rego has no package")
        self.package = found.group(1)
        self._rego = Interpreter()
        try:
            self._rego.add_module(f"{self.name}.rego", rego)
        except Exception as err:  # regopy raises RegoError subclasses and ValueError
            raise PolicyCheckError(f"ConstraintTemplate {self.name}: {err}") from None

    def violations(self, review: Mapping[str, Any], parameters: Any) -> list[dict[str, Any]]:
        self._rego.set_input_term(json.dumps({"review": review, "parameters": parameters or {}}))
        output = self._rego.query(f"v = data.{self.package}.violation")
        if not output.ok():
            raise PolicyCheckError(f"ConstraintTemplate {self.name}: {output}")
        if not len(output) or "v" not in output[0].bindings:
            return []
        found = output[0].bindings["v"]
        return sorted(found, key=lambda v: str(v.get("msg", "")))


def _glob(pattern: str, value: str) -> bool:
    # Gatekeeper's namespace globs: a '*' at the front and/or the end only.
    return fnmatch.fnmatchcase(value, pattern)


def matches(match: Mapping[str, Any] | None, obj: Mapping[str, Any]) -> bool:
    """Whether a constraint's `match` selects `obj` (kinds, namespaces, excludedNamespaces)."""
    match = match or {}
    unsupported = [key for key in _UNSUPPORTED_MATCH if key in match]
    if unsupported:
        raise PolicyCheckError(
            f"constraint match.{unsupported[0]} needs the cluster; it is not evaluated offline"
        )
    group, _ = _group_version(str(obj.get("apiVersion", "")))
    kind = str(obj.get("kind", ""))
    kinds = match.get("kinds")
    if kinds and not any(
        (group in k.get("apiGroups", []) or "*" in k.get("apiGroups", []))
        and (kind in k.get("kinds", []) or "*" in k.get("kinds", []))
        for k in kinds
    ):
        return False
    namespace = (obj.get("metadata") or {}).get("namespace") or ""
    if "namespaces" in match and not any(_glob(p, namespace) for p in match["namespaces"]):
        return False
    return not any(_glob(p, namespace) for p in match.get("excludedNamespaces") or [])


def review_of(obj: Mapping[str, Any], operation: str = "CREATE") -> dict[str, Any]:
    """The admission request Gatekeeper gives a template as `input.review`."""
    group, version = _group_version(str(obj.get("apiVersion", "")))
    meta = obj.get("metadata") or {}
    return {
        "kind": {"group": group, "version": version, "kind": obj.get("kind", "")},
        "object": obj,
        "oldObject": None,
        "operation": operation,
        "name": meta.get("name", ""),
        "namespace": meta.get("namespace", ""),
        "userInfo": {"username": "rollout-policy-check"},
    }


def is_template(obj: Mapping[str, Any]) -> bool:
    return obj.get("kind") == TEMPLATE_KIND and str(obj.get("apiVersion", "")).startswith(
        TEMPLATE_GROUP + "/"
    )


def is_constraint(obj: Mapping[str, Any]) -> bool:
    return str(obj.get("apiVersion", "")).startswith(CONSTRAINT_GROUP + "/")


class Gatekeeper:
    """ConstraintTemplates and Constraints, ready to review objects offline."""

    def __init__(
        self, templates: Iterable[Mapping[str, Any]], constraints: Iterable[Mapping[str, Any]]
    ) -> None:
        self.templates = {t.kind: t for t in (_Template(m) for m in templates)}
        self.constraints = list(constraints)
        for c in self.constraints:
            if c.get("kind") not in self.templates:
                raise PolicyCheckError(
                    f"constraint {c.get('kind')}/{c.get('metadata', {}).get('name')}: "
                    "no ConstraintTemplate defines this kind"
                )

    @classmethod
    def from_objects(cls, objects: Sequence[Mapping[str, Any]]) -> Gatekeeper:
        return cls([o for o in objects if is_template(o)], [o for o in objects if is_constraint(o)])

    def review(self, obj: Mapping[str, Any]) -> list[Finding]:
        """Every violation of every constraint that selects `obj`."""
        findings = []
        review = review_of(obj)
        for c in self.constraints:
            spec = c.get("spec") or {}
            if not matches(spec.get("match"), obj):
                continue
            for v in self.templates[c["kind"]].violations(review, spec.get("parameters")):
                findings.append(
                    Finding(
                        constraint_kind=str(c["kind"]),
                        constraint=str(c.get("metadata", {}).get("name", "")),
                        action=str(spec.get("enforcementAction", "deny")),
                        message=str(v.get("msg", "")),
                        details=v.get("details"),
                    )
                )
        return findings

    def admits(self, obj: Mapping[str, Any]) -> bool:
        """Whether the webhook would admit `obj` (no violation of a `deny` constraint)."""
        return not any(f.action == "deny" for f in self.review(obj))


# -- a stack state --------------------------------------------------------------------------------


def kubernetes_objects(resources: Sequence[StateResource]) -> list[tuple[StateResource, Any]]:
    """(resource, manifest) of every Kubernetes object in a state (not Helm releases)."""
    found = []
    for resource in resources:
        inputs = resource.inputs
        if (
            resource.type.startswith("kubernetes:")
            and resource.custom
            and isinstance(inputs, Mapping)
            and "apiVersion" in inputs
            and "kind" in inputs
        ):
            found.append((resource, inputs))
    return found


def _metadata(kind: str, template: str, pack: Mapping[str, PolicyMeta]) -> PolicyMeta:
    policy = pack.get(template)
    return PolicyMeta(
        name=kind,
        description=policy.description if policy else kind,
        enforcement_level="mandatory",
        severity=policy.severity if policy else "high",
        framework=policy.framework if policy else "",
        framework_version=policy.framework_version if policy else "",
        reference=policy.reference if policy else "",
        remediation=policy.remediation if policy else "",
        kind="resource",
        tags=(*(policy.tags if policy else ()), "engine:gatekeeper"),
        config_schema={},
    )


def check_state(state: Any, source: str) -> Report:
    """Review every Kubernetes object of a state with the templates and constraints it holds."""
    resources = parse_state(state)
    objects = kubernetes_objects(resources)
    gatekeeper = Gatekeeper.from_objects([o for _, o in objects])
    if not gatekeeper.templates:
        raise PolicyCheckError(f"{source}: no Gatekeeper ConstraintTemplate in the state")
    pack = {p.name: p for p in pack_policies()}
    crossguard = {
        kind: str(
            (t.get("metadata", {}).get("annotations") or {}).get("codex.dev/crossguard-policy", "")
        )
        for t in (o for _, o in objects if is_template(o))
        for kind in [t["spec"]["crd"]["spec"]["names"]["kind"]]
    }
    metas = [_metadata(k, crossguard.get(k, ""), pack) for k in sorted(gatekeeper.templates)]
    by_name = {m.name: m for m in metas}
    stack, project = stack_and_project(resources)
    report = Report(
        pack="gatekeeper",
        version="",
        stack=stack,
        project=project or PROJECT,
        source=source,
        resources=len(objects),
        policies=metas,
        levels={m.name: "mandatory" for m in metas},
    )
    for resource, obj in objects:
        if is_template(obj) or is_constraint(obj):
            continue
        for f in gatekeeper.review(obj):
            meta = by_name[f.constraint_kind]
            report.violations.append(
                Violation(
                    policy=f.constraint_kind,
                    urn=resource.urn,
                    type=resource.type,
                    enforcement_level=LEVEL_OF_ACTION.get(f.action, "advisory"),
                    severity=meta.severity,
                    message=f"[{f.constraint}] ({f.action}) {f.message}",
                    framework=meta.framework,
                    reference=meta.reference,
                )
            )
    report.sort()
    return report
