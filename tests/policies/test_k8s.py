"""Kubernetes workload policies over gRPC: a compliant Deployment and one change per case."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from policies.k8s import image_repository, registry_allowed
from tests.policies.state import (
    DIGEST,
    LABELS,
    POD_SPEC,
    Check,
    StateBuilder,
    changed,
    deployment,
    findings,
    messages,
    removed,
)

PSS = "k8s-pod-security-restricted"
IMAGES = "k8s-image-pinned"
LIMITS = "k8s-resource-limits"
TOKEN = "k8s-service-account-token"
K8S_POLICIES = (PSS, IMAGES, LIMITS, TOKEN)
POD = "spec.template.spec"
CTR = f"{POD}.containers.0"


def workload(inputs: dict[str, Any], typ: str = "kubernetes:apps/v1:Deployment") -> StateBuilder:
    b = StateBuilder()
    b.add(typ, "codegen-api", inputs)
    return b


def test_baseline_is_compliant(check: Check) -> None:
    report = check(workload(deployment()))
    assert [v for v in report.violations if v.policy in K8S_POLICIES] == []


# One property changed per case: (path, value, expected message). The Gatekeeper parity test
# (tests/policies/test_rego_parity.py) runs these cases too.
POD_SECURITY_CASES: list[tuple[str, Any, str]] = [
    (f"{CTR}.securityContext.privileged", True, "is privileged"),
    (f"{CTR}.securityContext.allowPrivilegeEscalation", True, "allowPrivilegeEscalation"),
    (f"{CTR}.securityContext.runAsNonRoot", False, "runAsNonRoot"),
    (f"{CTR}.securityContext.runAsUser", 0, "runs as UID 0"),
    (f"{POD}.hostNetwork", True, "hostNetwork is true"),
    (f"{POD}.hostPID", True, "hostPID is true"),
    (f"{POD}.hostIPC", True, "hostIPC is true"),
    (f"{POD}.volumes", [{"name": "docker", "hostPath": {"path": "/var/run"}}], "hostPath"),
    (f"{CTR}.securityContext.capabilities.add", ["SYS_ADMIN"], "adds capabilities SYS_ADMIN"),
    (f"{CTR}.securityContext.capabilities.drop", ["NET_RAW"], "does not drop ALL"),
    (f"{CTR}.securityContext.seccompProfile.type", "Unconfined", "'Unconfined'"),
    (f"{POD}.securityContext.seccompProfile.type", "Unconfined", "pod seccompProfile"),
]


@pytest.mark.parametrize(("path", "value", "expected"), POD_SECURITY_CASES)
def test_pod_security_violations(check: Check, path: str, value: Any, expected: str) -> None:
    report = check(workload(changed(deployment(), path, value)))
    assert expected in messages(report, PSS)
    assert {v.enforcement_level for v in findings(report, PSS)} == {"mandatory"}


EXPLICIT_SETTINGS = [
    f"{CTR}.securityContext.allowPrivilegeEscalation",
    f"{CTR}.securityContext.capabilities",
]


@pytest.mark.parametrize("path", EXPLICIT_SETTINGS)
def test_pod_security_requires_explicit_settings(check: Check, path: str) -> None:
    assert findings(check(workload(removed(deployment(), path))), PSS)


def test_run_as_non_root_and_seccomp_may_come_from_either_level(check: Check) -> None:
    pod_level = removed(
        removed(deployment(), f"{CTR}.securityContext.runAsNonRoot"),
        f"{CTR}.securityContext.seccompProfile",
    )
    assert findings(check(workload(pod_level)), PSS) == []
    neither = removed(pod_level, f"{POD}.securityContext")
    text = messages(check(workload(neither)), PSS)
    assert "runAsNonRoot" in text and "no seccompProfile" in text


def test_net_bind_service_may_be_added(check: Check) -> None:
    inputs = changed(deployment(), f"{CTR}.securityContext.capabilities.add", ["NET_BIND_SERVICE"])
    assert findings(check(workload(inputs)), PSS) == []


def test_init_containers_are_checked(check: Check) -> None:
    init = copy.deepcopy(POD_SPEC["containers"][0])
    init["name"] = "migrate"
    init["securityContext"]["privileged"] = True
    del init["resources"]["limits"]
    init["image"] = "busybox:1.36"
    report = check(workload(changed(deployment(), f"{POD}.initContainers", [init])))
    assert "container 'migrate' is privileged" in messages(report, PSS)
    assert "container 'migrate' has no limits.cpu, limits.memory" in messages(report, LIMITS)
    assert "'busybox:1.36' is not pinned" in messages(report, IMAGES)


def pod_templates() -> list[tuple[str, dict[str, Any]]]:
    pod = deployment()["spec"]["template"]
    meta = {"name": "x", "labels": LABELS}
    return [
        (
            "kubernetes:apps/v1:StatefulSet",
            {"kind": "StatefulSet", "metadata": meta, "spec": {"template": pod}},
        ),
        (
            "kubernetes:apps/v1:DaemonSet",
            {"kind": "DaemonSet", "metadata": meta, "spec": {"template": pod}},
        ),
        ("kubernetes:batch/v1:Job", {"kind": "Job", "metadata": meta, "spec": {"template": pod}}),
        (
            "kubernetes:batch/v1:CronJob",
            {
                "kind": "CronJob",
                "metadata": meta,
                "spec": {"jobTemplate": {"spec": {"template": pod}}},
            },
        ),
        (
            "kubernetes:core/v1:Pod",
            {"kind": "Pod", "metadata": {**meta, **pod["metadata"]}, "spec": pod["spec"]},
        ),
    ]


@pytest.mark.parametrize(
    ("typ", "inputs"), pod_templates(), ids=lambda x: x if isinstance(x, str) else ""
)
def test_every_workload_kind(check: Check, typ: str, inputs: dict[str, Any]) -> None:
    assert [v for v in check(workload(inputs, typ)).violations if v.policy in K8S_POLICIES] == []
    spec_path = {
        "kubernetes:core/v1:Pod": "spec",
        "kubernetes:batch/v1:CronJob": "spec.jobTemplate.spec.template.spec",
    }.get(typ, "spec.template.spec")
    privileged = changed(inputs, f"{spec_path}.containers.0.securityContext.privileged", True)
    assert findings(check(workload(privileged, typ)), PSS)[0].type == typ


# -- k8s-image-pinned ------------------------------------------------------------------------


IMAGE_CASES: list[tuple[str, str]] = [
    (
        "444455556666.dkr.ecr.eu-central-1.amazonaws.com/codex/codegen-api:1.2.3",
        "not pinned by digest",
    ),
    (f"docker.io/library/nginx@{DIGEST}", "not from an approved registry"),
    (f"nginx@{DIGEST}", "not from an approved registry"),
    (f"ghcr.io/someone-else/tool@{DIGEST}", "not from an approved registry"),
]


@pytest.mark.parametrize(("image", "expected"), IMAGE_CASES)
def test_unpinned_or_unapproved_images(check: Check, image: str, expected: str) -> None:
    report = check(workload(changed(deployment(), f"{CTR}.image", image)))
    assert expected in messages(report, IMAGES)


def test_tag_before_digest_and_org_registry_are_fine(check: Check) -> None:
    image = f"ghcr.io/codex-dominion/codegen-api:1.2.3@{DIGEST}"
    assert findings(check(workload(changed(deployment(), f"{CTR}.image", image))), IMAGES) == []


def test_allowed_registries_come_from_config(check: Check) -> None:
    report = check(workload(deployment()), {IMAGES: {"allowedRegistries": ["quay.io/codex"]}})
    assert "not from an approved registry (quay.io/codex)" in messages(report, IMAGES)


@pytest.mark.parametrize(
    ("image", "repository"),
    [
        ("nginx", "docker.io/library/nginx"),
        ("grafana/grafana:11.0.0", "docker.io/grafana/grafana"),
        ("localhost:5000/app@sha256:ab", "localhost:5000/app"),
        ("registry.k8s.io/pause:3.9", "registry.k8s.io/pause"),
    ],
)
def test_image_repository(image: str, repository: str) -> None:
    assert image_repository(image) == repository


def test_registry_patterns() -> None:
    assert registry_allowed(
        "1.dkr.ecr.eu-west-1.amazonaws.com/a/b@sha256:x", ["*.dkr.ecr.*.amazonaws.com"]
    )
    assert not registry_allowed("ghcr.io/codex-dominionx/a", ["ghcr.io/codex-dominion"])


# -- k8s-resource-limits -----------------------------------------------------------------------


MISSING_RESOURCES = [
    f"{CTR}.resources.limits.memory",
    f"{CTR}.resources.requests.cpu",
    f"{CTR}.resources",
]


@pytest.mark.parametrize("path", MISSING_RESOURCES)
def test_missing_requests_or_limits(check: Check, path: str) -> None:
    report = check(workload(removed(deployment(), path)))
    assert findings(report, LIMITS)[0].enforcement_level == "advisory"
    assert "container 'api' has no" in messages(report, LIMITS)


# -- k8s-service-account-token -----------------------------------------------------------------

ANNOTATION = "codex.dev/needs-api-token"


def test_automounted_token_without_reason(check: Check) -> None:
    for inputs in (
        removed(deployment(), f"{POD}.automountServiceAccountToken"),
        changed(deployment(), f"{POD}.automountServiceAccountToken", True),
    ):
        assert "automountServiceAccountToken: false" in messages(check(workload(inputs)), TOKEN)


@pytest.mark.parametrize("where", ["metadata", "spec.template.metadata"])
def test_annotated_reason_allows_the_token(check: Check, where: str) -> None:
    inputs = changed(deployment(), f"{POD}.automountServiceAccountToken", True)
    inputs = changed(inputs, f"{where}.annotations", {ANNOTATION: "reads TargetGroupBindings"})
    assert findings(check(workload(inputs)), TOKEN) == []


def test_annotation_needs_a_reason(check: Check) -> None:
    inputs = changed(deployment(), f"{POD}.automountServiceAccountToken", True)
    inputs = changed(inputs, "metadata.annotations", {ANNOTATION: " "})
    assert "gives no reason" in messages(check(workload(inputs)), TOKEN)
