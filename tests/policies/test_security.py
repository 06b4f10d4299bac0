"""Security policies, evaluated by the real pack over gRPC: a compliant baseline per policy and one
changed property per violating case."""

from __future__ import annotations

import json
from typing import Any

import pytest

from policies.security import admin_statements, looks_secret
from tests.policies.state import (
    ACCOUNT,
    REGION,
    SECRET_SIG,
    TAGS,
    UNKNOWN,
    Check,
    StateBuilder,
    changed,
    deployment,
    findings,
    messages,
    removed,
)

# -- alb-listener-https-only ----------------------------------------------------------------

HTTP_LISTENER: dict[str, Any] = {
    "loadBalancerArn": f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/x/1",
    "port": 80,
    "protocol": "HTTP",
    "defaultActions": [
        {
            "type": "redirect",
            "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"},
        }
    ],
    "tags": TAGS,
}
HTTPS_LISTENER: dict[str, Any] = {
    "loadBalancerArn": HTTP_LISTENER["loadBalancerArn"],
    "port": 443,
    "protocol": "HTTPS",
    "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "certificateArn": f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/abc",
    "defaultActions": [{"type": "fixed-response", "fixedResponse": {"contentType": "text/plain"}}],
    "tags": TAGS,
}
LISTENER = "aws:lb/listener:Listener"
POLICY = "alb-listener-https-only"


def listeners(
    http: dict[str, Any] = HTTP_LISTENER, https: dict[str, Any] = HTTPS_LISTENER
) -> StateBuilder:
    b = StateBuilder()
    b.add(LISTENER, "http", http)
    b.add(LISTENER, "https", https)
    return b


def test_listener_baseline_is_compliant(check: Check) -> None:
    report = check(listeners())
    assert findings(report, POLICY) == []


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("defaultActions.0", {"type": "forward", "targetGroupArn": "arn:tg"}, "'forward'"),
        ("defaultActions.0.redirect.protocol", "HTTP", "'redirect' to 'HTTP'"),
        ("defaultActions", [], "no default action"),
    ],
)
def test_http_listener_may_only_redirect_to_https(
    check: Check, path: str, value: Any, expected: str
) -> None:
    report = check(listeners(http=changed(HTTP_LISTENER, path, value)))
    assert [v.enforcement_level for v in findings(report, POLICY)] == ["mandatory"]
    assert expected in messages(report, POLICY)


def test_https_listener_without_ssl_policy(check: Check) -> None:
    report = check(listeners(https=removed(HTTPS_LISTENER, "sslPolicy")))
    assert "sets no sslPolicy" in messages(report, POLICY)


def test_https_listener_with_tls10_policy(check: Check) -> None:
    report = check(
        listeners(https=changed(HTTPS_LISTENER, "sslPolicy", "ELBSecurityPolicy-2016-08"))
    )
    assert "'ELBSecurityPolicy-2016-08', which is not in allowedTlsPolicies" in messages(
        report, POLICY
    )


def test_allowed_tls_policies_come_from_config(check: Check) -> None:
    config = {POLICY: {"allowedTlsPolicies": ["ELBSecurityPolicy-TLS13-1-3-2021-06"]}}
    report = check(listeners(), config)
    assert "ELBSecurityPolicy-TLS13-1-2-2021-06" in messages(report, POLICY)


def test_remediate_pins_an_allowed_tls_policy(check: Check) -> None:
    state = listeners(https=changed(HTTPS_LISTENER, "sslPolicy", "ELBSecurityPolicy-2016-08"))
    report = check(state, {POLICY: "remediate"})
    assert findings(report, POLICY) == []
    assert [(r.policy, r.urn.rsplit("::", 1)[1]) for r in report.remediations] == [
        (POLICY, "https")
    ]


# -- security-group-no-public-ingress ---------------------------------------------------------

SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
LB = "aws:lb/loadBalancer:LoadBalancer"
SG_POLICY = "security-group-no-public-ingress"


def web(port: int, cidr: str = "0.0.0.0/0", protocol: str = "tcp") -> dict[str, Any]:
    key = "ipv6CidrBlocks" if ":" in cidr else "cidrBlocks"
    return {"protocol": protocol, "fromPort": port, "toPort": port, key: [cidr]}


