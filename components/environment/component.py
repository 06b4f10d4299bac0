"""Environment: one tier (sandbox, canary or production) of the coding system in Kubernetes.

For every service of the stack config it declares, in the tier's own namespace, a hardened
Deployment with its ServiceAccount, Service, PodDisruptionBudget, HorizontalPodAutoscaler and
NetworkPolicies; the routed service also gets a TargetGroupBinding that registers its pods in
the tier's ALB target group.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.apps.v1 import (
    DeploymentSpecArgs,
    DeploymentStrategyArgs,
    RollingUpdateDeploymentArgs,
)
from pulumi_kubernetes.autoscaling.v2 import (
    CrossVersionObjectReferenceArgs,
    HorizontalPodAutoscalerSpecArgs,
    MetricSpecArgs,
    MetricTargetArgs,
    ResourceMetricSourceArgs,
)
from pulumi_kubernetes.core.v1 import (
    CapabilitiesArgs,
    ContainerArgs,
    ContainerPortArgs,
    EmptyDirVolumeSourceArgs,
    EnvVarArgs,
    HTTPGetActionArgs,
    LimitRangeItemArgs,
    LimitRangeSpecArgs,
    PodSecurityContextArgs,
    PodSpecArgs,
    PodTemplateSpecArgs,
    ProbeArgs,
    ResourceQuotaSpecArgs,
    ResourceRequirementsArgs,
    SeccompProfileArgs,
    SecurityContextArgs,
    ServicePortArgs,
    ServiceSpecArgs,
    TopologySpreadConstraintArgs,
    VolumeArgs,
    VolumeMountArgs,
)
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs, ObjectMetaArgs
from pulumi_kubernetes.networking.v1 import (
    IPBlockArgs,
    NetworkPolicyEgressRuleArgs,
    NetworkPolicyIngressRuleArgs,
    NetworkPolicyPeerArgs,
    NetworkPolicyPortArgs,
    NetworkPolicySpecArgs,
)
from pulumi_kubernetes.policy.v1 import PodDisruptionBudgetSpecArgs

from components.environment.config import ServiceConfig, TierSizing
from components.labels import k8s_labels, namespace_for, selector_labels

# Pods run as this unprivileged user; above 10000 so it never collides with a host user.
RUN_AS_USER = 10001
MONITORING_NAMESPACE = "monitoring"
SYSTEM_NAMESPACE = "kube-system"


@dataclass(frozen=True)
class EnvironmentArgs:
    """What one tier needs."""

    tier: str
    services: list[ServiceConfig]
    routed_service: str
    target_group_arn: pulumi.Input[str]
    vpc_cidr: str
    tags: dict[str, str]


class Environment(pulumi.ComponentResource):
    """One tier of the coding system: namespace, workloads, network policies, ALB binding."""

    namespace: pulumi.Output[str]
    """Name of the tier's namespace."""
    deployments: dict[str, pulumi.Output[str]]
    """Deployment name per service."""

    def __init__(
        self, name: str, args: EnvironmentArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("codex:environment:Environment", name, None, opts)
        tier = args.tier
        ns_name = namespace_for(tier)
        child = pulumi.ResourceOptions(parent=self)
        tier_labels = {
            **k8s_labels(ns_name, tier, "Apache-2.0"),
            **{f"codex.dev/{k}": v for k, v in args.tags.items()},
        }

        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=ObjectMetaArgs(
                name=ns_name,
                labels={
                    **tier_labels,
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                    "pod-security.kubernetes.io/audit": "restricted",
                    "pod-security.kubernetes.io/warn": "restricted",
                },
            ),
            opts=child,
        )
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[namespace])

        def meta(obj_name: str) -> ObjectMetaArgs:
            return ObjectMetaArgs(name=obj_name, namespace=ns_name, labels=tier_labels)

        total_cpu_m = sum(
            _millicores(s.tiers[tier].cpu) * s.tiers[tier].max_replicas for s in args.services
        )
        total_mem_mi = sum(
            _mebibytes(s.tiers[tier].memory) * s.tiers[tier].max_replicas for s in args.services
        )
        k8s.core.v1.ResourceQuota(
            f"{name}-quota",
            metadata=meta("codex-quota"),
            spec=ResourceQuotaSpecArgs(
                hard={
                    # Room for every service at its autoscaler maximum plus a rolling surge.
                    "requests.cpu": f"{int(total_cpu_m * 1.25)}m",
                    "limits.cpu": f"{int(total_cpu_m * 1.25)}m",
                    "requests.memory": f"{int(total_mem_mi * 1.25)}Mi",
                    "limits.memory": f"{int(total_mem_mi * 1.25)}Mi",
                    "pods": str(
                        int(sum(s.tiers[tier].max_replicas for s in args.services) * 1.25) + 2
                    ),
                    "services.loadbalancers": "0",
                    "services.nodeports": "0",
                }
            ),
            opts=in_ns,
        )
        k8s.core.v1.LimitRange(
            f"{name}-limits",
            metadata=meta("codex-limits"),
            spec=LimitRangeSpecArgs(
                limits=[
                    LimitRangeItemArgs(
                        type="Container",
                        default={"cpu": "250m", "memory": "256Mi"},
                        default_request={"cpu": "100m", "memory": "128Mi"},
                        max={"cpu": "4", "memory": "8Gi"},
                    )
                ]
            ),
            opts=in_ns,
        )
        # Default deny: nothing in or out unless a policy below allows it.
        k8s.networking.v1.NetworkPolicy(
            f"{name}-default-deny",
            metadata=meta("default-deny"),
            spec=NetworkPolicySpecArgs(
                pod_selector=LabelSelectorArgs(), policy_types=["Ingress", "Egress"]
            ),
            opts=in_ns,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-allow-dns",
            metadata=meta("allow-dns-egress"),
            spec=NetworkPolicySpecArgs(
                pod_selector=LabelSelectorArgs(),
                policy_types=["Egress"],
                egress=[
                    NetworkPolicyEgressRuleArgs(
                        to=[
                            NetworkPolicyPeerArgs(
                                namespace_selector=LabelSelectorArgs(
                                    match_labels={"kubernetes.io/metadata.name": SYSTEM_NAMESPACE}
                                ),
                                pod_selector=LabelSelectorArgs(
                                    match_labels={"k8s-app": "kube-dns"}
                                ),
                            )
                        ],
                        ports=[
                            NetworkPolicyPortArgs(protocol="UDP", port=53),
                            NetworkPolicyPortArgs(protocol="TCP", port=53),
                        ],
                    )
                ],
            ),
            opts=in_ns,
        )

        self.deployments = {}
        for service in args.services:
            workload = _Workload(
                name=f"{name}-{service.name}",
                tier=tier,
                namespace=ns_name,
                service=service,
                sizing=service.tiers[tier],
                routed=service.name == args.routed_service,
                target_group_arn=args.target_group_arn,
                vpc_cidr=args.vpc_cidr,
                tags=args.tags,
                opts=in_ns,
            )
            self.deployments[service.name] = workload.deployment_name

        self.namespace = namespace.metadata.apply(lambda m: m.name or ns_name)
        self.register_outputs({"namespace": self.namespace, "deployments": self.deployments})


