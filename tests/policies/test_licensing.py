"""Licensing policies over gRPC: approved, pinned Helm charts and workload licence labels."""

from __future__ import annotations

from typing import Any

import pytest

from tests.policies.state import (
    Check,
    StateBuilder,
    changed,
    deployment,
    findings,
    messages,
    removed,
)

CHARTS = "license-approved-charts"
LICENCE = "license-allowlist"
RELEASE: dict[str, Any] = {
    "chart": "kube-prometheus-stack",
    "version": "65.1.0",
    "repositoryOpts": {"repo": "https://prometheus-community.github.io/helm-charts"},
    "namespace": "monitoring",
    "values": {},
}


def release(inputs: dict[str, Any], typ: str = "kubernetes:helm.sh/v3:Release") -> StateBuilder:
    b = StateBuilder()
    b.add(typ, "monitoring", inputs)
    return b


def test_chart_baseline_is_compliant(check: Check) -> None:
    assert findings(check(release(RELEASE)), CHARTS) == []
    trailing_slash = changed(
        RELEASE, "repositoryOpts.repo", RELEASE["repositoryOpts"]["repo"] + "/"
    )
    assert findings(check(release(trailing_slash)), CHARTS) == []


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        (
            changed(RELEASE, "repositoryOpts.repo", "https://charts.example.com"),
            "not in allowedChartRepositories",
        ),
        (removed(RELEASE, "repositoryOpts"), "does not name its repository"),
        (
            changed(removed(RELEASE, "repositoryOpts"), "chart", "./charts/local"),
            "does not name its repository",
        ),
        (changed(RELEASE, "version", "^65.0.0"), "'^65.0.0' is not pinned"),
        (changed(RELEASE, "version", "65.x"), "is not pinned"),
        (removed(RELEASE, "version"), "None is not pinned"),
    ],
)
def test_unapproved_or_unpinned_charts(check: Check, inputs: dict[str, Any], expected: str) -> None:
    report = check(release(inputs))
    assert expected in messages(report, CHARTS)
    assert findings(report, CHARTS)[0].enforcement_level == "mandatory"


def test_helm_v4_charts_and_oci_repositories(check: Check) -> None:
    oci = {"chart": "oci://ghcr.io/codex-dominion/charts/gateway", "version": "1.4.2"}
    report = check(release(oci, "kubernetes:helm.sh/v4:Chart"))
    assert "comes from oci://ghcr.io/codex-dominion/charts" in messages(report, CHARTS)
    config = {CHARTS: {"allowedChartRepositories": ["oci://ghcr.io/codex-dominion/charts"]}}
    assert findings(check(release(oci, "kubernetes:helm.sh/v4:Chart"), config), CHARTS) == []


# -- license-allowlist --------------------------------------------------------------------------

LABEL = ("metadata", "labels", "codex.dev/license")


def workload(inputs: dict[str, Any]) -> StateBuilder:
    b = StateBuilder()
    b.add("kubernetes:apps/v1:Deployment", "api", inputs)
    return b


def test_licence_baseline_is_compliant(check: Check) -> None:
    assert findings(check(workload(deployment())), LICENCE) == []


LICENCE_CASES: list[tuple[str | None, str]] = [
    (None, "has no codex.dev/license label"),
    ("AGPL-3.0-only", "'AGPL-3.0-only' is denied"),
    ("SSPL-1.0", "is denied"),
    ("BUSL-1.1", "is denied"),
    ("GPL-2.0-only", "is not in allowedLicenses"),
]


@pytest.mark.parametrize(("value", "expected"), LICENCE_CASES)
def test_licence_not_allowed(check: Check, value: str | None, expected: str) -> None:
    inputs = removed(deployment(), LABEL) if value is None else changed(deployment(), LABEL, value)
    assert expected in messages(check(workload(inputs)), LICENCE)


def test_allowed_licences_come_from_config_but_denied_wins(check: Check) -> None:
    config = {LICENCE: {"allowedLicenses": ["GPL-2.0-only", "AGPL-3.0-only"]}}
    gpl = changed(deployment(), LABEL, "GPL-2.0-only")
    assert findings(check(workload(gpl), config), LICENCE) == []
    agpl = changed(deployment(), LABEL, "AGPL-3.0-only")
    assert "is denied" in messages(check(workload(agpl), config), LICENCE)
