"""Security policies: transport encryption, network exposure, IAM, secrets, S3 exposure, and
encryption at rest.

Resource policies read the inputs the engine sends to ``Analyze``; stack policies read outputs
(``AnalyzeStack``) where they must relate resources, e.g. an S3 bucket and its separate
public-access-block resource.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import (
    PolicyResource,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)

from rollout_rules.contract import FUNCTION_TYPE, TOPIC_TYPE

from ._common import (
    CIS_AWS,
    CIS_K8S,
    GDPR,
    LISTENER_TYPES,
    LOAD_BALANCER_TYPES,
    SOC2,
    Control,
    Report,
    UnknownValueError,
    as_list,
    as_number,
    by_type,
    get,
    json_value,
    mentions,
    resource_policy,
    stack_policy,
    string_list_schema,
    truthy,
)
from ._workloads import container_label, containers, pod_template

# ---------------------------------------------------------------------------------------------
# alb-listener-https-only
# ---------------------------------------------------------------------------------------------

# ELB security policies that negotiate TLS 1.2 or newer only.
DEFAULT_TLS_POLICIES = [
    "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04",
    "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-2023-04",
    "ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04",
    "ELBSecurityPolicy-TLS-1-2-2017-01",
    "ELBSecurityPolicy-TLS-1-2-Ext-2018-06",
    "ELBSecurityPolicy-FS-1-2-2019-08",
    "ELBSecurityPolicy-FS-1-2-Res-2019-08",
    "ELBSecurityPolicy-FS-1-2-Res-2020-10",
]


def _listener_protocol(props: Mapping[str, Any]) -> str:
    # An ALB listener without a protocol is HTTP.
    protocol = get(props, "protocol")
    return protocol.upper() if isinstance(protocol, str) and protocol else "HTTP"


def _allowed_tls_policies(args: ResourceValidationArgs) -> list[str]:
    return list(args.get_config().get("allowedTlsPolicies", DEFAULT_TLS_POLICIES))


def _validate_listener(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type not in LISTENER_TYPES:
        return
    props = args.props
    protocol = _listener_protocol(props)
    port = as_number(get(props, "port"))
    where = f"port {int(port)}" if port is not None else "listener"
    if protocol == "HTTP":
        actions = as_list(get(props, "defaultActions"))
        if not actions:
            report(f"HTTP {where} has no default action; it may only redirect to HTTPS.")
        for index, action in enumerate(actions):
            kind = get(action, "type")
            target = get(action, "redirect", "protocol")
            if kind != "redirect" or not isinstance(target, str) or target.upper() != "HTTPS":
                report(
                    f"HTTP {where}: default action {index} is {kind!r}"
                    + (f" to {target!r}" if kind == "redirect" else "")
                    + "; an HTTP listener may only redirect to HTTPS."
                )
    elif protocol in ("HTTPS", "TLS"):
        policy = get(props, "sslPolicy")
        allowed = _allowed_tls_policies(args)
        if not policy:
            report(
                f"{protocol} {where} sets no sslPolicy, so AWS applies ELBSecurityPolicy-2016-08, "
                "which accepts TLS 1.0; set one of allowedTlsPolicies."
            )
        elif policy not in allowed:
            report(
                f"{protocol} {where} uses sslPolicy {policy!r}, which is not in allowedTlsPolicies."
            )


def _remediate_listener(args: ResourceValidationArgs) -> Mapping[str, Any] | None:
    """Pin a compliant TLS policy on an HTTPS/TLS listener (only under ``remediate``)."""
    if args.resource_type not in LISTENER_TYPES:
        return None
    props = args.props
    if _listener_protocol(props) not in ("HTTPS", "TLS"):
        return None
    allowed = _allowed_tls_policies(args)
    if get(props, "sslPolicy") in allowed or not allowed:
        return None
    # Writing through the SDK's proxy keeps secrets and unknowns of the other inputs intact.
    props["sslPolicy"] = allowed[0]  # type: ignore[index]
    return props


alb_listener_https_only = resource_policy(
    name="alb-listener-https-only",
    description=(
        "Load balancer listeners serve HTTPS with a TLS 1.2+ security policy; plain HTTP "
        "listeners only redirect to HTTPS."
    ),
    severity=Severity.HIGH,
    controls=[
        Control.of(SOC2, "CC6.7"),
        Control.of(GDPR, "Art. 32"),
    ],
    remediation=(
        "Give the HTTP listener a single default action of type 'redirect' with protocol "
        "'HTTPS' and status HTTP_301. Set sslPolicy on HTTPS/TLS listeners to one of "
        "allowedTlsPolicies, e.g. ELBSecurityPolicy-TLS13-1-2-2021-06."
    ),
    domain="security",
    validate=_validate_listener,
    remediate=_remediate_listener,
    config={
        "allowedTlsPolicies": string_list_schema(
            "ELB security policies an HTTPS or TLS listener may use (TLS 1.2 or newer only).",
            DEFAULT_TLS_POLICIES,
        )
    },
)

# ---------------------------------------------------------------------------------------------
# security-group-no-public-ingress
# ---------------------------------------------------------------------------------------------

SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
PUBLIC_CIDRS = frozenset({"0.0.0.0/0", "::/0"})


def _ingress_problem(
    protocol: Any, from_port: Any, to_port: Any, cidrs: list[Any], on_lb_group: bool
) -> str | None:
    """Why an ingress permission is not allowed, or None when it is."""
    public = sorted({c for c in cidrs if isinstance(c, str) and c in PUBLIC_CIDRS})
    if not public:
        return None
    proto = str(protocol).lower() if protocol is not None else ""
    low, high = as_number(from_port), as_number(to_port)
    if proto in ("tcp", "6") and low is not None and low == high:
        if low == 443:
            return None
        if low == 80 and on_lb_group:
            return None
    if proto in ("-1", "all"):
        ports = "all traffic"
    else:
        span = f"{_port(low)}" if low == high else f"{_port(low)}-{_port(high)}"
        ports = f"{proto or '?'} {span}"
    allowed = "TCP 443, and TCP 80 on a load balancer's group" if not on_lb_group else "TCP 443/80"
    return (
        f"ingress from {', '.join(public)} on {ports}; only {allowed} may be open to the internet"
    )


def _port(value: float | None) -> str:
    return "?" if value is None else str(int(value))


def _validate_public_ingress(args: StackValidationArgs, report: Report) -> None:
    resources = args.resources
    groups = list(by_type(resources, SECURITY_GROUP))
    balancers = list(by_type(resources, *LOAD_BALANCER_TYPES))
    lb_groups = {
        group.urn for group in groups for lb in balancers if mentions(lb, "securityGroups", group)
    }

    def group_of(rule: PolicyResource) -> PolicyResource | None:
        for group in groups:
            if mentions(rule, "securityGroupId", group):
                return group
        return None

    for group in groups:
        try:
            for index, rule in enumerate(as_list(group.props.get("ingress"))):
                problem = _ingress_problem(
                    get(rule, "protocol"),
                    get(rule, "fromPort"),
                    get(rule, "toPort"),
                    as_list(get(rule, "cidrBlocks")) + as_list(get(rule, "ipv6CidrBlocks")),
                    group.urn in lb_groups,
                )
                if problem:
                    report(
                        f"Security group {group.name!r} inline rule {index}: {problem}.", group.urn
                    )
        except UnknownValueError:
            continue

    for rule in by_type(resources, INGRESS_RULE, GROUP_RULE):
        try:
            props = rule.props
            if rule.resource_type == GROUP_RULE:
                if get(props, "type") != "ingress":
                    continue
                protocol = get(props, "protocol")
                cidrs = as_list(get(props, "cidrBlocks")) + as_list(get(props, "ipv6CidrBlocks"))
            else:
                protocol = get(props, "ipProtocol")
                cidrs = [get(props, "cidrIpv4"), get(props, "cidrIpv6")]
            owner = group_of(rule)
            problem = _ingress_problem(
                protocol,
                get(props, "fromPort"),
                get(props, "toPort"),
                cidrs,
                owner is not None and owner.urn in lb_groups,
            )
            if problem:
                report(f"Security group rule {rule.name!r}: {problem}.", rule.urn)
        except UnknownValueError:
            continue


security_group_no_public_ingress = stack_policy(
    name="security-group-no-public-ingress",
    description=(
        "Security groups accept traffic from 0.0.0.0/0 or ::/0 only on TCP 443, and on TCP 80 "
        "for a load balancer's group (which redirects to HTTPS)."
    ),
    severity=Severity.CRITICAL,
    controls=[
        Control.of(CIS_AWS, "5.2"),
        Control.of(CIS_AWS, "5.3"),
        Control.of(SOC2, "CC6.6"),
    ],
    remediation=(
        "Restrict the rule's source to a VPC CIDR, a prefix list or another security group, "
        "or narrow it to TCP 443. Port 80 may be public only on a group attached to a load "
        "balancer (its securityGroups)."
    ),
    domain="security",
    validate=_validate_public_ingress,
)

# ---------------------------------------------------------------------------------------------
# iam-no-wildcard-admin
# ---------------------------------------------------------------------------------------------

POLICY_DOCUMENT_TYPES = (
    "aws:iam/policy:Policy",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
)
POLICY_ATTACHMENT_TYPES = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
)
ADMIN_POLICY_ARN = re.compile(r"^arn:aws[\w-]*:iam::aws:policy/AdministratorAccess$")
_WILDCARD_ACTION = re.compile(r"^(\*|[a-z0-9-]+:\*|\*:\*)$", re.IGNORECASE)


def admin_statements(document: Any) -> list[str]:
    """Descriptions of the Allow statements in an IAM policy document that grant ``*``/``svc:*``
    on every resource."""
    doc = json_value(document)
    if not isinstance(doc, Mapping):
        return []
    found = []
    for index, statement in enumerate(as_list(doc.get("Statement"))):
        if not isinstance(statement, Mapping) or statement.get("Effect") != "Allow":
            continue
        resources = as_list(statement.get("Resource"))
        if "*" not in resources and "NotResource" not in statement:
            continue
        label = statement.get("Sid") or f"#{index}"
        wild = [a for a in as_list(statement.get("Action")) if isinstance(a, str)]
        wild = [a for a in wild if _WILDCARD_ACTION.match(a)]
        if wild:
            found.append(f"statement {label} allows {', '.join(wild)} on Resource *")
        if "NotAction" in statement:
            found.append(f"statement {label} allows every action except NotAction on Resource *")
    return found


def _validate_iam(args: ResourceValidationArgs, report: Report) -> None:
    props = args.props
    kind = args.resource_type
    if kind in POLICY_DOCUMENT_TYPES:
        for problem in admin_statements(get(props, "policy")):
            report(f"Policy document: {problem}.")
    elif kind == "aws:iam/role:Role":
        for inline in as_list(get(props, "inlinePolicies")):
            for problem in admin_statements(get(inline, "policy")):
                report(f"Inline policy {get(inline, 'name')!r}: {problem}.")
        for arn in as_list(get(props, "managedPolicyArns")):
            if isinstance(arn, str) and ADMIN_POLICY_ARN.match(arn):
                report(f"Role attaches {arn}.")
    elif kind in POLICY_ATTACHMENT_TYPES:
        arn = get(props, "policyArn")
        if isinstance(arn, str) and ADMIN_POLICY_ARN.match(arn):
            report(f"Attachment grants {arn}.")


iam_no_wildcard_admin = resource_policy(
    name="iam-no-wildcard-admin",
    description=(
        "IAM policies do not Allow Action '*' or '<service>:*' on Resource '*' (no full "
        "administrative privileges)."
    ),
    severity=Severity.CRITICAL,
    controls=[
        Control.of(CIS_AWS, "1.16"),
        Control.of(SOC2, "CC6.3"),
    ],
    remediation=(
        "List the specific actions the principal needs and scope Resource to the ARNs it "
        "works on (e.g. elasticloadbalancing:ModifyListener on the listener ARN). Do not "
        "attach AdministratorAccess."
    ),
    domain="security",
    validate=_validate_iam,
)

# ---------------------------------------------------------------------------------------------
# no-plaintext-secrets
# ---------------------------------------------------------------------------------------------

_SECRET_NAME = re.compile(
    r"PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIAL"
    r"|ROUTING_?KEY|INTEGRATION_?KEY|SIGNING_?KEY|WEBHOOK_?URL|CONNECTION_?STRING"
)
# Names that hold where a secret lives, not the secret itself.
_REFERENCE_SUFFIX = re.compile(
    r"_(ARN|PARAM|PARAMETER|PARAMETER_NAME|SECRET_ID|SECRET_NAME|SECRET_ARN|FILE|PATH|NAME"
    r"|KEY_ID|REF|HEADER|TTL)$"
)
_REFERENCE_VALUE = re.compile(
    r"^(arn:aws[\w-]*:(secretsmanager|ssm|kms):|\{\{resolve:|ssm:|/[\w./-]+$)"
)


def _normalise(name: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_")


def looks_secret(name: Any) -> bool:
    """Whether a variable, key or parameter name says it holds a secret value."""
    if not isinstance(name, str):
        return False
    normal = _normalise(name)
    return bool(_SECRET_NAME.search(normal)) and not _REFERENCE_SUFFIX.search(normal)


def _literal(value: Any) -> bool:
    return isinstance(value, str) and value != "" and not _REFERENCE_VALUE.match(value)


def _env_literals(variables: Any) -> list[str]:
    found = []
    if isinstance(variables, Mapping):
        for key in variables:
            if not looks_secret(key):
                continue
            try:
                value = variables[key]
            except UnknownValueError:
                # Computed at deploy time (e.g. a secret's ARN): not a literal.
                continue
            if _literal(value):
                found.append(str(key))
    return found


def _validate_secrets(args: ResourceValidationArgs, report: Report) -> None:
    props = args.props
    kind = args.resource_type
    if kind == FUNCTION_TYPE:
        names = _env_literals(get(props, "environment", "variables"))
        if names:
            report(
                f"Lambda environment variables {', '.join(sorted(names))} carry literal values; "
                "pass a Secrets Manager or SSM SecureString reference instead."
            )
    elif kind == "aws:ssm/parameter:Parameter":
        name = get(props, "name") or args.name
        if looks_secret(name):
            if get(props, "type") != "SecureString":
                report(f"SSM parameter {name!r} holds a secret but its type is not SecureString.")
            if get(props, "insecureValue"):
                report(f"SSM parameter {name!r} holds a secret in insecureValue (plaintext).")
    elif kind == "aws:ecs/taskDefinition:TaskDefinition":
        for definition in as_list(json_value(get(props, "containerDefinitions"))):
            env = {get(e, "name"): get(e, "value") for e in as_list(get(definition, "environment"))}
            names = _env_literals(env)
            if names:
                report(
                    f"Container {get(definition, 'name')!r} environment {', '.join(sorted(names))}"
                    " carries literal values; use the task definition's secrets instead."
                )
    elif kind == "kubernetes:core/v1:ConfigMap":
        for field in ("data", "binaryData"):
            data = get(props, field)
            if isinstance(data, Mapping):
                keys = sorted(str(k) for k in data if looks_secret(k))
                if keys:
                    report(
                        f"ConfigMap {field} keys {', '.join(keys)} look like secrets; "
                        "store them in a Secret."
                    )
    else:
        template = pod_template(kind, props)
        if template is None:
            return
        for container in containers(template[1]):
            env = {get(e, "name"): e for e in as_list(get(container, "env"))}
            literal = _env_literals({k: get(v, "value") for k, v in env.items() if looks_secret(k)})
            if literal:
                report(
                    f"{container_label(container)} sets {', '.join(sorted(literal))} from literal "
                    "values; use valueFrom.secretKeyRef."
                )


no_plaintext_secrets = resource_policy(
    name="no-plaintext-secrets",
    description=(
        "Secrets never appear as literal values: container and Lambda environment variables "
        "named like secrets reference a secret store, and secret SSM parameters are "
        "SecureString."
    ),
    severity=Severity.CRITICAL,
    controls=[
        Control.of(SOC2, "CC6.1"),
        Control.of(GDPR, "Art. 32"),
        Control.of(CIS_K8S, "5.4.1"),
    ],
    remediation=(
        "Kubernetes: move the value to a Secret and use env[].valueFrom.secretKeyRef. Lambda: "
        "store the value in Secrets Manager or an SSM SecureString and pass its ARN or name "
        "(e.g. PAGERDUTY_KEY_PARAMETER=/codex/pagerduty/key), reading it at runtime. SSM: set "
        "type SecureString and use value, not insecureValue."
    ),
    domain="security",
    validate=_validate_secrets,
)

# ---------------------------------------------------------------------------------------------
# s3-public-access-blocked
# ---------------------------------------------------------------------------------------------

BUCKET_TYPES = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_ACL_TYPES = ("aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2")
PUBLIC_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read"})
PUBLIC_GRANTEES = (
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
)
BLOCK_SETTINGS = (
    "blockPublicAcls",
    "blockPublicPolicy",
    "ignorePublicAcls",
    "restrictPublicBuckets",
)


def _public_grants(grants: Any, uri_path: tuple[str, ...]) -> list[str]:
    return [str(get(g, *uri_path)) for g in as_list(grants) if get(g, *uri_path) in PUBLIC_GRANTEES]


def _validate_s3_public(args: StackValidationArgs, report: Report) -> None:
    resources = args.resources
    blocks = list(by_type(resources, PUBLIC_ACCESS_BLOCK))
    acls = list(by_type(resources, *BUCKET_ACL_TYPES))
    for bucket in by_type(resources, *BUCKET_TYPES):
        try:
            mine = [b for b in blocks if mentions(b, "bucket", bucket)]
            if not mine:
                report(f"Bucket {bucket.name!r} has no BucketPublicAccessBlock.", bucket.urn)
            for block in mine:
                off = [s for s in BLOCK_SETTINGS if not truthy(block.props.get(s))]
                if off:
                    report(
                        f"Bucket {bucket.name!r}: public access block {block.name!r} leaves "
                        f"{', '.join(off)} off.",
                        bucket.urn,
                    )
            props = bucket.props
            if get(props, "acl") in PUBLIC_ACLS:
                report(
                    f"Bucket {bucket.name!r} has the public ACL {get(props, 'acl')!r}.", bucket.urn
                )
            if _public_grants(get(props, "grants"), ("uri",)):
                report(f"Bucket {bucket.name!r} grants access to all users.", bucket.urn)
            for acl in acls:
                if not mentions(acl, "bucket", bucket):
                    continue
                if get(acl.props, "acl") in PUBLIC_ACLS:
                    report(
                        f"Bucket {bucket.name!r}: BucketAcl {acl.name!r} sets the public ACL "
                        f"{get(acl.props, 'acl')!r}.",
                        bucket.urn,
                    )
                grants = get(acl.props, "accessControlPolicy", "grants")
                if _public_grants(grants, ("grantee", "uri")):
                    report(
                        f"Bucket {bucket.name!r}: BucketAcl {acl.name!r} grants access to all "
                        "users.",
                        bucket.urn,
                    )
        except UnknownValueError:
            continue


s3_public_access_blocked = stack_policy(
    name="s3-public-access-blocked",
    description=(
        "Every S3 bucket has a public access block with all four settings on, and no public ACL."
    ),
    severity=Severity.CRITICAL,
    controls=[
        Control.of(CIS_AWS, "2.1.4"),
        Control.of(SOC2, "CC6.1"),
        Control.of(GDPR, "Art. 32"),
    ],
    remediation=(
        "Create an aws.s3.BucketPublicAccessBlock for the bucket with block_public_acls, "
        "block_public_policy, ignore_public_acls and restrict_public_buckets all True; remove "
        "public-read/public-read-write/authenticated-read ACLs and AllUsers grants."
    ),
    domain="security",
    validate=_validate_s3_public,
)

# ---------------------------------------------------------------------------------------------
# encryption-at-rest
# ---------------------------------------------------------------------------------------------

SSE_CONFIG_TYPES = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
KMS_ALGORITHMS = frozenset({"aws:kms", "aws:kms:dsse"})
ELB_LOG_ALGORITHMS = frozenset({"AES256"})
_KMS_KEY_FIELD = {
    TOPIC_TYPE: "kmsMasterKeyId",
    "aws:sqs/queue:Queue": "kmsMasterKeyId",
    "aws:cloudwatch/logGroup:LogGroup": "kmsKeyId",
}


_ENCRYPTED_TYPES = frozenset({"aws:dynamodb/table:Table", "aws:kms/key:Key"})


def _sse_algorithms(rules: Any) -> list[Any]:
    return [get(r, "applyServerSideEncryptionByDefault", "sseAlgorithm") for r in as_list(rules)]


def _encryption_problem(
    resource: PolicyResource, sse_configs: list[PolicyResource], log_buckets: set[str]
) -> str | None:
    kind = resource.resource_type
    if not (kind in _ENCRYPTED_TYPES or kind in _KMS_KEY_FIELD or kind in BUCKET_TYPES):
        return None  # (read no properties of the rest: they stay undecoded)
    props = resource.props
    if kind == "aws:dynamodb/table:Table":
        if not truthy(get(props, "serverSideEncryption", "enabled")):
            return "DynamoDB table does not enable serverSideEncryption with KMS"
    elif kind in _KMS_KEY_FIELD:
        field = _KMS_KEY_FIELD[kind]
        if not get(props, field):
            return f"{kind.rsplit(':', 1)[1]} has no {field} (KMS key)"
    elif kind == "aws:kms/key:Key":
        spec = get(props, "customerMasterKeySpec") or get(props, "keySpec") or "SYMMETRIC_DEFAULT"
        if spec == "SYMMETRIC_DEFAULT" and not truthy(get(props, "enableKeyRotation")):
            return "KMS key does not enable automatic key rotation"
    elif kind in BUCKET_TYPES:
        mine = [c for c in sse_configs if mentions(c, "bucket", resource)]
        if mine:
            algorithms = [a for c in mine for a in _sse_algorithms(get(c.props, "rules"))]
        else:
            # Inline configuration (deprecated in v7, still honoured by the provider).
            algorithms = _sse_algorithms(get(props, "serverSideEncryptionConfiguration", "rule"))
        found = ", ".join(str(a) for a in algorithms if a) or "none"
        if resource.urn in log_buckets:
            # ELB access-log delivery supports SSE-S3 only; SSE-KMS would stop the logs.
            if not any(a in ELB_LOG_ALGORITHMS for a in algorithms):
                return f"ELB access-log bucket has no default encryption (sseAlgorithm: {found})"
        elif not any(a in KMS_ALGORITHMS for a in algorithms):
            return f"S3 bucket default encryption is not KMS (sseAlgorithm: {found})"
    return None


def _validate_encryption(args: StackValidationArgs, report: Report) -> None:
    sse_configs = list(by_type(args.resources, *SSE_CONFIG_TYPES))
    balancers = list(by_type(args.resources, *LOAD_BALANCER_TYPES))
    log_buckets = {
        bucket.urn
        for bucket in by_type(args.resources, *BUCKET_TYPES)
        for lb in balancers
        if mentions(lb, "accessLogs", bucket)
    }
    for resource in args.resources:
        try:
            problem = _encryption_problem(resource, sse_configs, log_buckets)
        except UnknownValueError:
            continue
        if problem:
            report(f"{resource.name!r}: {problem}.", resource.urn)


encryption_at_rest = stack_policy(
    name="encryption-at-rest",
    description=(
        "DynamoDB tables, SNS topics, SQS queues, CloudWatch log groups and S3 buckets are "
        "encrypted with KMS (ELB access-log buckets: SSE-S3, all ELB supports), and KMS keys "
        "rotate automatically."
    ),
    severity=Severity.HIGH,
    controls=[
        Control.of(GDPR, "Art. 32"),
        Control.of(SOC2, "CC6.1"),
        Control.of(CIS_AWS, "3.6"),
    ],
    remediation=(
        "DynamoDB: server_side_encryption enabled (with kms_key_arn for a customer key). SNS/SQS: "
        "kms_master_key_id. Log groups: kms_key_id (the key policy must allow "
        "logs.<region>.amazonaws.com). S3: a BucketServerSideEncryptionConfiguration with "
        "sse_algorithm 'aws:kms' (a load balancer's access-log bucket: 'AES256', the only "
        "encryption ELB log delivery supports). KMS keys: enable_key_rotation=True."
    ),
    domain="security",
    validate=_validate_encryption,
)

POLICIES = [
    alb_listener_https_only,
    security_group_no_public_ingress,
    iam_no_wildcard_admin,
    no_plaintext_secrets,
    s3_public_access_blocked,
    encryption_at_rest,
]