class _Workload:
    """The objects of one service in one tier (a helper, not a component of its own)."""

    def __init__(
        self,
        *,
        name: str,
        tier: str,
        namespace: str,
        service: ServiceConfig,
        sizing: TierSizing,
        routed: bool,
        target_group_arn: pulumi.Input[str],
        vpc_cidr: str,
        tags: dict[str, str],
        opts: pulumi.ResourceOptions,
    ) -> None:
        labels = {
            **k8s_labels(service.name, tier, service.license),
            **{f"codex.dev/{k}": v for k, v in tags.items()},
        }
        selector = selector_labels(service.name, tier)

        def meta(obj_name: str) -> ObjectMetaArgs:
            return ObjectMetaArgs(name=obj_name, namespace=namespace, labels=labels)

        account = k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata=meta(service.name),
            automount_service_account_token=False,
            opts=opts,
        )
        health = HTTPGetActionArgs(path=service.health_path, port="http")
        container = ContainerArgs(
            name=service.name,
            image=service.image,
            image_pull_policy="Always",
            ports=[
                ContainerPortArgs(name="http", container_port=service.port, protocol="TCP"),
                ContainerPortArgs(
                    name="metrics", container_port=service.metrics_port, protocol="TCP"
                ),
            ],
            env=[
                EnvVarArgs(name="CODEX_TIER", value=tier),
                EnvVarArgs(name="CODEX_SERVICE", value=service.name),
            ],
            resources=ResourceRequirementsArgs(
                # Requests equal limits: Guaranteed QoS, so a noisy neighbour cannot starve a tier.
                requests={"cpu": sizing.cpu, "memory": sizing.memory},
                limits={"cpu": sizing.cpu, "memory": sizing.memory},
            ),
            startup_probe=ProbeArgs(
                http_get=health, period_seconds=2, failure_threshold=30, timeout_seconds=2
            ),
            readiness_probe=ProbeArgs(
                http_get=health, period_seconds=5, failure_threshold=2, timeout_seconds=2
            ),
            liveness_probe=ProbeArgs(
                http_get=health, period_seconds=10, failure_threshold=3, timeout_seconds=2
            ),
            security_context=SecurityContextArgs(
                privileged=False,
                allow_privilege_escalation=False,
                read_only_root_filesystem=True,
                run_as_non_root=True,
                run_as_user=RUN_AS_USER,
                run_as_group=RUN_AS_USER,
                capabilities=CapabilitiesArgs(drop=["ALL"]),
                seccomp_profile=SeccompProfileArgs(type="RuntimeDefault"),
            ),
            volume_mounts=[VolumeMountArgs(name="tmp", mount_path="/tmp")],
        )
        deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=meta(service.name),
            spec=DeploymentSpecArgs(
                replicas=sizing.replicas,
                selector=LabelSelectorArgs(match_labels=selector),
                strategy=DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=RollingUpdateDeploymentArgs(max_surge="25%", max_unavailable=0),
                ),
                template=PodTemplateSpecArgs(
                    metadata=ObjectMetaArgs(labels=labels),
                    spec=PodSpecArgs(
                        service_account_name=service.name,
                        automount_service_account_token=False,
                        security_context=PodSecurityContextArgs(
                            run_as_non_root=True,
                            run_as_user=RUN_AS_USER,
                            run_as_group=RUN_AS_USER,
                            fs_group=RUN_AS_USER,
                            seccomp_profile=SeccompProfileArgs(type="RuntimeDefault"),
                        ),
                        containers=[container],
                        volumes=[
                            VolumeArgs(
                                name="tmp", empty_dir=EmptyDirVolumeSourceArgs(size_limit="64Mi")
                            )
                        ],
                        topology_spread_constraints=[
                            TopologySpreadConstraintArgs(
                                max_skew=1,
                                topology_key="topology.kubernetes.io/zone",
                                when_unsatisfiable="ScheduleAnyway",
                                label_selector=LabelSelectorArgs(match_labels=selector),
                            ),
                            TopologySpreadConstraintArgs(
                                max_skew=1,
                                topology_key="kubernetes.io/hostname",
                                when_unsatisfiable="ScheduleAnyway",
                                label_selector=LabelSelectorArgs(match_labels=selector),
                            ),
                        ],
                        termination_grace_period_seconds=30,
                    ),
                ),
            ),
            # The autoscaler owns the replica count after creation; a re-apply must not scale
            # a busy tier back down to its minimum.
            opts=pulumi.ResourceOptions.merge(
                opts,
                pulumi.ResourceOptions(depends_on=[account], ignore_changes=["spec.replicas"]),
            ),
        )
        k8s.core.v1.Service(
            f"{name}-service",
            metadata=meta(service.name),
            spec=ServiceSpecArgs(
                type="ClusterIP",
                selector=selector,
                ports=[
                    ServicePortArgs(name="http", port=service.port, target_port="http"),
                    ServicePortArgs(
                        name="metrics", port=service.metrics_port, target_port="metrics"
                    ),
                ],
            ),
            opts=opts,
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=meta(service.name),
            spec=PodDisruptionBudgetSpecArgs(
                max_unavailable=1, selector=LabelSelectorArgs(match_labels=selector)
            ),
            opts=opts,
        )
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-hpa",
            metadata=meta(service.name),
            spec=HorizontalPodAutoscalerSpecArgs(
                scale_target_ref=CrossVersionObjectReferenceArgs(
                    api_version="apps/v1", kind="Deployment", name=service.name
                ),
                min_replicas=sizing.replicas,
                max_replicas=sizing.max_replicas,
                metrics=[
                    MetricSpecArgs(
                        type="Resource",
                        resource=ResourceMetricSourceArgs(
                            name="cpu",
                            target=MetricTargetArgs(type="Utilization", average_utilization=70),
                        ),
                    )
                ],
            ),
            opts=pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(depends_on=[deployment])
            ),
        )
        pod_selector = LabelSelectorArgs(match_labels=selector)
        ingress = [
            # Prometheus in the monitoring namespace scrapes the metrics port.
            NetworkPolicyIngressRuleArgs(
                from_=[
                    NetworkPolicyPeerArgs(
                        namespace_selector=LabelSelectorArgs(
                            match_labels={"kubernetes.io/metadata.name": MONITORING_NAMESPACE}
                        )
                    )
                ],
                ports=[NetworkPolicyPortArgs(protocol="TCP", port=service.metrics_port)],
            )
        ]
        if routed:
            # The ALB sends traffic straight to pod IPs (IP targets) from inside the VPC.
            ingress.append(
                NetworkPolicyIngressRuleArgs(
                    from_=[NetworkPolicyPeerArgs(ip_block=IPBlockArgs(cidr=vpc_cidr))],
                    ports=[NetworkPolicyPortArgs(protocol="TCP", port=service.port)],
                )
            )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-ingress",
            metadata=meta(f"{service.name}-ingress"),
            spec=NetworkPolicySpecArgs(
                pod_selector=pod_selector, policy_types=["Ingress"], ingress=ingress
            ),
            opts=opts,
        )
        if service.egress:
            k8s.networking.v1.NetworkPolicy(
                f"{name}-egress",
                metadata=meta(f"{service.name}-egress"),
                spec=NetworkPolicySpecArgs(
                    pod_selector=pod_selector,
                    policy_types=["Egress"],
                    egress=[
                        NetworkPolicyEgressRuleArgs(
                            to=[NetworkPolicyPeerArgs(ip_block=IPBlockArgs(cidr=rule.cidr))],
                            ports=[NetworkPolicyPortArgs(protocol="TCP", port=rule.port)],
                        )
                        for rule in service.egress
                    ],
                ),
                opts=opts,
            )
        if routed:
            k8s.apiextensions.CustomResource(
                f"{name}-tgb",
                api_version="elbv2.k8s.aws/v1beta1",
                kind="TargetGroupBinding",
                metadata=meta(service.name),
                spec={
                    "serviceRef": {"name": service.name, "port": service.port},
                    "targetGroupARN": target_group_arn,
                    "targetType": "ip",
                },
                opts=opts,
            )
        self.deployment_name: pulumi.Output[str] = deployment.metadata.apply(
            lambda m: m.name or service.name
        )


def _millicores(quantity: str) -> int:
    return int(quantity[:-1]) if quantity.endswith("m") else int(float(quantity) * 1000)


def _mebibytes(quantity: str) -> int:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 1024 * 1024}
    return int(int(quantity[:-2]) * units[quantity[-2:]])
