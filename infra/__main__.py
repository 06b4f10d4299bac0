"""The codex-rollout stack program: config -> this week's schedule -> components -> exports."""

import pulumi
import pulumi_kubernetes as k8s

from components.environment import Environment, EnvironmentArgs
from components.lb_controller import LoadBalancerController, LoadBalancerControllerArgs
from components.routing import TierTarget, WeightedRouting, WeightedRoutingArgs
from infra.config import ConfigError, load_from_engine
from infra.schedule import DEFAULT_PLAN, tiers_with_environment, week_plan

# -- config and this week's decisions -------------------------------------------------------------
try:
    config = load_from_engine()
except ConfigError as err:
    raise pulumi.RunError(str(err)) from None

stack = pulumi.get_stack()
plan = config.schedule() or DEFAULT_PLAN
this_week = week_plan(config.rollout.week, plan)
tiers = tiers_with_environment(config.rollout.week, plan)
allocation = this_week.allocation
tags = config.tags.as_dict()
routed = config.routed_service
account_id = config.cluster.oidc_provider_arn.split(":")[4]

# -- components -----------------------------------------------------------------------------------
cluster = k8s.Provider(
    "cluster",
    kubeconfig=pulumi.Output.secret(config.cluster.kubeconfig.get_secret_value()),
    enable_server_side_apply=True,
)
in_cluster = pulumi.ResourceOptions(providers=[cluster])

controller = LoadBalancerController(
    "lb-controller",
    LoadBalancerControllerArgs(
        cluster_name=config.cluster.name,
        region=config.region,
        account_id=account_id,
        vpc_id=config.network.vpc_id,
        oidc_provider_arn=config.cluster.oidc_provider_arn,
        oidc_issuer=config.cluster.oidc_issuer,
        target_group_name_prefix="codex-",
        tags=tags,
    ),
    opts=in_cluster,
)

routing = WeightedRouting(
    "codex",
    WeightedRoutingArgs(
        weights=allocation.as_dict(),
        targets=[TierTarget(t, routed.port, routed.health_path) for t in tiers],
        stack=stack,
        region=config.region,
        hostname=config.routing.hostname,
        zone_id=config.routing.zone_id,
        certificate_arn=config.routing.certificate_arn,
        ssl_policy=config.routing.ssl_policy,
        vpc_id=config.network.vpc_id,
        vpc_cidr=config.network.vpc_cidr,
        subnet_ids=config.network.public_subnet_ids,
        deletion_protection=config.routing.deletion_protection,
        access_log_retention_days=config.routing.access_log_retention_days,
        deregistration_delay_seconds=config.routing.deregistration_delay_seconds,
        tags=tags,
    ),
)

environments = {
    tier: Environment(
        f"env-{tier}",
        EnvironmentArgs(
            tier=tier,
            services=config.services,
            routed_service=routed.name,
            target_group_arn=routing.target_group_arns[tier],
            vpc_cidr=config.network.vpc_cidr,
            tags=tags,
        ),
        opts=pulumi.ResourceOptions(providers=[cluster], depends_on=[controller]),
    )
    for tier in tiers
}

# -- exports --------------------------------------------------------------------------------------
pulumi.export("week", this_week.week)
pulumi.export("phase", this_week.phase)
pulumi.export("allocation", routing.allocation)
pulumi.export("scheduledAllocation", this_week.allocation.as_dict())
pulumi.export("tiers", list(tiers))
pulumi.export("albDnsName", routing.dns_name)
pulumi.export("listenerArn", routing.listener_arn)
pulumi.export("targetGroupArns", routing.target_group_arns)
pulumi.export("namespaces", {tier: env.namespace for tier, env in environments.items()})
