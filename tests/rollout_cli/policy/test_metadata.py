"""The pack's metadata: every policy has the house metadata over GetAnalyzerInfo, and the wire
metadata equals the one read in-process (which the coverage command uses)."""

from __future__ import annotations

import re

import pytest

from rollout_cli.policy.host import PolicyHost
from rollout_cli.policy.metadata import pack_policies

pytestmark = pytest.mark.slow

CONFIG_NAMES = {
    "allowedRegions",
    "allowedRegistries",
    "allowedLicenses",
    "deniedLicenses",
    "allowedChartRepositories",
    "minRetentionDays",
    "maxRetentionDays",
    "requiredTags",
    "allowedTlsPolicies",
}


def test_every_policy_has_full_metadata(pack: PolicyHost) -> None:
    policies = pack.info.policies
    assert len(policies) >= 21
    assert pack.info.name == "codex-rollout-policies" and pack.info.version == "0.1.0"
    for p in policies:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", p.name)
        assert p.description and p.remediation and p.severity
        assert p.framework and p.framework_version and p.reference, p.name
        expected = "mandatory" if p.severity in ("high", "critical") else "advisory"
        assert p.enforcement_level == expected, p.name
    schema_names = {k for p in policies for k in p.config_schema}
    assert schema_names >= CONFIG_NAMES
    # The wire metadata equals the in-process one the coverage command uses.
    assert policies == pack_policies()
