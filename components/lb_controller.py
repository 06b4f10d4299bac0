"""LoadBalancerController: the AWS Load Balancer Controller, which TargetGroupBinding needs.

Installed from its Helm chart at a pinned version, with an IRSA role whose policy only allows
what target-group bindings use: reading load balancer and network state, registering pod IPs
in this stack's target groups, and opening the pods' security groups to the ALB.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.helm.v3 import RepositoryOptsArgs

from components.iam import ClusterIdentity, ServiceAccountIdentity, irsa_role

CHART_REPOSITORY = "https://aws.github.io/eks-charts"
CHART = "aws-load-balancer-controller"
CHART_VERSION = "1.13.0"
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "aws-load-balancer-controller"

_READ_ACTIONS = [
    "ec2:DescribeAvailabilityZones",
    "ec2:DescribeInstances",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeTargetGroupAttributes",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetHealth",
]


@dataclass(frozen=True)
class LoadBalancerControllerArgs:
    """Inputs of the controller installation."""

    cluster: ClusterIdentity
    region: str
    account_id: str
    vpc_id: str
    target_group_name_prefix: str
    """Names of the target groups the controller registers pods in start with this (routing's
    own prefix); its write permissions are scoped to them."""
    tags: dict[str, str]


def controller_policy(args: LoadBalancerControllerArgs) -> str:
    """The controller's IAM policy: read-only on "*", writes scoped to this stack's groups."""
    target_groups = (
        f"arn:aws:elasticloadbalancing:{args.region}:{args.account_id}"
        f":targetgroup/{args.target_group_name_prefix}*/*"
    )
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "Read", "Effect": "Allow", "Action": _READ_ACTIONS, "Resource": "*"},
                {
                    "Sid": "RegisterPods",
                    "Effect": "Allow",
                    "Action": [
                        "elasticloadbalancing:RegisterTargets",
                        "elasticloadbalancing:DeregisterTargets",
                    ],
                    "Resource": target_groups,
                },
                {
                    "Sid": "OpenPodSecurityGroups",
                    "Effect": "Allow",
                    "Action": [
                        "ec2:AuthorizeSecurityGroupIngress",
                        "ec2:RevokeSecurityGroupIngress",
                    ],
                    "Resource": f"arn:aws:ec2:{args.region}:{args.account_id}:security-group/*",
                    "Condition": {
                        "StringEquals": {
                            "ec2:Vpc": (
                                f"arn:aws:ec2:{args.region}:{args.account_id}:vpc/{args.vpc_id}"
                            )
                        }
                    },
                },
            ],
        }
    )


class LoadBalancerController(pulumi.ComponentResource):
    """AWS Load Balancer Controller (Helm) with its IRSA role."""

    role_arn: pulumi.Output[str]
    """ARN of the controller's IAM role."""
    release_status: pulumi.Output[str]
    """Status of the Helm release."""

    def __init__(
        self,
        name: str,
        args: LoadBalancerControllerArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("codex:cluster:LoadBalancerController", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        role = irsa_role(
            f"{name}-role",
            f"{name}-policy",
            description="IRSA role of the AWS Load Balancer Controller",
            identity=ServiceAccountIdentity(
                args.cluster.oidc_provider_arn, args.cluster.oidc_issuer, NAMESPACE, SERVICE_ACCOUNT
            ),
            policy=controller_policy(args),
            tags=args.tags,
            opts=child,
        )
        release = k8s.helm.v3.Release(
            f"{name}-release",
            name=CHART,
            chart=CHART,
            version=CHART_VERSION,
            namespace=NAMESPACE,
            repository_opts=RepositoryOptsArgs(repo=CHART_REPOSITORY),
            atomic=True,
            cleanup_on_fail=True,
            values={
                "clusterName": args.cluster.name,
                "region": args.region,
                "vpcId": args.vpc_id,
                "replicaCount": 2,
                "serviceAccount": {
                    "create": True,
                    "name": SERVICE_ACCOUNT,
                    "annotations": {"eks.amazonaws.com/role-arn": role.arn},
                },
                # Only TargetGroupBinding is used; the controller must not provision ALBs of
                # its own from Ingress or Service objects.
                "enableServiceMutatorWebhook": False,
                "podLabels": {
                    "app.kubernetes.io/part-of": "codex",
                    "codex.dev/tier": "shared",
                    "codex.dev/license": "Apache-2.0",
                },
            },
            opts=child,
        )
        self.role_arn = role.arn
        self.release_status = release.status.apply(lambda s: s.status)
        self.register_outputs({"roleArn": self.role_arn})
