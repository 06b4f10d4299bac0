"""The Observability component under Pulumi's mock runtime: what it declares, with which inputs.

Two sources of recorded inputs: the shared component mocks (tests/conftest.py) to build the
component alone with chosen arguments, and the project's offline plan (tests/conftest.py), which
records the whole program as the engine would receive it (parents, dependencies, secrets).
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from components.iam import ClusterIdentity
from components.observability.component import Observability, ObservabilityArgs
from infra.config import StackConfig
from rollout_cli.offline import SECRET_SIG, PlanResult
from rollout_rules.plan import week_plan
from tests.conftest import Created, declare_under_mocks, plan_of

TOPIC = "arn:aws:sns:eu-central-1:444455556666:codex-rollback"
KEY = "arn:aws:kms:eu-central-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab"
REQUIRED_LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/part-of", "codex.dev/tier")
SEMVER = re.compile(r"^\d+\.\d+\.\d+$")


def build(config: StackConfig, **overrides: Any) -> list[Created]:
    """Declare the component alone under mocks, with the program's arguments for `config`."""
    fields: dict[str, Any] = {
        "services": config.services,
        "routed_service": config.routing.service,
        "settings": config.observability,
        "alerting": config.alerting,
        "cluster": ClusterIdentity(
            config.cluster.name, config.cluster.oidc_provider_arn, config.cluster.oidc_issuer
        ),
        "region": config.region,
        "week": week_plan(config.rollout.week, config.schedule()),
        "tags": config.tags.as_dict(),
        "tiers": ("sandbox", "canary"),
        "rollback_topic_arn": TOPIC,
        **overrides,
    }
    return declare_under_mocks(
        lambda: Observability("observability", ObservabilityArgs(**fields)).namespace
    )


def plain(value: Any) -> Any:
    """The value of a secret as the mocks receive it (wrapped with Pulumi's secret signature)."""
    if isinstance(value, dict) and SECRET_SIG in value:
        return value["value"]
    return value


def of_type(created: list[Created], typ: str, kind: str | None = None) -> list[Created]:
    return [c for c in created if c.typ == typ and (kind is None or c.inputs.get("kind") == kind)]


def one(created: list[Created], typ: str, name_suffix: str) -> Created:
    (found,) = [c for c in created if c.typ == typ and c.name.endswith(name_suffix)]
    return found


@pytest.fixture(scope="module")
def created(prod_config: StackConfig) -> list[Created]:
    return build(prod_config, rollback_topic_kms_key_arn=KEY)


def test_monitoring_namespace_forbids_host_access(created: list[Created]) -> None:
    (namespace,) = of_type(created, "kubernetes:core/v1:Namespace")
    labels = namespace.inputs["metadata"]["labels"]
    assert namespace.inputs["metadata"]["name"] == "monitoring"
    # node-exporter needs host access; the namespace does not grant it, so the chart must not
    # run node-exporter (asserted on the chart values below).
    assert labels["pod-security.kubernetes.io/enforce"] in ("baseline", "restricted")
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"


def test_every_kubernetes_object_is_labelled(created: list[Created]) -> None:
    objects = [c for c in created if c.typ.startswith("kubernetes:") and "metadata" in c.inputs]
    assert len(objects) >= 10
    for obj in objects:
        labels = obj.inputs["metadata"]["labels"]
        for key in REQUIRED_LABELS:
            assert labels.get(key), (obj.name, key)
        assert labels["app.kubernetes.io/part-of"] == "codex"
        assert labels["codex.dev/tier"] == "shared"
        assert labels["codex.dev/license"] == "Apache-2.0"


def test_service_monitor_per_service_and_tier(
    prod_config: StackConfig, created: list[Created]
) -> None:
    monitors = of_type(created, "kubernetes:monitoring.coreos.com/v1:ServiceMonitor")
    expected = {(s.name, t) for s in prod_config.services for t in ("sandbox", "canary")}
    seen = set()
    for monitor in monitors:
        (endpoint,) = monitor.inputs["spec"]["endpoints"]
        relabel = {r["targetLabel"]: r["replacement"] for r in endpoint["relabelings"]}
        assert set(relabel) == {"service", "tier"}
        assert all(r["action"] == "replace" for r in endpoint["relabelings"])
        assert endpoint["port"] == "metrics"
        assert monitor.inputs["spec"]["namespaceSelector"]["matchNames"] == [
            f"codex-{relabel['tier']}"
        ]
        match = monitor.inputs["spec"]["selector"]["matchLabels"]
        assert match["app.kubernetes.io/name"] == relabel["service"]
        assert match["codex.dev/tier"] == relabel["tier"]
        seen.add((relabel["service"], relabel["tier"]))
    assert seen == expected and len(monitors) == len(expected)


