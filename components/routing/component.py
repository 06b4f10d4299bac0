"""WeightedRouting: the public ALB that splits traffic between the tiers by this week's weights.

One internet-facing ALB per stack, an HTTPS listener that forwards to one target group per tier
with the week's allocation as weights, an HTTP listener that only redirects, access logs to a
locked-down bucket, a WAF web ACL, and the Route 53 alias for the public hostname.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
from pulumi_aws.lb import (
    ListenerDefaultActionArgs,
    ListenerDefaultActionForwardArgs,
    ListenerDefaultActionForwardStickinessArgs,
    ListenerDefaultActionForwardTargetGroupArgs,
    ListenerDefaultActionRedirectArgs,
    LoadBalancerAccessLogsArgs,
    TargetGroupHealthCheckArgs,
)
from pulumi_aws.route53 import RecordAliasArgs
from pulumi_aws.s3 import (
    BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs,
    BucketLifecycleConfigurationRuleArgs,
    BucketLifecycleConfigurationRuleExpirationArgs,
    BucketLifecycleConfigurationRuleFilterArgs,
    BucketOwnershipControlsRuleArgs,
    BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs,
    BucketServerSideEncryptionConfigurationRuleArgs,
)
from pulumi_aws.wafv2 import (
    WebAclDefaultActionAllowArgs,
    WebAclDefaultActionArgs,
    WebAclRuleArgs,
    WebAclRuleOverrideActionArgs,
    WebAclRuleOverrideActionNoneArgs,
    WebAclRuleStatementArgs,
    WebAclRuleStatementManagedRuleGroupStatementArgs,
    WebAclRuleVisibilityConfigArgs,
    WebAclVisibilityConfigArgs,
)

from components.labels import short_name
from rollout_rules.contract import (
    NAME_PREFIX,
    PURPOSE_ALB_LOGS,
    PURPOSE_ROLLOUT_LISTENER,
    PURPOSE_TAG,
    TARGET_GROUP_NAME_PREFIX,
    TIER_TAG,
)


def target_group_name(tier: str, stack: str) -> str:
    """`codex-<tier>-<stack>`: always starts with TARGET_GROUP_NAME_PREFIX, which scopes the LB
    controller's IAM permissions to these groups (a rename that broke it would fail here)."""
    name = short_name(NAME_PREFIX, tier, stack)
    if not name.startswith(TARGET_GROUP_NAME_PREFIX):  # pragma: no cover - a broken rename
        raise ValueError(f"target group name {name!r} lacks {TARGET_GROUP_NAME_PREFIX!r}")
    return name


# Health checks: a tier is out after 3 consecutive failures 10 s apart (30 s), back after 2.
HEALTH_CHECK_INTERVAL_SECONDS = 10
HEALTH_CHECK_UNHEALTHY_THRESHOLD = 3
HEALTH_CHECK_HEALTHY_THRESHOLD = 2

# AWS managed rule groups on the web ACL, in evaluation order.
MANAGED_RULE_GROUPS = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesAmazonIpReputationList",
)

# Regions opened before August 2022 deliver ALB access logs as the regional ELB account;
# newer regions use the log-delivery service principal (Elastic Load Balancing user guide).
ELB_LOG_ACCOUNTS = {
    "eu-west-1": "156460612806",
    "eu-west-2": "652711504416",
    "eu-west-3": "009996457667",
    "eu-central-1": "054676820928",
    "eu-north-1": "897822967062",
    "eu-south-1": "635631232127",
    "us-east-1": "127311923021",
    "us-west-2": "797873946194",
}


@dataclass(frozen=True)
class TierTarget:
    """A tier that has an environment, and the port/health path its target group checks."""

    tier: str
    port: int
    health_path: str


@dataclass(frozen=True)
class WeightedRoutingArgs:
    """Inputs of the routing component."""

    weights: dict[str, int]
    targets: list[TierTarget]
    stack: str
    region: str
    hostname: str
    zone_id: str
    certificate_arn: str
    ssl_policy: str
    vpc_id: str
    vpc_cidr: str
    subnet_ids: list[str]
    deletion_protection: bool
    access_log_retention_days: int
    deregistration_delay_seconds: int
    tags: dict[str, str]


