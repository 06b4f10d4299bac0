"""The codex-rollout CrossGuard policy pack.

One module per domain (security, k8s, gdpr, soc2, licensing, rollout), each exporting
``POLICIES``; ``__main__.py`` assembles them into the pack the engine runs.
"""

from __future__ import annotations

from pulumi_policy import Policy

PACK_NAME = "codex-rollout-policies"
PACK_DESCRIPTION = (
    "Security, GDPR, SOC 2, licensing, Kubernetes workload and rollout-safety policies for "
    "the codex-rollout stacks."
)


def all_policies() -> list[Policy]:
    """Every policy of the pack, grouped by domain."""
    from . import gdpr, k8s, licensing, rollout, security, soc2

    return [
        *security.POLICIES,
        *k8s.POLICIES,
        *gdpr.POLICIES,
        *soc2.POLICIES,
        *licensing.POLICIES,
        *rollout.POLICIES,
    ]
