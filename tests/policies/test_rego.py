"""The admission policies on a real Rego engine (regopy): a compliant Pod and workload are
admitted, and one changed property per rule is denied with a message naming the rule and the
container."""

from __future__ import annotations

from typing import Any

import pytest

from components.admission.templates import RULES
from tests.policies.gatekeeper import gatekeeper, pod_of
from tests.policies.state import DIGEST, LABELS, changed, deployment, removed

POD = pod_of({**deployment(), "metadata": {**deployment()["metadata"]}})
CTR = "spec.containers.0"
LICENSE = ("metadata", "labels", "codex.dev/license")


@pytest.fixture(scope="module")
def gk() -> Any:
    return gatekeeper()


def test_the_compliant_pod_and_its_deployment_are_admitted(gk: Any) -> None:
    assert POD["metadata"]["namespace"] == "codex-production"
    assert gk.review(POD) == []
    assert gk.review(deployment()) == []


def test_objects_outside_the_tier_namespaces_are_not_reviewed(gk: Any) -> None:
    privileged = changed(POD, f"{CTR}.securityContext.privileged", True)
    assert gk.review(changed(privileged, "metadata.namespace", "kube-system")) == []


# (rule, one changed or removed property, what the message must say)
BAD_PODS: list[tuple[str, dict[str, Any], str]] = [
    ("k8s-pod-security-restricted", changed(POD, f"{CTR}.securityContext.privileged", True),
     "container 'api' is privileged"),
    ("k8s-pod-security-restricted",
     changed(POD, f"{CTR}.securityContext.allowPrivilegeEscalation", True),
     "container 'api' does not set allowPrivilegeEscalation: false"),
    ("k8s-pod-security-restricted", changed(POD, f"{CTR}.securityContext.runAsNonRoot", False),
     "container 'api' does not set runAsNonRoot: true"),
    ("k8s-pod-security-restricted", changed(POD, f"{CTR}.securityContext.runAsUser", 0),
     "container 'api' runs as UID 0"),
    ("k8s-pod-security-restricted",
     changed(POD, f"{CTR}.securityContext.capabilities.add", ["SYS_ADMIN"]),
     "container 'api' adds capabilities SYS_ADMIN"),
    ("k8s-pod-security-restricted",
     changed(POD, f"{CTR}.securityContext.capabilities.drop", ["NET_RAW"]),
     "container 'api' does not drop ALL capabilities"),
    ("k8s-pod-security-restricted",
     changed(POD, f"{CTR}.securityContext.seccompProfile.type", "Unconfined"),
     "container 'api' has seccompProfile 'Unconfined'"),
    ("k8s-pod-security-restricted", changed(POD, "spec.hostNetwork", True), "hostNetwork is true"),
    ("k8s-pod-security-restricted", changed(POD, "spec.hostPID", True), "hostPID is true"),
    ("k8s-pod-security-restricted", changed(POD, "spec.hostIPC", True), "hostIPC is true"),
    ("k8s-pod-security-restricted",
     changed(POD, "spec.volumes", [{"name": "docker", "hostPath": {"path": "/var/run"}}]),
     "volume 'docker' mounts a hostPath"),
    ("k8s-image-pinned",
     changed(POD, f"{CTR}.image", POD["spec"]["containers"][0]["image"].split("@")[0] + ":1.2"),
     "container 'api' image"),
    ("k8s-image-pinned", changed(POD, f"{CTR}.image", f"docker.io/library/nginx@{DIGEST}"),
     "container 'api' image 'docker.io/library/nginx@sha256:"),
    ("k8s-resource-limits", removed(POD, f"{CTR}.resources.limits.memory"),
     "container 'api' has no limits.memory"),
    ("k8s-resource-limits", removed(POD, f"{CTR}.resources.requests"),
     "container 'api' has no requests.cpu, requests.memory"),
    ("k8s-service-account-token", changed(POD, "spec.automountServiceAccountToken", True),
     "does not set automountServiceAccountToken: false"),
    ("license-allowlist", removed(POD, LICENSE), "Pod has no codex.dev/license label"),
    ("license-allowlist", changed(POD, LICENSE, "AGPL-3.0-only"),
     "Pod licence 'AGPL-3.0-only' is denied"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "pod", "expected"), BAD_PODS, ids=[f"{r}:{e[:40]}" for r, _, e in BAD_PODS]
)
def test_one_bad_property_is_denied_naming_rule_and_container(
    gk: Any, rule: str, pod: dict[str, Any], expected: str
) -> None:
    findings = gk.review(pod)
    assert findings, "admitted"
    assert not gk.admits(pod)
    # Only the rule the property belongs to fires, and its message says which and where.
    assert {f.message.split(":", 1)[0] for f in findings} == {rule}
    assert any(f.message.startswith(f"{rule}: ") and expected in f.message for f in findings), [
        f.message for f in findings
    ]
    assert {f.action for f in findings} == {"deny"}


def test_every_rule_has_a_bad_pod() -> None:
    assert {r for r, _, _ in BAD_PODS} == {rule.policy for rule in RULES}


def test_dryrun_reports_but_admits() -> None:
    dry = gatekeeper("dryrun")
    pod = changed(POD, f"{CTR}.securityContext.privileged", True)
    assert [f.action for f in dry.review(pod)] == ["dryrun"]
    assert dry.admits(pod)


def test_the_init_container_is_named(gk: Any) -> None:
    init = {**POD["spec"]["containers"][0], "name": "migrate"}
    init = changed(init, "securityContext.privileged", True)
    messages = [f.message for f in gk.review(changed(POD, "spec.initContainers", [init]))]
    assert messages == ["k8s-pod-security-restricted: container 'migrate' is privileged"]


def test_parameters_come_from_the_settings() -> None:
    from tests.policies.gatekeeper import DEFAULTS, Settings

    quay = Settings(["quay.io/codex"], DEFAULTS.allowed_licenses, DEFAULTS.denied_licenses)
    messages = [f.message for f in gatekeeper(settings=quay).review(POD)]
    assert len(messages) == 1 and "not from an approved registry (quay.io/codex)" in messages[0]
    gpl = Settings(DEFAULTS.allowed_registries, ["GPL-2.0-only"], [])
    labelled = changed(POD, LICENSE, "GPL-2.0-only")
    assert gatekeeper(settings=gpl).review(labelled) == []
    assert LABELS["codex.dev/license"] == "Apache-2.0"
