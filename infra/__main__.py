"""The codex-rollout stack program: config -> this week's schedule -> components -> exports."""

from rollout_rules.runtime import tune_gc

tune_gc()  # before the SDKs load: see rollout_rules/runtime.py

import pulumi
import pulumi_kubernetes as k8s

from components.admission.component import Admission, AdmissionArgs
from components.environment.component import Environment, EnvironmentArgs
from components.iam import ClusterIdentity
from components.lb_controller import LoadBalancerController, LoadBalancerControllerArgs
from components.observability.charts import SERVICE_SCRAPE_INTERVAL
from components.observability.component import Observability, ObservabilityArgs
from components.rollback.component import Rollback, RollbackArgs
from components.routing.component import (
    HEALTH_CHECK_INTERVAL_SECONDS,
    HEALTH_CHECK_UNHEALTHY_THRESHOLD,
    TARGET_GROUP_NAME_PREFIX,
    TierTarget,
    WeightedRouting,
    WeightedRoutingArgs,
)
from infra.config import ConfigError, load_from_engine
from infra.ledger import declared_allocation
from rollout_rules.contract import ledger_parameter_name
from rollout_rules.plan import tiers_with_environment, week_plan
from rollout_rules.rollback import alarm_min_requests, rollback_plan

# -- config and this week's decisions -------------------------------------------------------------
try:
    config = load_from_engine()
except ConfigError as err:
    raise pulumi.RunError(str(err)) from None

stack = pulumi.get_stack()
plan = config.schedule()
this_week = week_plan(config.rollout.week, plan)
tiers = tiers_with_environment(config.rollout.week, plan)
try:
    # While a rollback is held the ledger's allocation wins, and the preview says why.
    allocation = declared_allocation(stack, this_week.allocation, tiers)
except ConfigError as err:  # a LedgerError: the ledger cannot be trusted
    raise pulumi.RunError(str(err)) from None
tags = config.tags.as_dict()
routed = config.routed_service
account_id = config.account_id
cluster_identity = ClusterIdentity(
    config.cluster.name, config.cluster.oidc_provider_arn, config.cluster.oidc_issuer
)

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
        cluster=cluster_identity,
        region=config.region,
        account_id=account_id,
        vpc_id=config.network.vpc_id,
        target_group_name_prefix=TARGET_GROUP_NAME_PREFIX,
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

rollback = Rollback(
    "rollback",
    RollbackArgs(
        stack=stack,
        region=config.region,
        account_id=account_id,
        plan=rollback_plan(
            config.rollout.week,
            tiers,
            plan,
            config.rollback.budget_inputs(
                prometheus_evaluation_interval=config.observability.evaluation_interval,
                prometheus_scrape_interval=SERVICE_SCRAPE_INTERVAL,
                health_check_interval=HEALTH_CHECK_INTERVAL_SECONDS,
                health_check_unhealthy_threshold=HEALTH_CHECK_UNHEALTHY_THRESHOLD,
            ),
        ),
        ledger_parameter_name=ledger_parameter_name(stack),
        runbook_base_url=config.observability.runbook_base_url(),
        listener_arn=routing.listener_arn,
        load_balancer_arn_suffix=routing.load_balancer_arn_suffix,
        target_group_arns=routing.target_group_arns,
        target_group_arn_suffixes=routing.target_group_arn_suffixes,
        tags=tags,
        deletion_protection=config.routing.deletion_protection,
        log_retention_days=config.rollback.log_retention_days,
        reserved_concurrency=config.rollback.reserved_concurrency,
        alarm_period_seconds=config.rollback.alarm_period_seconds,
        alarm_evaluation_periods=config.rollback.alarm_evaluation_periods,
        error_rate_threshold=config.observability.thresholds.error_rate,
        latency_p95_seconds=config.observability.thresholds.latency_p95_seconds,
        min_requests_per_period=alarm_min_requests(
            config.observability.thresholds.min_request_rate, config.rollback.alarm_period_seconds
        ),
        notify_emails=config.alerting.email.to,
    ),
)

# Enforcement second: Gatekeeper and every tier's constraints from week 1, each tier's in dryrun
# until its deny week (config; by default the week before the tier first takes traffic).
admission = Admission(
    "admission",
    AdmissionArgs(settings=config.admission, week=this_week.week, deny_from=config.deny_weeks()),
    opts=in_cluster,
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

observability = Observability(
    "observability",
    ObservabilityArgs(
        services=config.services,
        routed_service=routed.name,
        settings=config.observability,
        alerting=config.alerting,
        cluster=cluster_identity,
        region=config.region,
        week=this_week,
        tags=tags,
        tiers=tiers,
        tier_namespaces={tier: env.namespace for tier, env in environments.items()},
        rollback_topic_arn=rollback.topic_arn,
        rollback_topic_kms_key_arn=rollback.key_arn,
    ),
    opts=pulumi.ResourceOptions(providers=[cluster]),
)

# -- exports --------------------------------------------------------------------------------------
pulumi.export("week", this_week.week)
pulumi.export("phase", this_week.phase)
pulumi.export("allocation", routing.allocation)
pulumi.export("scheduledAllocation", this_week.allocation.as_dict())
pulumi.export("tiers", list(tiers))
pulumi.export("albDnsName", routing.dns_name)
pulumi.export("listenerArn", routing.listener_arn)
pulumi.export("targetGroupArns", routing.target_group_arns)
pulumi.export(
    "rollback",
    {
        "topicArn": rollback.topic_arn,
        "notifyTopicArn": rollback.notify_topic_arn,
        "functionName": rollback.function_name,
        "ledgerParameterName": rollback.ledger_parameter_name,
        "auditTableName": rollback.audit_table_name,
        "budget": rollback.budget,
        "environment": rollback.environment,
    },
)
pulumi.export(
    "admission",
    {
        "namespace": admission.namespace,
        "enforcement": admission.enforcement,
        "templates": admission.templates,
    },
)
pulumi.export("namespaces", {tier: env.namespace for tier, env in environments.items()})
pulumi.export(
    "observability",
    {
        "namespace": observability.namespace,
        "pushgatewayUrl": observability.pushgateway_url,
        "dashboards": observability.dashboard_uids,
        "grafanaRoleArn": observability.grafana_role_arn,
        "alertmanagerRoleArn": observability.alertmanager_role_arn,
        "rollbackAlerts": observability.rollback_alerts,
    },
)
