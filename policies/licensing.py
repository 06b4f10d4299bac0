"""Licensing policies: third-party Helm charts come from approved repositories at pinned
versions, and every workload declares an allowed licence."""

from __future__ import annotations

import re
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from rollout_rules.admission import DEFAULT_ALLOWED_LICENSES as _ALLOWED
from rollout_rules.admission import DEFAULT_DENIED_LICENSES as _DENIED
from rollout_rules.contract import LABEL_LICENSE

from ._common import OPENCHAIN, SOC2, Control, Report, get, resource_policy, string_list_schema
from ._workloads import WORKLOAD_TYPES, labels

# ---------------------------------------------------------------------------------------------
# license-approved-charts
# ---------------------------------------------------------------------------------------------

HELM_TYPES = ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart")
DEFAULT_CHART_REPOSITORIES = [
    "https://prometheus-community.github.io/helm-charts",
    "https://grafana.github.io/helm-charts",
    "https://kubernetes-sigs.github.io/metrics-server",
    "https://aws.github.io/eks-charts",
    "https://open-policy-agent.github.io/gatekeeper/charts",
]
_EXACT_VERSION = re.compile(r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")


def _normal(url: str) -> str:
    return url.strip().rstrip("/")


def chart_source(chart: Any, repo: Any) -> str | None:
    """The repository a chart is fetched from, None for a local path or a repo alias."""
    if isinstance(repo, str) and repo:
        return _normal(repo)
    if isinstance(chart, str) and chart.startswith("oci://"):
        return _normal(chart.rsplit("/", 1)[0])
    return None


def _validate_charts(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type not in HELM_TYPES:
        return
    props = args.props
    chart = get(props, "chart")
    approved = {
        _normal(u)
        for u in args.get_config().get("allowedChartRepositories", DEFAULT_CHART_REPOSITORIES)
    }
    source = chart_source(chart, get(props, "repositoryOpts", "repo"))
    if source is None:
        report(
            f"Chart {chart!r} does not name its repository (repositoryOpts.repo or an oci:// "
            "reference), so its origin cannot be checked."
        )
    elif source not in approved:
        report(f"Chart {chart!r} comes from {source}, which is not in allowedChartRepositories.")
    version = get(props, "version")
    if not isinstance(version, str) or not _EXACT_VERSION.match(version):
        report(f"Chart {chart!r} version {version!r} is not pinned to an exact release.")


license_approved_charts = resource_policy(
    name="license-approved-charts",
    description="Helm releases come from approved chart repositories at a pinned version.",
    severity=Severity.HIGH,
    controls=[
        Control.of(OPENCHAIN, "3.3.1"),
        Control.of(SOC2, "CC9.2"),
        Control.of(SOC2, "CC8.1"),
    ],
    remediation=(
        "Set repository_opts.repo to an approved repository (or add the repository to "
        "allowedChartRepositories after licence review) and version to an exact chart version."
    ),
    domain="licensing",
    validate=_validate_charts,
    config={
        "allowedChartRepositories": string_list_schema(
            "Helm chart repository URLs (https:// or oci://) whose charts are approved.",
            DEFAULT_CHART_REPOSITORIES,
        )
    },
)

# ---------------------------------------------------------------------------------------------
# license-allowlist
# ---------------------------------------------------------------------------------------------

# Shared with the Gatekeeper constraints (rollout_rules.admission).
DEFAULT_ALLOWED_LICENSES = list(_ALLOWED)
DEFAULT_DENIED_LICENSES = list(_DENIED)


def _denied(value: str, denied: list[str]) -> bool:
    # SPDX spells variants as AGPL-3.0-only / AGPL-3.0-or-later.
    return any(value == d or value.startswith(d + "-") for d in denied)


def _validate_licence(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type not in WORKLOAD_TYPES:
        return
    config = args.get_config()
    allowed = list(config.get("allowedLicenses", DEFAULT_ALLOWED_LICENSES))
    denied = list(config.get("deniedLicenses", DEFAULT_DENIED_LICENSES))
    value = labels(args.props).get(LABEL_LICENSE)
    if not isinstance(value, str) or not value:
        report(f"Workload has no {LABEL_LICENSE} label.")
    elif _denied(value, denied):
        report(f"Workload licence {value!r} is denied.")
    elif value not in allowed:
        report(f"Workload licence {value!r} is not in allowedLicenses.")


license_allowlist = resource_policy(
    name="license-allowlist",
    description=(
        f"Workloads carry a {LABEL_LICENSE} label whose SPDX licence is allowed and not denied."
    ),
    severity=Severity.HIGH,
    controls=[Control.of(OPENCHAIN, "3.3.2"), Control.of(SOC2, "CC9.2")],
    remediation=(
        f"Label the workload {LABEL_LICENSE}: <SPDX id> (LicenseRef-Codex-Proprietary for "
        "in-house code). Replace components under AGPL-3.0, SSPL-1.0 or BUSL-1.1, or get a legal "
        "exception recorded in allowedLicenses."
    ),
    domain="licensing",
    validate=_validate_licence,
    config={
        "allowedLicenses": string_list_schema(
            "SPDX licence identifiers workloads may carry.", DEFAULT_ALLOWED_LICENSES
        ),
        "deniedLicenses": string_list_schema(
            "SPDX licence identifiers (and their -only/-or-later variants) never allowed.",
            DEFAULT_DENIED_LICENSES,
        ),
    },
)

POLICIES = [license_approved_charts, license_allowlist]