def test_tier_namespaces_come_from_the_args(prod_config: StackConfig) -> None:
    created = build(
        prod_config, tiers=("production",), tier_namespaces={"production": "codex-prod-x"}
    )
    monitors = of_type(created, "kubernetes:monitoring.coreos.com/v1:ServiceMonitor")
    assert len(monitors) == len(prod_config.services)
    for monitor in monitors:
        assert monitor.inputs["spec"]["namespaceSelector"]["matchNames"] == ["codex-prod-x"]


def test_prometheus_rules_hold_every_alert(created: list[Created]) -> None:
    rules = of_type(created, "kubernetes:monitoring.coreos.com/v1:PrometheusRule")
    alerts = {
        r["alert"]
        for rule in rules
        for group in rule.inputs["spec"]["groups"]
        for r in group["rules"]
        if "alert" in r
    }
    assert len(alerts) == 10 and all(a.startswith("Codex") for a in alerts)
    for rule in rules:
        (group,) = rule.inputs["spec"]["groups"]
        assert rule.inputs["metadata"]["name"] == group["name"]


def _values(created: list[Created], chart: str) -> dict[str, Any]:
    (release,) = [
        c for c in of_type(created, "kubernetes:helm.sh/v3:Release") if c.inputs["chart"] == chart
    ]
    assert SEMVER.match(release.inputs["version"]), release.inputs["version"]
    assert (
        release.inputs["repositoryOpts"]["repo"]
        == "https://prometheus-community.github.io/helm-charts"
    )
    assert release.inputs["namespace"] == "monitoring"
    values: dict[str, Any] = release.inputs["values"]
    return values


def test_kube_prometheus_stack_values(prod_config: StackConfig, created: list[Created]) -> None:
    values = _values(created, "kube-prometheus-stack")
    obs = prod_config.observability
    spec = values["prometheus"]["prometheusSpec"]
    assert spec["retention"] == obs.retention
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["resources"]["requests"]["storage"] == obs.storage_size
    assert claim["storageClassName"] == obs.storage_class
    assert spec["evaluationInterval"] == obs.evaluation_interval
    assert values["nodeExporter"]["enabled"] is False
    # Alertmanager runs the Secret this component builds.
    secret = one(created, "kubernetes:core/v1:Secret", "-alertmanager-config")
    am_spec = values["alertmanager"]["alertmanagerSpec"]
    assert am_spec["useExistingSecret"] is True
    assert am_spec["configSecret"] == secret.inputs["metadata"]["name"]
    # Grafana: admin password from the Secret, dashboards from labelled ConfigMaps.
    grafana = values["grafana"]
    admin = one(created, "kubernetes:core/v1:Secret", "-grafana-admin")
    assert grafana["admin"]["existingSecret"] == admin.inputs["metadata"]["name"]
    assert grafana["admin"]["passwordKey"] in plain(admin.inputs["stringData"])
    sidecar = grafana["sidecar"]["dashboards"]
    for board in of_type(created, "kubernetes:core/v1:ConfigMap"):
        assert board.inputs["metadata"]["labels"][sidecar["label"]] == sidecar["labelValue"]
    (cloudwatch,) = [d for d in grafana["additionalDataSources"] if d["type"] == "cloudwatch"]
    assert cloudwatch["jsonData"] == {"authType": "default", "defaultRegion": prod_config.region}


def _trust_subject(role: Created) -> str:
    policy = json.loads(role.inputs["assumeRolePolicy"])
    (statement,) = policy["Statement"]
    condition = statement["Condition"]["StringEquals"]
    (subject,) = [v for k, v in condition.items() if k.endswith(":sub")]
    return str(subject)


def test_irsa_roles_are_the_service_accounts(
    prod_config: StackConfig, created: list[Created]
) -> None:
    values = _values(created, "kube-prometheus-stack")
    for role_suffix, account in (
        ("-grafana-cloudwatch", values["grafana"]["serviceAccount"]),
        ("-alertmanager-sns", values["alertmanager"]["serviceAccount"]),
    ):
        role = one(created, "aws:iam/role:Role", role_suffix)
        assert _trust_subject(role) == f"system:serviceaccount:monitoring:{account['name']}"
        assert account["annotations"]["eks.amazonaws.com/role-arn"].endswith(role.name)
        assert role.inputs["tags"] == prod_config.tags.as_dict()


