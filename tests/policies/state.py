"""Builders for policy test states in ``pulumi stack export`` shape, and small edit helpers.

A test builds a compliant baseline with ``StateBuilder`` and changes one property per case with
``changed``/``removed``; the state then goes through the real pack over gRPC.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rollout_cli.offline import SECRET_SIG as SECRET_KEY
from rollout_cli.offline import SECRET_VALUE
from rollout_cli.offline import UNKNOWN as UNKNOWN  # re-exported for the tests
from rollout_cli.policy.report import Report, Violation
from rollout_rules.contract import LABEL_LICENSE, LABEL_TIER, PROJECT, STACK_TYPE

Check = Callable[..., Report]
"""The ``check`` fixture: evaluate a state (or StateBuilder) with an optional pack config."""

REGION = "eu-central-1"
ACCOUNT = "444455556666"
TAGS = {
    "owner": "codex-platform",
    "cost-center": "cc-4100",
    "environment": "production",
    "data-classification": "internal",
}
LABELS = {
    "app.kubernetes.io/name": "codegen-api",
    "app.kubernetes.io/part-of": "codex",
    LABEL_TIER: "production",
    LABEL_LICENSE: "Apache-2.0",
}
DIGEST = "sha256:" + "4f1c2a9b8e7d6c5b" * 4
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/codex/codegen-api@{DIGEST}"
SECRET_SIG = {SECRET_KEY: SECRET_VALUE}
"""The signature that marks a property value as a secret (add ``plaintext`` or ``ciphertext``)."""


def _digest(seed: str, n: int = 12) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:n]


@dataclass
class Res:
    """A resource added to a StateBuilder."""

    urn: str
    type: str
    name: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    entry: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def arn(self) -> str:
        return str(self.outputs.get("arn", ""))

    @property
    def id(self) -> str:
        return str(self.outputs.get("id", ""))


class StateBuilder:
    """A stack state with the root stack and default aws/kubernetes providers."""

    def __init__(self, stack: str = "prod", region: str | None = REGION) -> None:
        self.stack = stack
        self.entries: list[dict[str, Any]] = []
        self.root = self._add(STACK_TYPE, f"{PROJECT}-{stack}", {}, {}, custom=False, parent=None)
        aws_inputs: dict[str, Any] = {"version": "7.51.1"}
        if region:
            aws_inputs["region"] = region
        self.aws = self._add("pulumi:providers:aws", "default_7_51_1", aws_inputs, aws_inputs)
        self.k8s = self._add("pulumi:providers:kubernetes", "default_4_34_2", {}, {})

    def urn(self, typ: str, name: str, parent: Res | None = None) -> str:
        qualified = typ
        if parent is not None and parent.type != STACK_TYPE:
            qualified = f"{parent.urn.split('::')[2]}${typ}"
        return f"urn:pulumi:{self.stack}::{PROJECT}::{qualified}::{name}"

    def _add(
        self,
        typ: str,
        name: str,
        inputs: dict[str, Any],
        outputs: dict[str, Any] | None,
        *,
        custom: bool = True,
        parent: Res | None = None,
        provider: Res | None = None,
        deps: Mapping[str, Sequence[Res]] | None = None,
    ) -> Res:
        urn = self.urn(typ, name, parent)
        entry: dict[str, Any] = {"urn": urn, "custom": custom, "type": typ, "inputs": inputs}
        if outputs is not None:
            entry["outputs"] = outputs
        if custom and outputs is not None and "id" in outputs:
            entry["id"] = outputs["id"]
        if parent is not None:
            entry["parent"] = parent.urn
        if provider is not None:
            entry["provider"] = f"{provider.urn}::{provider.id or _digest(provider.urn)}"
        if deps:
            entry["propertyDependencies"] = {k: [r.urn for r in v] for k, v in deps.items()}
            entry["dependencies"] = sorted({r.urn for v in deps.values() for r in v})
        self.entries.append(entry)
        return Res(urn, typ, name, inputs, outputs or {}, entry)

    def add(
        self,
        typ: str,
        name: str,
        inputs: dict[str, Any],
        *,
        outputs: dict[str, Any] | None = None,
        deps: Mapping[str, Sequence[Res]] | None = None,
        parent: Res | None = None,
    ) -> Res:
        """A custom resource; outputs default to the inputs plus a provider-like id and ARN."""
        inputs = copy.deepcopy(inputs)
        if outputs is None:
            outputs = copy.deepcopy(inputs)
            seed = f"{self.stack}:{typ}:{name}"
            service = typ.split(":")[1].split("/")[0]
            physical = inputs.get("name") or f"{name}-{_digest(seed, 7)}"
            outputs.setdefault("arn", f"arn:aws:{service}:{REGION}:{ACCOUNT}:{physical}")
            outputs.setdefault("id", physical if service != "lb" else outputs["arn"])
            if typ == "aws:s3/bucket:Bucket":
                outputs.setdefault("bucket", physical)
                outputs["id"] = outputs["bucket"]
        provider: Res | None = self.k8s if typ.startswith("kubernetes:") else self.aws
        if not typ.startswith(("aws:", "kubernetes:")):
            provider = None
        return self._add(
            typ, name, inputs, outputs, parent=parent or self.root, provider=provider, deps=deps
        )

    def component(self, typ: str, name: str) -> Res:
        return self._add(typ, name, {}, {}, custom=False, parent=self.root)

    def state(self) -> dict[str, Any]:
        return {"version": 3, "deployment": {"resources": copy.deepcopy(self.entries)}}


def findings(report: Report, policy: str) -> list[Violation]:
    """The violations one policy reported."""
    return [v for v in report.violations if v.policy == policy]


def messages(report: Report, policy: str) -> str:
    return "\n".join(v.message for v in findings(report, policy))


def skipped(report: Report, policy: str) -> list[str]:
    """Reasons the policy reported itself not applicable."""
    return [n.reason for n in report.not_applicable if n.policy == policy]


# -- editing helpers -----------------------------------------------------------------------------


Path = str | tuple[str | int, ...]


def _walk(document: dict[str, Any], path: Path) -> tuple[Any, str | int]:
    """Dotted paths for plain keys; a tuple for keys with dots (Kubernetes label keys)."""
    steps: list[str | int] = (
        [int(p) if p.isdigit() else p for p in path.split(".")]
        if isinstance(path, str)
        else list(path)
    )
    current: Any = document
    for step in steps[:-1]:
        current = current[step] if isinstance(step, int) else current.setdefault(step, {})
    return current, steps[-1]


def changed(document: Mapping[str, Any], path: Path, value: Any) -> dict[str, Any]:
    """A deep copy of ``document`` with the dotted ``path`` set to ``value``."""
    result = copy.deepcopy(dict(document))
    parent, last = _walk(result, path)
    parent[last] = value
    return result


def removed(document: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """A deep copy of ``document`` without the dotted ``path``."""
    result = copy.deepcopy(dict(document))
    parent, last = _walk(result, path)
    del parent[last]
    return result


# -- Kubernetes baselines ------------------------------------------------------------------------

CONTAINER: dict[str, Any] = {
    "name": "api",
    "image": IMAGE,
    "ports": [{"containerPort": 8080}],
    "env": [
        {"name": "LOG_LEVEL", "value": "info"},
        {
            "name": "API_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": "codegen-api", "key": "token"}},
        },
    ],
    "resources": {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"cpu": "1", "memory": "1Gi"},
    },
    "securityContext": {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "runAsNonRoot": True,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    },
}

POD_SPEC: dict[str, Any] = {
    "automountServiceAccountToken": False,
    "serviceAccountName": "codegen-api",
    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    "containers": [CONTAINER],
}


def deployment(pod_spec: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "codegen-api", "namespace": "codex-production", "labels": LABELS},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app.kubernetes.io/name": "codegen-api"}},
            "template": {
                "metadata": {"labels": LABELS},
                "spec": copy.deepcopy(dict(pod_spec or POD_SPEC)),
            },
        },
    }
