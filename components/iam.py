"""IAM documents shared by the components."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


def irsa_trust_policy(
    oidc_provider_arn: str, oidc_issuer: str, namespace: str, service_account: str
) -> str:
    """Trust policy letting exactly one Kubernetes service account assume a role (IRSA)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": oidc_provider_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            f"{oidc_issuer}:sub": (
                                f"system:serviceaccount:{namespace}:{service_account}"
                            ),
                            f"{oidc_issuer}:aud": "sts.amazonaws.com",
                        }
                    },
                }
            ],
        }
    )


@dataclass(frozen=True)
class ClusterIdentity:
    """The EKS cluster and its IAM OIDC provider, which IRSA roles trust."""

    name: str
    oidc_provider_arn: str
    oidc_issuer: str


@dataclass(frozen=True)
class ServiceAccountIdentity:
    """The Kubernetes service account an IRSA role is for, and the cluster's OIDC provider."""

    oidc_provider_arn: str
    oidc_issuer: str
    namespace: str
    service_account: str


def irsa_role(
    role_name: str,
    policy_name: str,
    *,
    description: str,
    identity: ServiceAccountIdentity,
    policy: pulumi.Input[str],
    tags: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> aws.iam.Role:
    """An IAM role only `identity` can assume, with `policy` as its one inline policy."""
    role = aws.iam.Role(
        role_name,
        description=description,
        assume_role_policy=irsa_trust_policy(
            identity.oidc_provider_arn,
            identity.oidc_issuer,
            identity.namespace,
            identity.service_account,
        ),
        max_session_duration=3600,
        tags=tags,
        opts=opts,
    )
    aws.iam.RolePolicy(policy_name, role=role.id, policy=policy, opts=opts)
    return role