class WeightedRouting(pulumi.ComponentResource):
    """Internet-facing ALB whose HTTPS listener splits traffic between the tiers by weight."""

    dns_name: pulumi.Output[str]
    """DNS name of the ALB."""
    load_balancer_arn_suffix: pulumi.Output[str]
    """ARN suffix of the ALB (the CloudWatch LoadBalancer dimension)."""
    listener_arn: pulumi.Output[str]
    """ARN of the HTTPS listener whose weights the rollback function moves."""
    target_group_arns: dict[str, pulumi.Output[str]]
    """Target group ARN per tier that has an environment."""
    target_group_arn_suffixes: dict[str, pulumi.Output[str]]
    """Target group ARN suffix per tier (the CloudWatch TargetGroup dimension)."""
    allocation: dict[str, int]
    """The weights the listener declares."""

    def __init__(
        self, name: str, args: WeightedRoutingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("codex:routing:WeightedRouting", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = args.tags

        sg = aws.ec2.SecurityGroup(
            f"{name}-alb-sg",
            description="Public HTTPS entry of the coding system (80 only redirects)",
            vpc_id=args.vpc_id,
            tags={**tags, "Name": f"{name}-alb"},
            opts=child,
        )
        for port, why in ((443, "HTTPS from the internet"), (80, "HTTP, redirected to HTTPS")):
            for family, cidr in (("v4", "0.0.0.0/0"), ("v6", "::/0")):
                aws.vpc.SecurityGroupIngressRule(
                    f"{name}-alb-in-{port}-{family}",
                    security_group_id=sg.id,
                    ip_protocol="tcp",
                    from_port=port,
                    to_port=port,
                    cidr_ipv4=cidr if family == "v4" else None,
                    cidr_ipv6=cidr if family == "v6" else None,
                    description=why,
                    tags=tags,
                    opts=child,
                )
        # The ALB only talks to targets inside the VPC (pod IPs).
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-alb-out-vpc",
            security_group_id=sg.id,
            ip_protocol="tcp",
            from_port=1024,
            to_port=65535,
            cidr_ipv4=args.vpc_cidr,
            description="To targets in the VPC",
            tags=tags,
            opts=child,
        )

        logs = self._access_log_bucket(name, args, child)

        lb = aws.lb.LoadBalancer(
            f"{name}-alb",
            name=short_name(NAME_PREFIX, args.stack),
            load_balancer_type="application",
            internal=False,
            security_groups=[sg.id],
            subnets=args.subnet_ids,
            drop_invalid_header_fields=True,
            enable_deletion_protection=args.deletion_protection,
            enable_http2=True,
            idle_timeout=60,
            access_logs=LoadBalancerAccessLogsArgs(bucket=logs.bucket, prefix="alb", enabled=True),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[logs.policy]),
        )

        self.target_group_arns = {}
        self.target_group_arn_suffixes = {}
        groups: dict[str, aws.lb.TargetGroup] = {}
        for target in args.targets:
            group = aws.lb.TargetGroup(
                f"{name}-tg-{target.tier}",
                name=target_group_name(target.tier, args.stack),
                target_type="ip",
                port=target.port,
                protocol="HTTP",
                vpc_id=args.vpc_id,
                deregistration_delay=args.deregistration_delay_seconds,
                health_check=TargetGroupHealthCheckArgs(
                    enabled=True,
                    path=target.health_path,
                    port="traffic-port",
                    protocol="HTTP",
                    matcher="200",
                    interval=HEALTH_CHECK_INTERVAL_SECONDS,
                    timeout=5,
                    unhealthy_threshold=HEALTH_CHECK_UNHEALTHY_THRESHOLD,
                    healthy_threshold=HEALTH_CHECK_HEALTHY_THRESHOLD,
                ),
                tags={**tags, TIER_TAG: target.tier},
                opts=child,
            )
            groups[target.tier] = group
            self.target_group_arns[target.tier] = group.arn
            self.target_group_arn_suffixes[target.tier] = group.arn_suffix

        weights = {tier: args.weights.get(tier, 0) for tier in groups}
        listener = aws.lb.Listener(
            f"{name}-https",
            load_balancer_arn=lb.arn,
            port=443,
            protocol="HTTPS",
            ssl_policy=args.ssl_policy,
            certificate_arn=args.certificate_arn,
            default_actions=[
                ListenerDefaultActionArgs(
                    type="forward",
                    forward=ListenerDefaultActionForwardArgs(
                        target_groups=[
                            ListenerDefaultActionForwardTargetGroupArgs(
                                arn=group.arn, weight=weights[tier]
                            )
                            for tier, group in groups.items()
                        ],
                        # Stickiness stays off: a weight change (a new week, or a rollback)
                        # must move traffic at once, not when sticky sessions expire.
                        stickiness=ListenerDefaultActionForwardStickinessArgs(
                            enabled=False, duration=1
                        ),
                    ),
                )
            ],
            # The rollout policies and tools find the rollout's own listener by this tag.
            tags={**tags, PURPOSE_TAG: PURPOSE_ROLLOUT_LISTENER},
            opts=child,
        )
        aws.lb.Listener(
            f"{name}-http",
            load_balancer_arn=lb.arn,
            port=80,
            protocol="HTTP",
            default_actions=[
                ListenerDefaultActionArgs(
                    type="redirect",
                    redirect=ListenerDefaultActionRedirectArgs(
                        protocol="HTTPS", port="443", status_code="HTTP_301"
                    ),
                )
            ],
            tags=tags,
            opts=child,
        )

        acl = aws.wafv2.WebAcl(
            f"{name}-waf",
            scope="REGIONAL",
            description="Managed protections in front of the coding system",
            default_action=WebAclDefaultActionArgs(allow=WebAclDefaultActionAllowArgs()),
            rules=[
                WebAclRuleArgs(
                    name=group_name,
                    priority=index,
                    override_action=WebAclRuleOverrideActionArgs(
                        none=WebAclRuleOverrideActionNoneArgs()
                    ),
                    statement=WebAclRuleStatementArgs(
                        managed_rule_group_statement=WebAclRuleStatementManagedRuleGroupStatementArgs(
                            name=group_name, vendor_name="AWS"
                        )
                    ),
                    visibility_config=WebAclRuleVisibilityConfigArgs(
                        cloudwatch_metrics_enabled=True,
                        metric_name=group_name,
                        sampled_requests_enabled=True,
                    ),
                )
                for index, group_name in enumerate(MANAGED_RULE_GROUPS)
            ],
            visibility_config=WebAclVisibilityConfigArgs(
                cloudwatch_metrics_enabled=True,
                metric_name=f"{NAME_PREFIX}-{args.stack}",
                sampled_requests_enabled=True,
            ),
            tags=tags,
            opts=child,
        )
        aws.wafv2.WebAclAssociation(
            f"{name}-waf-alb", resource_arn=lb.arn, web_acl_arn=acl.arn, opts=child
        )
        aws.route53.Record(
            f"{name}-dns",
            zone_id=args.zone_id,
            name=args.hostname,
            type="A",
            aliases=[
                RecordAliasArgs(name=lb.dns_name, zone_id=lb.zone_id, evaluate_target_health=True)
            ],
            opts=child,
        )

        self.dns_name = lb.dns_name
        self.load_balancer_arn_suffix = lb.arn_suffix
        self.listener_arn = listener.arn
        self.allocation = weights
        self.register_outputs(
            {
                "dnsName": self.dns_name,
                "listenerArn": self.listener_arn,
                "targetGroupArns": self.target_group_arns,
                "allocation": self.allocation,
            }
        )

    def _access_log_bucket(
        self, name: str, args: WeightedRoutingArgs, child: pulumi.ResourceOptions
    ) -> _LogBucket:
        bucket = aws.s3.Bucket(
            f"{name}-access-logs",
            force_destroy=False,
            tags={**args.tags, PURPOSE_TAG: PURPOSE_ALB_LOGS},
            opts=child,
        )
        aws.s3.BucketPublicAccessBlock(
            f"{name}-access-logs-pab",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-access-logs-ownership",
            bucket=bucket.id,
            rule=BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        # ALB access logs can only be delivered to buckets encrypted with S3-managed keys
        # (SSE-S3); SSE-KMS is not supported by the log delivery.
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-access-logs-sse",
            bucket=bucket.id,
            rules=[
                BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=(
                        BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                            sse_algorithm="AES256"
                        )
                    )
                )
            ],
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-access-logs-lifecycle",
            bucket=bucket.id,
            rules=[
                BucketLifecycleConfigurationRuleArgs(
                    id="expire-access-logs",
                    status="Enabled",
                    filter=BucketLifecycleConfigurationRuleFilterArgs(prefix="alb/"),
                    expiration=BucketLifecycleConfigurationRuleExpirationArgs(
                        days=args.access_log_retention_days
                    ),
                    abort_incomplete_multipart_upload=(
                        BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                            days_after_initiation=1
                        )
                    ),
                )
            ],
            opts=child,
        )
        writer = (
            {"AWS": f"arn:aws:iam::{ELB_LOG_ACCOUNTS[args.region]}:root"}
            if args.region in ELB_LOG_ACCOUNTS
            else {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}
        )
        policy = aws.s3.BucketPolicy(
            f"{name}-access-logs-policy",
            bucket=bucket.id,
            policy=bucket.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "AlbAccessLogDelivery",
                                "Effect": "Allow",
                                "Principal": writer,
                                "Action": "s3:PutObject",
                                "Resource": f"{arn}/alb/AWSLogs/*",
                            },
                            {
                                "Sid": "DenyInsecureTransport",
                                "Effect": "Deny",
                                "Principal": "*",
                                "Action": "s3:*",
                                "Resource": [arn, f"{arn}/*"],
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            },
                        ],
                    }
                )
            ),
            opts=child,
        )
        return _LogBucket(bucket=bucket.bucket, policy=policy)


@dataclass(frozen=True)
class _LogBucket:
    bucket: pulumi.Output[str]
    policy: aws.s3.BucketPolicy
