"""Environment: hardened workloads per service and tier, labelled, isolated by network policy."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rollout_cli.offline import PlanResult
from tests.conftest import STACKS

TIERS = ("sandbox", "canary", "production")


def _objects(result: PlanResult, kind: str) -> list[dict]:
    return [
        r.inputs
        for r in result.records
        if (
            r.type.startswith("kubernetes:")
            and r.inputs.get("kind") == kind
            and (r.inputs.get("metadata") or {}).get("namespace", "").startswith("codex-")
        )
        or (
            r.type == "kubernetes:core/v1:Namespace"
            and kind == "Namespace"
            and r.inputs["metadata"]["name"].startswith("codex-")
        )
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_namespaces_enforce_restricted_pod_security(
    plan: Callable[..., PlanResult], stack: str
) -> None:
    namespaces = _objects(plan(stack, 12), "Namespace")
    assert {n["metadata"]["name"] for n in namespaces} == {f"codex-{t}" for t in TIERS}
    for ns in namespaces:
        labels = ns["metadata"]["labels"]
        for mode in ("enforce", "audit", "warn"):
            assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"


@pytest.mark.parametrize("stack", STACKS)
def test_deployments_are_hardened_and_sized_from_config(
    plan: Callable[..., PlanResult], stack: str
) -> None:
    result = plan(stack, 12)
    deployments = _objects(result, "Deployment")
    assert len(deployments) == len(TIERS) * len(result.config.services)
    for deployment in deployments:
        tier = deployment["metadata"]["labels"]["codex.dev/tier"]
        service = result.config.service(deployment["metadata"]["name"])
        sizing = service.tiers[tier]
        assert deployment["spec"]["replicas"] == sizing.replicas
        pod = deployment["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        zones = [
            c
            for c in pod["topologySpreadConstraints"]
            if c["topologyKey"] == "topology.kubernetes.io/zone"
        ]
        assert zones
        (container,) = pod["containers"]
        assert container["image"] == service.image and "@sha256:" in container["image"]
        ctx = container["securityContext"]
        assert ctx["allowPrivilegeEscalation"] is False
        assert ctx["readOnlyRootFilesystem"] is True
        assert ctx["runAsNonRoot"] is True
        assert ctx["capabilities"]["drop"] == ["ALL"]
        assert ctx["seccompProfile"]["type"] == "RuntimeDefault"
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            assert container[probe]["httpGet"]["path"] == service.health_path
        resources = container["resources"]
        assert (
            resources["requests"]
            == resources["limits"]
            == {"cpu": sizing.cpu, "memory": sizing.memory}
        )


@pytest.mark.parametrize("stack", STACKS)
def test_every_object_is_labelled(plan: Callable[..., PlanResult], stack: str) -> None:
    result = plan(stack, 12)
    licences = {s.name: s.license for s in result.config.services}
    objects = [
        r.inputs
        for r in result.records
        if r.type.startswith("kubernetes:")
        and "metadata" in r.inputs
        and r.parent.split("::")[-1].startswith("env-")
    ]
    assert objects
    for obj in objects:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "codex"
        assert labels["codex.dev/tier"] in TIERS
        assert labels["app.kubernetes.io/name"]
        name = labels["app.kubernetes.io/name"]
        if name in licences:
            assert labels["codex.dev/license"] == licences[name]


@pytest.mark.parametrize("stack", STACKS)
def test_autoscaler_and_disruption_budget(plan: Callable[..., PlanResult], stack: str) -> None:
    result = plan(stack, 12)
    hpas = _objects(result, "HorizontalPodAutoscaler")
    pdbs = _objects(result, "PodDisruptionBudget")
    assert len(hpas) == len(pdbs) == len(TIERS) * len(result.config.services)
    for hpa in hpas:
        assert hpa["apiVersion"] == "autoscaling/v2"
        tier = hpa["metadata"]["labels"]["codex.dev/tier"]
        sizing = result.config.service(hpa["metadata"]["name"]).tiers[tier]
        assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (
            sizing.replicas,
            sizing.max_replicas,
        )


@pytest.mark.parametrize("stack", STACKS)
def test_network_policies_default_deny_and_narrow_allows(
    plan: Callable[..., PlanResult], stack: str
) -> None:
    result = plan(stack, 12)
    policies = _objects(result, "NetworkPolicy")
    for tier in TIERS:
        mine = [p for p in policies if p["metadata"]["namespace"] == f"codex-{tier}"]
        deny = [p for p in mine if p["metadata"]["name"] == "default-deny"]
        assert deny and deny[0]["spec"]["podSelector"] == {}
        assert set(deny[0]["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        assert "ingress" not in deny[0]["spec"] and "egress" not in deny[0]["spec"]
        dns = [p for p in mine if p["metadata"]["name"] == "allow-dns-egress"]
        assert {port["port"] for port in dns[0]["spec"]["egress"][0]["ports"]} == {53}
        routed = next(p for p in mine if p["metadata"]["name"] == "codegen-api-ingress")
        sources = [peer for rule in routed["spec"]["ingress"] for peer in rule["from"]]
        assert {"ipBlock": {"cidr": result.config.network.vpc_cidr}} in sources
        monitoring = [s for s in sources if "namespaceSelector" in s]
        assert monitoring[0]["namespaceSelector"]["matchLabels"] == {
            "kubernetes.io/metadata.name": "monitoring"
        }


@pytest.mark.parametrize("stack", STACKS)
def test_only_the_routed_service_is_bound_to_the_tier_target_group(
    plan: Callable[..., PlanResult], stack: str
) -> None:
    result = plan(stack, 12)
    bindings = _objects(result, "TargetGroupBinding")
    groups = {
        r.inputs["tags"]["tier"]: r.outputs["arn"]
        for r in result.by_type("aws:lb/targetGroup:TargetGroup")
    }
    assert len(bindings) == len(TIERS)
    for binding in bindings:
        tier = binding["metadata"]["labels"]["codex.dev/tier"]
        assert binding["spec"]["serviceRef"]["name"] == result.config.routing.service
        assert binding["spec"]["targetGroupARN"] == groups[tier]
        assert binding["spec"]["targetType"] == "ip"


def test_load_balancer_controller_is_installed_pinned(plan: Callable[..., PlanResult]) -> None:
    result = plan("prod")
    (release,) = [
        r
        for r in result.by_type("kubernetes:helm.sh/v3:Release")
        if r.inputs["chart"] == "aws-load-balancer-controller"
    ]
    assert release.inputs["version"][0].isdigit()
    assert release.inputs["repositoryOpts"]["repo"] == "https://aws.github.io/eks-charts"
    role_arn = release.inputs["values"]["serviceAccount"]["annotations"][
        "eks.amazonaws.com/role-arn"
    ]
    assert role_arn.startswith("arn:aws:iam::444455556666:role/")