def test_alertmanager_may_publish_to_the_rollback_topic_only(created: list[Created]) -> None:
    policy = json.loads(
        one(created, "aws:iam/rolePolicy:RolePolicy", "-alertmanager-sns").inputs["policy"]
    )
    publish = [s for s in policy["Statement"] if s["Action"] == "sns:Publish"]
    assert publish == [{"Effect": "Allow", "Action": "sns:Publish", "Resource": TOPIC}]
    assert any(s["Resource"] == KEY for s in policy["Statement"])


def test_alertmanager_config_is_built_from_the_secrets(prod_config: StackConfig) -> None:
    alerting = prod_config.alerting.model_copy(
        update={
            "pagerduty_routing_key": SecretStr("pd-key-from-pulumi-secret"),
            "slack_webhook_url": SecretStr("https://hooks.slack.com/services/T1/B1/from-secret"),
        }
    )
    created = build(prod_config.model_copy(update={"alerting": alerting}))
    secret = one(created, "kubernetes:core/v1:Secret", "-alertmanager-config")
    assert secret.inputs["metadata"]["annotations"] == {"codex.dev/pagerduty-route": "true"}
    assert SECRET_SIG in secret.inputs["stringData"]
    document = yaml.safe_load(plain(secret.inputs["stringData"])["alertmanager.yaml"])
    receivers = {r["name"]: r for r in document["receivers"]}
    assert receivers["pagerduty"]["pagerduty_configs"][0]["routing_key"] == (
        "pd-key-from-pulumi-secret"
    )
    assert receivers["slack"]["slack_configs"][0]["api_url"].endswith("/from-secret")
    assert receivers["rollback"]["sns_configs"][0]["topic_arn"] == TOPIC


# -- the whole program, recorded as the engine would receive it ------------------------------------


@pytest.fixture(scope="module")
def plan() -> PlanResult:
    return plan_of("prod", 8)


def test_secrets_stay_secret_in_the_program(plan: PlanResult) -> None:
    # Recorded as the Kubernetes provider's Check leaves a Secret: stringData turned into data.
    for suffix in ("observability-alertmanager-config", "observability-grafana-admin"):
        record = plan.find(f"::{suffix}")
        assert "stringData" not in record.inputs, suffix
        assert record.inputs["data"].get(SECRET_SIG), suffix


def test_children_have_the_component_as_parent(plan: PlanResult) -> None:
    (component,) = plan.by_type("codex:observability:Observability")
    children = [r for r in plan.records if r.parent == component.urn]
    assert len(children) >= 15
    assert all(r.name.startswith("observability-") for r in children)


def test_custom_resources_wait_for_the_chart(plan: PlanResult) -> None:
    (release,) = [
        r
        for r in plan.by_type("kubernetes:helm.sh/v3:Release")
        if r.inputs.get("chart") == "kube-prometheus-stack"
    ]
    customs = [r for r in plan.records if r.type.startswith("kubernetes:monitoring.coreos.com/")]
    assert customs
    assert all(release.urn in r.dependencies for r in customs)
    secrets = {plan.find("::observability-alertmanager-config").urn}
    assert secrets <= set(release.dependencies)


def test_alertmanager_secret_names_the_rollback_topic(plan: PlanResult) -> None:
    topic = next(r for r in plan.by_type("aws:sns/topic:Topic") if r.name == "rollback-topic")
    secret = plan.find("::observability-alertmanager-config")
    text = base64.b64decode(secret.inputs["data"]["value"]["alertmanager.yaml"]).decode()
    document = yaml.safe_load(text)
    (rollback,) = [r for r in document["receivers"] if r["name"] == "rollback"]
    assert rollback["sns_configs"][0]["topic_arn"] == topic.outputs["arn"]


def test_week_8_monitors_every_tier(plan: PlanResult) -> None:
    monitors = plan.by_type("kubernetes:monitoring.coreos.com/v1:ServiceMonitor")
    assert len(monitors) == 3 * len(plan.config.services)
    assert plan.stack_outputs["observability"]["rollbackAlerts"] == {
        "CodexErrorRateHigh": "30s",
        "CodexLatencyP95High": "30s",
        "CodexTierDown": "30s",
    }
