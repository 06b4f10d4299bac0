"""The coverage matrix of policies by framework control, read in-process from the pack."""

from __future__ import annotations

import json

from rollout_cli.policy.formats.coverage import render_coverage
from rollout_cli.policy.metadata import pack_policies


def test_coverage_matrix() -> None:
    text = render_coverage(pack_policies(), "text")
    assert "SOC 2" in text and "GDPR" in text and "CIS AWS Foundations Benchmark" in text
    matrix = json.loads(render_coverage(pack_policies(), "json"))["frameworks"]
    assert "iam-no-wildcard-admin" in matrix["CIS AWS Foundations Benchmark"]["1.16"]
    assert "gdpr-data-residency" in matrix["GDPR"]["Art. 44"]
    markdown = render_coverage(pack_policies(), "markdown")
    assert markdown.splitlines()[0].startswith("| Policy | Severity | CIS AWS")
