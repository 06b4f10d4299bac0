"""Kubernetes workload policies: Pod Security Standard "restricted", image provenance, resource
limits and service account tokens.

Applies to the pod templates of Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs,
CronJobs and bare Pods (see ``_workloads.POD_TEMPLATE_PATHS``).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from rollout_rules.admission import ALLOWED_ADDED_CAPABILITIES as _ADDED
from rollout_rules.admission import ALLOWED_SECCOMP_PROFILES, DEFAULT_ALLOWED_REGISTRIES
from rollout_rules.contract import ANNOTATION_NEEDS_API_TOKEN

from ._common import (
    CIS_K8S,
    SOC2,
    Control,
    Report,
    as_list,
    get,
    resource_policy,
    string_list_schema,
)
from ._workloads import CONTAINER_LISTS, annotations_of, container_label, containers, pod_template

# ---------------------------------------------------------------------------------------------
# k8s-pod-security-restricted
# ---------------------------------------------------------------------------------------------

ALLOWED_ADDED_CAPABILITIES = frozenset(_ADDED)
ALLOWED_SECCOMP = frozenset(ALLOWED_SECCOMP_PROFILES)


def pod_security_problems(pod_spec: Any) -> list[str]:
    """Every way a pod spec falls short of the Pod Security Standard "restricted" profile."""
    problems = []
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if get(pod_spec, field) is True:
            problems.append(f"{field} is true")
    for volume in as_list(get(pod_spec, "volumes")):
        if get(volume, "hostPath") is not None:
            problems.append(f"volume {get(volume, 'name')!r} mounts a hostPath")
    pod_ctx = get(pod_spec, "securityContext", default={})
    pod_non_root = get(pod_ctx, "runAsNonRoot")
    pod_seccomp = get(pod_ctx, "seccompProfile", "type")
    if pod_seccomp is not None and pod_seccomp not in ALLOWED_SECCOMP:
        problems.append(f"pod seccompProfile is {pod_seccomp!r}")
    if get(pod_ctx, "runAsUser") == 0:
        problems.append("pod runs as UID 0")
    for container in containers(pod_spec):
        who = container_label(container)
        ctx = get(container, "securityContext", default={})
        if get(ctx, "privileged") is True:
            problems.append(f"{who} is privileged")
        if get(ctx, "allowPrivilegeEscalation") is not False:
            problems.append(f"{who} does not set allowPrivilegeEscalation: false")
        non_root = get(ctx, "runAsNonRoot")
        if non_root is False or (non_root is None and pod_non_root is not True):
            problems.append(f"{who} does not set runAsNonRoot: true")
        if get(ctx, "runAsUser") == 0:
            problems.append(f"{who} runs as UID 0")
        drop = {str(c).upper() for c in as_list(get(ctx, "capabilities", "drop"))}
        if "ALL" not in drop:
            problems.append(f"{who} does not drop ALL capabilities")
        added = {str(c).upper() for c in as_list(get(ctx, "capabilities", "add"))}
        extra = sorted(added - ALLOWED_ADDED_CAPABILITIES)
        if extra:
            problems.append(f"{who} adds capabilities {', '.join(extra)}")
        seccomp = get(ctx, "seccompProfile", "type")
        effective = seccomp if seccomp is not None else pod_seccomp
        if effective not in ALLOWED_SECCOMP:
            problems.append(
                f"{who} has seccompProfile {effective!r}; use RuntimeDefault or Localhost"
                if effective is not None
                else f"{who} has no seccompProfile (pod or container); use RuntimeDefault"
            )
    return problems


def _validate_pod_security(args: ResourceValidationArgs, report: Report) -> None:
    template = pod_template(args.resource_type, args.props)
    if template is None:
        return
    for problem in pod_security_problems(template[1]):
        report(problem + ".")


k8s_pod_security_restricted = resource_policy(
    name="k8s-pod-security-restricted",
    description=(
        "Pod templates meet the Pod Security Standard 'restricted' profile: not privileged, no "
        "privilege escalation, non-root, no host namespaces or hostPath, all capabilities "
        "dropped (NET_BIND_SERVICE may be added), seccomp RuntimeDefault or Localhost."
    ),
    severity=Severity.HIGH,
    controls=[
        Control.of(CIS_K8S, "5.2"),
        Control.of(CIS_K8S, "5.7.2"),
        Control.of(SOC2, "CC6.8"),
    ],
    remediation=(
        "Set spec.securityContext {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}} "
        "and on every container securityContext {allowPrivilegeEscalation: false, "
        "privileged: false, capabilities: {drop: [ALL]}}; remove hostNetwork/hostPID/hostIPC "
        "and hostPath volumes."
    ),
    domain="kubernetes",
    validate=_validate_pod_security,
)

# ---------------------------------------------------------------------------------------------
# k8s-image-pinned
# ---------------------------------------------------------------------------------------------

# Shared with the Gatekeeper constraints (rollout_rules.admission).
DEFAULT_REGISTRIES = list(DEFAULT_ALLOWED_REGISTRIES)
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def image_repository(image: str) -> str:
    """The image's repository with an explicit registry host (Docker Hub made explicit)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    first = name.split("/", 1)[0]
    if "/" not in name or not ("." in first or ":" in first or first == "localhost"):
        name = "docker.io/" + (name if "/" in name else "library/" + name)
    return name