def network(
    lb_ingress: list[dict[str, Any]] | None = None,
    app_ingress: list[dict[str, Any]] | None = None,
    rule: tuple[str, dict[str, Any]] | None = None,
    rule_on_lb: bool = False,
) -> StateBuilder:
    b = StateBuilder()
    lb_sg = b.add(
        SG,
        "lb",
        {"ingress": lb_ingress if lb_ingress is not None else [web(443), web(80)], "tags": TAGS},
    )
    app_sg = b.add(SG, "app", {"ingress": app_ingress or [web(8080, "10.40.0.0/16")], "tags": TAGS})
    b.add(
        LB,
        "alb",
        {"securityGroups": [lb_sg.id], "internal": False, "tags": TAGS},
        deps={"securityGroups": [lb_sg]},
    )
    if rule is not None:
        owner = lb_sg if rule_on_lb else app_sg
        inputs = {**rule[1], "securityGroupId": owner.id}
        b.add(rule[0], "extra", inputs, deps={"securityGroupId": [owner]})
    return b


def test_security_group_baseline_is_compliant(check: Check) -> None:
    ingress = {"ipProtocol": "tcp", "fromPort": 8080, "toPort": 8080, "cidrIpv4": "10.40.0.0/16"}
    report = check(network(rule=(INGRESS, ingress)))
    assert findings(report, SG_POLICY) == []


@pytest.mark.parametrize(
    ("app_ingress", "expected"),
    [
        ([web(22)], "tcp 22"),
        ([web(80)], "tcp 80"),
        ([web(8080, "::/0")], "::/0 on tcp 8080"),
        (
            [{"protocol": "tcp", "fromPort": 0, "toPort": 65535, "cidrBlocks": ["0.0.0.0/0"]}],
            "0-65535",
        ),
        ([web(0, protocol="-1")], "all traffic"),
    ],
)
def test_inline_public_ingress(
    check: Check, app_ingress: list[dict[str, Any]], expected: str
) -> None:
    report = check(network(app_ingress=app_ingress))
    assert expected in messages(report, SG_POLICY)
    assert findings(report, SG_POLICY)[0].urn.endswith("::app")
    assert findings(report, SG_POLICY)[0].severity == "critical"


def test_port_80_is_public_only_on_a_load_balancer_group(check: Check) -> None:
    public_80 = {"ipProtocol": "tcp", "fromPort": 80, "toPort": 80, "cidrIpv4": "0.0.0.0/0"}
    assert findings(check(network(rule=(INGRESS, public_80), rule_on_lb=True)), SG_POLICY) == []
    report = check(network(rule=(INGRESS, public_80)))
    assert "tcp 80" in messages(report, SG_POLICY)


def test_lb_group_may_not_open_other_ports(check: Check) -> None:
    report = check(network(lb_ingress=[web(443), web(8443)]))
    assert "tcp 8443" in messages(report, SG_POLICY)


@pytest.mark.parametrize(
    ("typ", "rule", "expected"),
    [
        (
            INGRESS,
            {"ipProtocol": "tcp", "fromPort": 5432, "toPort": 5432, "cidrIpv4": "0.0.0.0/0"},
            "tcp 5432",
        ),
        (INGRESS, {"ipProtocol": "-1", "cidrIpv6": "::/0"}, "all traffic"),
        (
            RULE,
            {
                "type": "ingress",
                "protocol": "tcp",
                "fromPort": 22,
                "toPort": 22,
                "cidrBlocks": ["0.0.0.0/0"],
            },
            "tcp 22",
        ),
    ],
)
def test_separate_rule_resources(
    check: Check, typ: str, rule: dict[str, Any], expected: str
) -> None:
    report = check(network(rule=(typ, rule)))
    assert expected in messages(report, SG_POLICY)
    assert findings(report, SG_POLICY)[0].urn.endswith("::extra")


def test_public_egress_is_not_ingress(check: Check) -> None:
    egress = {
        "type": "egress",
        "protocol": "-1",
        "fromPort": 0,
        "toPort": 0,
        "cidrBlocks": ["0.0.0.0/0"],
    }
    assert findings(check(network(rule=(RULE, egress))), SG_POLICY) == []


# -- iam-no-wildcard-admin --------------------------------------------------------------------

IAM_POLICY = "iam-no-wildcard-admin"
LISTENER_ARN = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener/app/codex/1/2"


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


