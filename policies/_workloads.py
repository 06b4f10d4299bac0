"""Kubernetes workload shapes: where each workload kind keeps its pod template and containers.

Resources arrive with the inputs the Kubernetes provider records: ``apiVersion``, ``kind``,
``metadata`` and ``spec`` in the API's own camelCase.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ._common import as_list, get

# Token -> path from the resource's inputs to its pod template (metadata + spec).
POD_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "kubernetes:core/v1:Pod": (),
    "kubernetes:apps/v1:Deployment": ("spec", "template"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template"),
    "kubernetes:core/v1:ReplicationController": ("spec", "template"),
    "kubernetes:batch/v1:Job": ("spec", "template"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template"),
}

WORKLOAD_TYPES = frozenset(POD_TEMPLATE_PATHS)

CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


def pod_template(resource_type: str, props: Mapping[str, Any]) -> tuple[Any, Any] | None:
    """(pod metadata, pod spec) of a workload, None for other resources or a missing spec."""
    path = POD_TEMPLATE_PATHS.get(resource_type)
    if path is None:
        return None
    template = get(props, *path) if path else props
    spec = get(template, "spec")
    if not isinstance(spec, Mapping):
        return None
    return get(template, "metadata", default={}), spec


def containers(pod_spec: Any, lists: tuple[str, ...] = CONTAINER_LISTS) -> Iterator[Any]:
    for key in lists:
        for container in as_list(get(pod_spec, key)):
            if isinstance(container, Mapping):
                yield container


def container_label(container: Any) -> str:
    name = get(container, "name")
    return f"container {name!r}" if isinstance(name, str) else "unnamed container"


def labels(props: Mapping[str, Any]) -> Mapping[str, Any]:
    value = get(props, "metadata", "labels")
    return value if isinstance(value, Mapping) else {}


def annotations_of(metadata: Any) -> Mapping[str, Any]:
    value = get(metadata, "annotations")
    return value if isinstance(value, Mapping) else {}