def registry_allowed(image: str, allowed: list[str]) -> bool:
    repository = image_repository(image)
    for pattern in allowed:
        pattern = pattern.rstrip("/")
        if fnmatch.fnmatchcase(repository, pattern) or fnmatch.fnmatchcase(
            repository, pattern + "/*"
        ):
            return True
    return False


def _validate_images(args: ResourceValidationArgs, report: Report) -> None:
    template = pod_template(args.resource_type, args.props)
    if template is None:
        return
    allowed = list(args.get_config().get("allowedRegistries", DEFAULT_REGISTRIES))
    for container in containers(template[1]):
        image = get(container, "image")
        who = container_label(container)
        if not isinstance(image, str) or not image:
            report(f"{who} has no image.")
            continue
        if not _DIGEST.search(image):
            report(f"{who} image {image!r} is not pinned by digest (@sha256:...).")
        if not registry_allowed(image, allowed):
            report(
                f"{who} image {image!r} is not from an approved registry ({', '.join(allowed)})."
            )


k8s_image_pinned = resource_policy(
    name="k8s-image-pinned",
    description="Container images are pinned by digest and come from an approved registry.",
    severity=Severity.HIGH,
    controls=[
        Control.of(SOC2, "CC8.1"),
        Control.of(SOC2, "CC6.8"),
        Control.of(CIS_K8S, "5.5.1"),
    ],
    remediation=(
        "Reference images as <registry>/<repository>@sha256:<digest> (a tag may precede the "
        "digest) and push them to one of allowedRegistries."
    ),
    domain="kubernetes",
    validate=_validate_images,
    config={
        "allowedRegistries": string_list_schema(
            "Registries (or registry/path prefixes; '*' wildcards allowed) images may come from.",
            DEFAULT_REGISTRIES,
        )
    },
)

# ---------------------------------------------------------------------------------------------
# k8s-resource-limits
# ---------------------------------------------------------------------------------------------


def _validate_limits(args: ResourceValidationArgs, report: Report) -> None:
    template = pod_template(args.resource_type, args.props)
    if template is None:
        return
    # Ephemeral containers cannot declare resources.
    for container in containers(template[1], CONTAINER_LISTS[:2]):
        missing = [
            f"{kind}.{resource}"
            for kind in ("requests", "limits")
            for resource in ("cpu", "memory")
            if get(container, "resources", kind, resource) in (None, "")
        ]
        if missing:
            report(f"{container_label(container)} has no {', '.join(missing)}.")


k8s_resource_limits = resource_policy(
    name="k8s-resource-limits",
    description="Every container declares CPU and memory requests and limits.",
    severity=Severity.MEDIUM,
    controls=[Control.of(SOC2, "A1.1")],
    remediation=(
        "Set resources.requests.cpu/memory and resources.limits.cpu/memory on every container "
        "and init container, sized from observed usage."
    ),
    domain="kubernetes",
    validate=_validate_limits,
)

# ---------------------------------------------------------------------------------------------
# k8s-service-account-token
# ---------------------------------------------------------------------------------------------


def _validate_token(args: ResourceValidationArgs, report: Report) -> None:
    template = pod_template(args.resource_type, args.props)
    if template is None:
        return
    pod_metadata, pod_spec = template
    if get(pod_spec, "automountServiceAccountToken") is False:
        return
    reasons: dict[str, Any] = {}
    for metadata in (get(args.props, "metadata"), pod_metadata):
        found: Mapping[str, Any] = annotations_of(metadata)
        if ANNOTATION_NEEDS_API_TOKEN in found:
            reasons[ANNOTATION_NEEDS_API_TOKEN] = found[ANNOTATION_NEEDS_API_TOKEN]
    reason = reasons.get(ANNOTATION_NEEDS_API_TOKEN)
    if isinstance(reason, str) and reason.strip():
        return
    if ANNOTATION_NEEDS_API_TOKEN in reasons:
        report(f"Annotation {ANNOTATION_NEEDS_API_TOKEN} is present but gives no reason.")
    else:
        report(
            "The pod template does not set automountServiceAccountToken: false and is not "
            f"annotated {ANNOTATION_NEEDS_API_TOKEN} with a reason."
        )


k8s_service_account_token = resource_policy(
    name="k8s-service-account-token",
    description=(
        "Pods do not automount a service account token unless annotated "
        f"{ANNOTATION_NEEDS_API_TOKEN} with a reason."
    ),
    severity=Severity.HIGH,
    controls=[Control.of(CIS_K8S, "5.1.6"), Control.of(SOC2, "CC6.1")],
    remediation=(
        "Set automountServiceAccountToken: false in the pod spec. A pod that calls the "
        "Kubernetes API instead carries the annotation "
        f"{ANNOTATION_NEEDS_API_TOKEN}: '<why>' on the workload or its pod template."
    ),
    domain="kubernetes",
    validate=_validate_token,
)

POLICIES = [
    k8s_pod_security_restricted,
    k8s_image_pinned,
    k8s_resource_limits,
    k8s_service_account_token,
]