SCOPED = {
    "Effect": "Allow",
    "Action": ["elasticloadbalancing:ModifyListener"],
    "Resource": LISTENER_ARN,
}
READ_ANY = {"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*"}


def iam(
    statement: dict[str, Any] | None = None, role: dict[str, Any] | None = None
) -> StateBuilder:
    b = StateBuilder()
    r = b.add("aws:iam/role:Role", "rollback", role or {"assumeRolePolicy": "{}", "tags": TAGS})
    b.add(
        "aws:iam/rolePolicy:RolePolicy",
        "rollback",
        {"role": r.id, "policy": document(SCOPED, READ_ANY, *([statement] if statement else []))},
        deps={"role": [r]},
    )
    return b


def test_iam_baseline_is_compliant(check: Check) -> None:
    assert findings(check(iam()), IAM_POLICY) == []


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ({"Effect": "Allow", "Action": "*", "Resource": "*"}, "allows * on Resource *"),
        ({"Effect": "Allow", "Action": "s3:*", "Resource": ["*"]}, "allows s3:*"),
        (
            {
                "Sid": "Iam",
                "Effect": "Allow",
                "Action": ["ec2:Describe*", "IAM:*"],
                "Resource": "*",
            },
            "statement Iam allows IAM:*",
        ),
        (
            {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
            "every action except NotAction",
        ),
    ],
)
def test_wildcard_admin_statements(check: Check, statement: dict[str, Any], expected: str) -> None:
    report = check(iam(statement))
    assert expected in messages(report, IAM_POLICY)
    assert findings(report, IAM_POLICY)[0].type == "aws:iam/rolePolicy:RolePolicy"


