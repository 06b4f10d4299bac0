"""The pack's contents: every policy, grouped by domain, and the pack's name."""

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
