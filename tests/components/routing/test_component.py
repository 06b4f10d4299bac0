"""WeightedRouting: the listener forwards with exactly this week's weights, safely configured."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from rollout_cli.offline import PlanResult
from rollout_rules.plan import week_plan
from tests.conftest import STACKS, WEEKS, DesignTable

TIERS = ("sandbox", "canary", "production")
FIRST_TRAFFIC = {"sandbox": 1, "canary": 5, "production": 8}


def _https(result: PlanResult) -> dict:
    listeners = [r for r in result.by_type("aws:lb/listener:Listener") if r.inputs["port"] == 443]
    assert len(listeners) == 1
    return listeners[0].inputs


def _groups(result: PlanResult) -> dict[str, dict]:
    return {
        r.inputs["tags"]["tier"]: r.outputs | {"inputs": r.inputs}
        for r in result.by_type("aws:lb/targetGroup:TargetGroup")
    }


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("week", WEEKS)
def test_listener_forwards_with_this_weeks_weights(
    plan: Callable[..., PlanResult], stack: str, week: int, design_table: DesignTable
) -> None:
    result = plan(stack, week)
    groups = _groups(result)
    forward = _https(result)["defaultActions"][0]["forward"]
    weights = {
        next(t for t, g in groups.items() if g["arn"] == tg["arn"]): tg["weight"]
        for tg in forward["targetGroups"]
    }
    expected = dict(zip(TIERS, design_table[week][1], strict=True))
    # Tiers with an environment appear with exactly the week's weight ...
    assert weights == {t: w for t, w in expected.items() if t in weights}
    # ... and exactly the tiers whose environment exists (from one week before traffic).
    assert set(weights) == {t for t in TIERS if week >= FIRST_TRAFFIC[t] - 1}
    assert sum(weights.values()) == 100
    assert forward["stickiness"]["enabled"] is False


@pytest.mark.parametrize("stack", STACKS)
def test_target_group_health_checks(plan: Callable[..., PlanResult], stack: str) -> None:
    groups = _groups(plan(stack, 12))
    assert set(groups) == set(TIERS)
    for tier, group in groups.items():
        check = group["inputs"]["healthCheck"]
        assert check["interval"] <= 10
        assert check["unhealthyThreshold"] == 3
        assert check["healthyThreshold"] == 2
        assert check["path"] == "/healthz"
        assert group["inputs"]["targetType"] == "ip"
        assert tier in group["inputs"]["name"]
        assert group["inputs"]["deregistrationDelay"] <= 30


@pytest.mark.parametrize("stack", STACKS)
def test_http_listener_only_redirects(plan: Callable[..., PlanResult], stack: str) -> None:
    result = plan(stack)
    http = [r for r in result.by_type("aws:lb/listener:Listener") if r.inputs["port"] == 80]
    assert len(http) == 1
    (action,) = http[0].inputs["defaultActions"]
    assert action["type"] == "redirect"
    assert action["redirect"]["protocol"] == "HTTPS"
    https = _https(result)
    assert https["protocol"] == "HTTPS"
    assert https["sslPolicy"].startswith("ELBSecurityPolicy-TLS13-1-2")
    assert https["certificateArn"] == result.config.routing.certificate_arn


@pytest.mark.parametrize("stack", STACKS)
def test_load_balancer_settings(plan: Callable[..., PlanResult], stack: str) -> None:
    result = plan(stack)
    (alb,) = result.by_type("aws:lb/loadBalancer:LoadBalancer")
    inputs = alb.inputs
    assert inputs["internal"] is False
    assert len(inputs["subnets"]) >= 2
    assert inputs["dropInvalidHeaderFields"] is True
    assert inputs["accessLogs"]["enabled"] is True
    assert inputs["enableDeletionProtection"] is result.config.routing.deletion_protection
    assert inputs["tags"] == result.config.tags.as_dict()


def test_deletion_protection_is_on_in_prod_only(plan: Callable[..., PlanResult]) -> None:
    def protected(stack: str) -> bool:
        (alb,) = plan(stack).by_type("aws:lb/loadBalancer:LoadBalancer")
        return bool(alb.inputs["enableDeletionProtection"])

    assert protected("prod") and not protected("sandbox")


@pytest.mark.parametrize("stack", STACKS)
def test_security_group_opens_only_443_and_80(plan: Callable[..., PlanResult], stack: str) -> None:
    result = plan(stack)
    rules = result.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    public = [
        r.inputs
        for r in rules
        if r.inputs.get("cidrIpv4") == "0.0.0.0/0" or r.inputs.get("cidrIpv6") == "::/0"
    ]
    assert {(r["fromPort"], r["toPort"]) for r in public} == {(443, 443), (80, 80)}
    assert all(r["ipProtocol"] == "tcp" for r in public)


@pytest.mark.parametrize("stack", STACKS)
def test_access_log_bucket_is_locked_down(plan: Callable[..., PlanResult], stack: str) -> None:
    result = plan(stack)
    (pab,) = result.by_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    for key in (
        "blockPublicAcls",
        "blockPublicPolicy",
        "ignorePublicAcls",
        "restrictPublicBuckets",
    ):
        assert pab.inputs[key] is True
    (sse,) = result.by_type(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"]
    (lifecycle,) = result.by_type(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
    )
    days = lifecycle.inputs["rules"][0]["expiration"]["days"]
    assert days == result.config.routing.access_log_retention_days
    (policy,) = result.by_type("aws:s3/bucketPolicy:BucketPolicy")
    statements = json.loads(policy.inputs["policy"])["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"]["Bool"]["aws:SecureTransport"] == "false"
        for s in statements
    )


@pytest.mark.parametrize("stack", STACKS)
def test_waf_and_dns(plan: Callable[..., PlanResult], stack: str) -> None:
    result = plan(stack)
    (acl,) = result.by_type("aws:wafv2/webAcl:WebAcl")
    assert acl.inputs["scope"] == "REGIONAL"
    managed = [
        r["statement"]["managedRuleGroupStatement"]["vendorName"] for r in acl.inputs["rules"]
    ]
    assert managed and set(managed) == {"AWS"}
    (association,) = result.by_type("aws:wafv2/webAclAssociation:WebAclAssociation")
    (alb,) = result.by_type("aws:lb/loadBalancer:LoadBalancer")
    assert association.inputs["resourceArn"] == alb.outputs["arn"]
    (record,) = result.by_type("aws:route53/record:Record")
    assert record.inputs["name"] == result.config.routing.hostname
    assert record.inputs["aliases"][0]["name"] == alb.outputs["dnsName"]


def test_outputs_name_listener_groups_and_allocation(plan: Callable[..., PlanResult]) -> None:
    result = plan("prod", 8)
    outputs = result.stack_outputs
    assert outputs["allocation"] == week_plan(8).allocation.as_dict()
    assert set(outputs["targetGroupArns"]) == set(TIERS)
    assert outputs["listenerArn"].startswith("arn:aws:elasticloadbalancing:eu-central-1:")
    assert outputs["albDnsName"].endswith("elb.amazonaws.com")