def test_scoped_wildcards_and_denies_are_fine(check: Check) -> None:
    for statement in (
        {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::codex-logs/*"},
        {"Effect": "Deny", "Action": "*", "Resource": "*"},
    ):
        assert findings(check(iam(statement)), IAM_POLICY) == []


def test_role_inline_and_managed_admin(check: Check) -> None:
    role = {
        "assumeRolePolicy": "{}",
        "inlinePolicies": [
            {
                "name": "all",
                "policy": document({"Effect": "Allow", "Action": "*:*", "Resource": "*"}),
            }
        ],
        "managedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"],
        "tags": TAGS,
    }
    text = messages(check(iam(role=role)), IAM_POLICY)
    assert "Inline policy 'all'" in text and "AdministratorAccess" in text


def test_admin_policy_attachment(check: Check) -> None:
    b = iam()
    b.add(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "admin",
        {"role": "rollback", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
    )
    assert findings(check(b), IAM_POLICY)[0].urn.endswith("::admin")


def test_admin_statements_reads_json_and_objects() -> None:
    assert admin_statements({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}})
    assert admin_statements("not json") == []


# -- no-plaintext-secrets -----------------------------------------------------------------------

SECRETS = "no-plaintext-secrets"
LAMBDA = "aws:lambda/function:Function"
LAMBDA_ENV = {
    "LEDGER_PARAMETER": "/codex-rollout/prod/rollback-ledger",
    "PAGERDUTY_KEY_PARAMETER": "/codex/pagerduty/routing-key",
    "SLACK_WEBHOOK_SECRET_ARN": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:slack",
    "API_TOKEN": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:token",
    "LOG_LEVEL": "info",
}
FUNCTION = {
    "runtime": "python3.12",
    "handler": "index.handler",
    "role": "arn:role",
    "timeout": 60,
    "environment": {"variables": LAMBDA_ENV},
    "tags": TAGS,
}
PARAMETER = {
    "name": "/codex/pagerduty/routing-key",
    "type": "SecureString",
    "value": {**SECRET_SIG, "plaintext": '"k"'},
    "tags": TAGS,
}


def secrets_state(
    function: dict[str, Any] = FUNCTION,
    parameter: dict[str, Any] = PARAMETER,
    workload: dict[str, Any] | None = None,
    config_map: dict[str, Any] | None = None,
) -> StateBuilder:
    b = StateBuilder()
    b.add(LAMBDA, "rollback", function)
    b.add("aws:ssm/parameter:Parameter", "pagerduty", parameter)
    b.add("kubernetes:apps/v1:Deployment", "api", workload or deployment())
    b.add(
        "kubernetes:core/v1:ConfigMap",
        "dashboards",
        config_map
        or {"apiVersion": "v1", "kind": "ConfigMap", "data": {"alertmanager.yml": "route: {}"}},
    )
    return b


def test_secrets_baseline_is_compliant(check: Check) -> None:
    assert findings(check(secrets_state()), SECRETS) == []


def test_container_env_literal_secret(check: Check) -> None:
    workload = changed(
        deployment(),
        "spec.template.spec.containers.0.env.1",
        {"name": "DB_PASSWORD", "value": "hunter2"},
    )
    report = check(secrets_state(workload=workload))
    assert "DB_PASSWORD" in messages(report, SECRETS)
    assert findings(report, SECRETS)[0].type == "kubernetes:apps/v1:Deployment"


def test_cronjob_env_literal_secret(check: Check) -> None:
    b = secrets_state()
    pod = changed(
        deployment(),
        "spec.template.spec.containers.0.env.0",
        {"name": "GITHUB_TOKEN", "value": "ghp_x"},
    )["spec"]["template"]
    b.add(
        "kubernetes:batch/v1:CronJob",
        "sweeper",
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": pod}}},
        },
    )
    assert "GITHUB_TOKEN" in messages(check(b), SECRETS)


@pytest.mark.parametrize(
    "value",
    ["sk-live-123", {**SECRET_SIG, "plaintext": '"sk-live-123"'}],
    ids=["plain", "pulumi-secret"],
)
def test_lambda_env_literal_secret(check: Check, value: Any) -> None:
    # A Pulumi secret is encrypted in state only: Lambda still shows it in plain text.
    function = changed(FUNCTION, "environment.variables.OPENAI_API_KEY", value)
    assert "OPENAI_API_KEY" in messages(check(secrets_state(function=function)), SECRETS)


def test_lambda_env_computed_value_is_not_literal(check: Check) -> None:
    function = changed(FUNCTION, "environment.variables.OPENAI_API_KEY", UNKNOWN)
    assert findings(check(secrets_state(function=function)), SECRETS) == []


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [("type", "String", "not SecureString"), ("insecureValue", "k", "insecureValue")],
)
def test_secret_ssm_parameter(check: Check, path: str, value: str, expected: str) -> None:
    report = check(secrets_state(parameter=changed(PARAMETER, path, value)))
    assert expected in messages(report, SECRETS)


def test_configmap_with_secret_key(check: Check) -> None:
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"slack-api-token": "xoxb"}}
    assert "slack-api-token" in messages(check(secrets_state(config_map=config_map)), SECRETS)


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("PASSWORD", True),
        ("db-password", True),
        ("PAGERDUTY_ROUTING_KEY", True),
        ("OPENAI_API_KEY", True),
        ("API_TOKEN_ARN", False),
        ("SECRET_NAME", False),
        ("LOG_LEVEL", False),
        ("LEDGER_PARAMETER", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert looks_secret(name) is secret


# -- s3-public-access-blocked -------------------------------------------------------------------

S3 = "s3-public-access-blocked"
BUCKET = "aws:s3/bucket:Bucket"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BLOCK = {
    "blockPublicAcls": True,
    "blockPublicPolicy": True,
    "ignorePublicAcls": True,
    "restrictPublicBuckets": True,
}
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
KMS_RULES = {
    "rules": [
        {
            "applyServerSideEncryptionByDefault": {
                "sseAlgorithm": "aws:kms",
                "kmsMasterKeyId": "arn:key",
            }
        }
    ]
}


def buckets(
    block: dict[str, Any] | None = BLOCK, acl: dict[str, Any] | None = None, by_deps: bool = True
) -> StateBuilder:
    b = StateBuilder()
    bucket = b.add(BUCKET, "artifacts", {"tags": TAGS})
    deps = {"bucket": [bucket]} if by_deps else None
    if block is not None:
        b.add(PAB, "artifacts", {**block, "bucket": bucket.id}, deps=deps)
    b.add(SSE, "artifacts", {**KMS_RULES, "bucket": bucket.id}, deps=deps)
    if acl is not None:
        b.add("aws:s3/bucketAcl:BucketAcl", "artifacts", {**acl, "bucket": bucket.id}, deps=deps)
    return b


def test_s3_baseline_is_compliant(check: Check) -> None:
    assert findings(check(buckets()), S3) == []
    # Matched by bucket name when the state carries no property dependencies.
    assert findings(check(buckets(by_deps=False)), S3) == []


def test_bucket_without_public_access_block(check: Check) -> None:
    report = check(buckets(block=None))
    assert "has no BucketPublicAccessBlock" in messages(report, S3)
    assert findings(report, S3)[0].urn.endswith("::artifacts")


@pytest.mark.parametrize("setting", sorted(BLOCK))
def test_public_access_block_setting_off(check: Check, setting: str) -> None:
    assert setting in messages(check(buckets(block=changed(BLOCK, setting, False))), S3)


@pytest.mark.parametrize(
    "acl",
    [
        {"acl": "public-read"},
        {
            "accessControlPolicy": {
                "owner": {"id": "x"},
                "grants": [
                    {
                        "permission": "READ",
                        "grantee": {
                            "type": "Group",
                            "uri": "http://acs.amazonaws.com/groups/global/AllUsers",
                        },
                    }
                ],
            }
        },
    ],
    ids=["canned", "grant"],
)
def test_public_bucket_acl(check: Check, acl: dict[str, Any]) -> None:
    assert "BucketAcl 'artifacts'" in messages(check(buckets(acl=acl)), S3)


# -- encryption-at-rest -------------------------------------------------------------------------

ENC = "encryption-at-rest"


def encrypted(**overrides: dict[str, Any]) -> StateBuilder:
    defaults: dict[str, dict[str, Any]] = {
        "aws:dynamodb/table:Table": {
            "serverSideEncryption": {"enabled": True, "kmsKeyArn": "arn:key"}
        },
        "aws:sns/topic:Topic": {"kmsMasterKeyId": "alias/codex"},
        "aws:sqs/queue:Queue": {"kmsMasterKeyId": "alias/codex"},
        "aws:cloudwatch/logGroup:LogGroup": {"kmsKeyId": "arn:key", "retentionInDays": 365},
        "aws:kms/key:Key": {"enableKeyRotation": True},
    }
    b = buckets()
    for typ, inputs in defaults.items():
        b.add(typ, "audit", {**overrides.get(typ.rsplit(":", 1)[1], inputs), "tags": TAGS})
    logs = b.add(BUCKET, "access-logs", {"tags": TAGS})
    b.add(
        SSE,
        "access-logs",
        {
            "rules": [
                {
                    "applyServerSideEncryptionByDefault": {
                        "sseAlgorithm": overrides.get("logs", {}).get("sse", "AES256")
                    }
                }
            ],
            "bucket": logs.id,
        },
        deps={"bucket": [logs]},
    )
    b.add(
        LB,
        "alb",
        {"accessLogs": {"bucket": logs.id, "enabled": True}, "tags": TAGS},
        deps={"accessLogs": [logs]},
    )
    return b


def test_encryption_baseline_is_compliant(check: Check) -> None:
    assert findings(check(encrypted()), ENC) == []


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"Table": {"serverSideEncryption": {"enabled": False}}}, "serverSideEncryption"),
        ({"Topic": {}}, "Topic has no kmsMasterKeyId"),
        ({"Queue": {"sqsManagedSseEnabled": True}}, "Queue has no kmsMasterKeyId"),
        ({"LogGroup": {"retentionInDays": 365}}, "LogGroup has no kmsKeyId"),
        ({"Key": {"enableKeyRotation": False}}, "rotation"),
        ({"logs": {"sse": ""}}, "access-log bucket has no default encryption"),
    ],
)
def test_unencrypted_resources(check: Check, override: dict[str, Any], expected: str) -> None:
    report = check(encrypted(**override))
    assert expected in messages(report, ENC)
    assert len(findings(report, ENC)) == 1


def test_s3_bucket_needs_kms_not_sse_s3(check: Check) -> None:
    b = buckets()
    plain = b.add(BUCKET, "plain", {"tags": TAGS})
    b.add(
        SSE,
        "plain",
        {
            "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}],
            "bucket": plain.id,
        },
        deps={"bucket": [plain]},
    )
    report = check(b)
    assert "not KMS (sseAlgorithm: AES256)" in messages(report, ENC)


def test_asymmetric_keys_need_no_rotation(check: Check) -> None:
    report = check(encrypted(Key={"customerMasterKeySpec": "RSA_2048", "keyUsage": "SIGN_VERIFY"}))
    assert findings(report, ENC) == []
