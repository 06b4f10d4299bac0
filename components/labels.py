"""Labels and names shared by the components: one place that decides them."""

from __future__ import annotations

import hashlib

from rollout_rules.contract import LABEL_LICENSE, LABEL_TIER, namespace_for

__all__ = ["k8s_labels", "namespace_for", "selector_labels", "short_name"]

PART_OF = "codex"


def k8s_labels(name: str, tier: str, license_id: str) -> dict[str, str]:
    """Labels every Kubernetes object of the coding system carries."""
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
        LABEL_TIER: tier,
        LABEL_LICENSE: license_id,
    }


def selector_labels(name: str, tier: str) -> dict[str, str]:
    """The stable subset used in selectors (selectors are immutable on Deployments)."""
    return {"app.kubernetes.io/name": name, LABEL_TIER: tier}


def short_name(*parts: str, limit: int = 32) -> str:
    """A deterministic AWS name within `limit` characters (ALB and target group names: 32)."""
    name = "-".join(parts)
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    return f"{name[: limit - 7].rstrip('-')}-{digest}"
