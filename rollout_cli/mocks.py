"""Realistic mock outputs for the offline plan: what the providers would return after `up`.

Outputs are deterministic (derived from the resource's URN) so that two offline runs of the same
config give the same state, and a diff between weeks shows only what the config changed.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib
import inspect
import json
import sys
from typing import Any

import pulumi

from infra.ledger import LEDGER_INVOKE
from rollout_cli.offline import SECRET_SIG, UNKNOWN
from rollout_rules.contract import ledger_parameter_name, ssm_prefix

# Canonical hosted zone ids of ALBs per region (AWS docs, "Elastic Load Balancing endpoints").
ALB_ZONE_IDS = {
    "eu-west-1": "Z32O12XQLNTSW2",
    "eu-west-2": "ZHURV8PSTC4K8",
    "eu-west-3": "Z3Q77PNBQS71R4",
    "eu-central-1": "Z215JYRZR1TBD5",
    "eu-central-2": "Z06391101F2ZOEP8P5EB3",
    "eu-north-1": "Z23TAZ7KOJ8UQ2",
    "eu-south-1": "Z3ULH7SSC9OV64",
    "us-east-1": "Z35SXDOTRQ7X7K",
    "us-west-2": "Z1H1FL5HABSF5",
}


def digest(seed: str, length: int = 16) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


class RealisticMocks(pulumi.runtime.Mocks):
    """Mocks keyed by resource type; every AWS resource gets an id and an ARN in its region."""

    def __init__(self, stack: str, project: str, region: str, account: str) -> None:
        self.stack = stack
        self.project = project
        self.region = region
        self.account = account
        # Answers for invokes, by token; callables receive the invoke args.
        self.invokes: dict[str, Any] = {}

    # -- resources ------------------------------------------------------------------------------

    def check(self, typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        """The inputs as the provider's Check returns them: with the auto-name filled in."""
        return checked_inputs(typ, name, inputs, f"{self.stack}:{typ}:{name}")

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        typ, name = args.typ, args.name
        seed = f"{self.stack}:{typ}:{name}"
        inputs = checked_inputs(typ, name, dict(args.inputs), seed)
        if typ.startswith("pulumi:providers:"):
            # The engine gives providers UUIDs.
            return uuid_from(seed), inputs
        if typ.startswith("kubernetes:"):
            return self._kubernetes(typ, name, inputs, seed)
        if typ.startswith("aws:"):
            return self._aws(typ, name, inputs, seed)
        return f"{name}-{digest(seed, 7)}", inputs

    def _kubernetes(self, typ: str, name: str, inputs: dict, seed: str) -> tuple[str, dict]:
        if typ == "kubernetes:helm.sh/v3:Release":
            release = inputs.get("name") or f"{name}-{digest(seed, 8)}"
            ns = inputs.get("namespace", "default")
            status = {
                "name": release,
                "namespace": ns,
                "chart": inputs.get("chart"),
                "version": inputs.get("version"),
                "revision": 1,
                "status": "deployed",
            }
            return f"{ns}/{release}", {**inputs, "name": release, "status": status}
        metadata = dict(inputs.get("metadata") or {})
        metadata.setdefault("name", f"{name}-{digest(seed, 8)}")
        metadata["uid"] = uuid_from(seed)
        metadata["resourceVersion"] = "1"
        ns = metadata.get("namespace")
        ident = f"{ns}/{metadata['name']}" if ns else metadata["name"]
        return ident, {**inputs, "metadata": metadata}

    def _aws(self, typ: str, name: str, inputs: dict, seed: str) -> tuple[str, dict]:
        region = inputs.get("region") or self.region
        acct = self.account
        physical = inputs.get("name") or f"{name}-{digest(seed, 7)}"
        out: dict[str, Any] = {**inputs, "region": region, "tagsAll": inputs.get("tags", {})}
        module = typ.split(":")[1].split("/")[0]
        rid = physical
        if typ == "aws:lb/loadBalancer:LoadBalancer":
            suffix = f"app/{physical}/{digest(seed)}"
            out.update(
                arn=f"arn:aws:elasticloadbalancing:{region}:{acct}:loadbalancer/{suffix}",
                arnSuffix=suffix,
                dnsName=f"{physical}-{int(digest(seed, 8), 16) % 10**10}"
                f".{region}.elb.amazonaws.com",
                zoneId=ALB_ZONE_IDS.get(region, "Z32O12XQLNTSW2"),
                name=physical,
            )
            rid = out["arn"]
        elif typ == "aws:lb/targetGroup:TargetGroup":
            suffix = f"targetgroup/{physical}/{digest(seed)}"
            out.update(
                arn=f"arn:aws:elasticloadbalancing:{region}:{acct}:{suffix}",
                arnSuffix=suffix,
                name=physical,
            )
            rid = out["arn"]
        elif typ == "aws:lb/listener:Listener":
            # A listener's ARN extends its load balancer's: .../listener/app/<lb>/<lb-id>/<id>.
            lb_arn = str(inputs.get("loadBalancerArn", ""))
            lb_part = (
                lb_arn.split(":loadbalancer/", 1)[1]
                if ":loadbalancer/" in lb_arn
                else f"app/codex/{digest(seed + 'lb')}"
            )
            out["arn"] = (
                f"arn:aws:elasticloadbalancing:{region}:{acct}:listener/{lb_part}/{digest(seed)}"
            )
            rid = out["arn"]
        elif typ == "aws:s3/bucket:Bucket":
            bucket = inputs.get("bucket") or f"{name}-{digest(seed, 7)}"
            out.update(
                bucket=bucket,
                arn=f"arn:aws:s3:::{bucket}",
                bucketDomainName=f"{bucket}.s3.amazonaws.com",
                bucketRegionalDomainName=f"{bucket}.s3.{region}.amazonaws.com",
            )
            rid = bucket
        elif typ == "aws:iam/role:Role":
            out.update(
                arn=f"arn:aws:iam::{acct}:role/{physical}",
                name=physical,
                uniqueId=digest(seed, 21).upper(),
            )
        elif typ == "aws:iam/policy:Policy":
            out.update(arn=f"arn:aws:iam::{acct}:policy/{physical}", name=physical)
            rid = out["arn"]
        elif typ == "aws:sns/topic:Topic":
            out.update(arn=f"arn:aws:sns:{region}:{acct}:{physical}", name=physical)
            rid = out["arn"]
        elif typ == "aws:sqs/queue:Queue":
            out.update(
                arn=f"arn:aws:sqs:{region}:{acct}:{physical}",
                url=f"https://sqs.{region}.amazonaws.com/{acct}/{physical}",
                name=physical,
            )
            rid = out["url"]
        elif typ == "aws:lambda/function:Function":
            arn = f"arn:aws:lambda:{region}:{acct}:function:{physical}"
            out.update(
                arn=arn,
                name=physical,
                qualifiedArn=f"{arn}:1",
                invokeArn=f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations",
                version="1",
            )
        elif typ == "aws:dynamodb/table:Table":
            out.update(arn=f"arn:aws:dynamodb:{region}:{acct}:table/{physical}", name=physical)
        elif typ == "aws:kms/key:Key":
            key_id = uuid_from(seed)
            out.update(arn=f"arn:aws:kms:{region}:{acct}:key/{key_id}", keyId=key_id)
            rid = key_id
        elif typ == "aws:kms/alias:Alias":
            out.update(arn=f"arn:aws:kms:{region}:{acct}:{physical}")
        elif typ == "aws:ssm/parameter:Parameter":
            out.update(arn=f"arn:aws:ssm:{region}:{acct}:parameter{physical}", name=physical)
        elif typ == "aws:cloudwatch/logGroup:LogGroup":
            out.update(arn=f"arn:aws:logs:{region}:{acct}:log-group:{physical}", name=physical)
        elif typ == "aws:cloudwatch/metricAlarm:MetricAlarm":
            out.update(arn=f"arn:aws:cloudwatch:{region}:{acct}:alarm:{physical}", name=physical)
        elif typ == "aws:cloudwatch/eventRule:EventRule":
            out.update(arn=f"arn:aws:events:{region}:{acct}:rule/{physical}", name=physical)
        elif typ == "aws:wafv2/webAcl:WebAcl":
            acl = f"regional/webacl/{physical}/{uuid_from(seed)}"
            out.update(arn=f"arn:aws:wafv2:{region}:{acct}:{acl}", name=physical, capacity=700)
            rid = uuid_from(seed)
        elif typ == "aws:ec2/securityGroup:SecurityGroup":
            rid = f"sg-{digest(seed, 17)}"
            out.update(arn=f"arn:aws:ec2:{region}:{acct}:security-group/{rid}", name=physical)
        elif (
            typ.startswith("aws:vpc/securityGroup")
            or typ == "aws:ec2/securityGroupRule:SecurityGroupRule"
        ):
            rid = f"sgr-{digest(seed, 17)}"
            out.update(arn=f"arn:aws:ec2:{region}:{acct}:security-group-rule/{rid}")
        elif typ == "aws:route53/record:Record":
            rid = f"{inputs.get('zoneId')}_{inputs.get('name')}_{inputs.get('type')}"
            out["fqdn"] = inputs.get("name")
        elif "arn" not in out:
            out["arn"] = f"arn:aws:{module}:{region}:{acct}:{physical}"
        out["id"] = rid
        return rid, out

    # -- invokes --------------------------------------------------------------------------------

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list]:
        token = args.token
        if token in self.invokes:
            answer = self.invokes[token]
            return (answer(args.args) if callable(answer) else answer), []
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": self.account,
                "arn": f"arn:aws:iam::{self.account}:user/offline",
                "userId": "AIDAOFFLINE",
                "id": self.account,
            }, []
        if token in ("aws:index/getRegion:getRegion", "aws:index/region:getRegion"):
            return {"name": self.region, "region": self.region, "id": self.region}, []
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}, []
        raise NotImplementedError(
            f"offline plan has no answer for invoke {token} {json.dumps(args.args, default=str)}"
        )


# -- what the providers' Check fills in -----------------------------------------------------------


@functools.cache
def aws_auto_name_property(typ: str) -> str | None:
    """The property pulumi-aws auto-names for `typ`, or None.

    The bridge auto-names a resource's optional `name` (S3 buckets: `bucket`) when neither it
    nor its `namePrefix` is given. Whether the resource has such an optional property is read
    from the installed SDK's args class.
    """
    parts = typ.split(":")
    if len(parts) != 3 or parts[0] != "aws":
        return None
    module, cls = parts[1].split("/")[0], parts[2]
    try:
        package = importlib.import_module(f"pulumi_aws.{module}")
    except ImportError:
        try:
            package = importlib.import_module(f"pulumi_aws.{module}_")
        except ImportError:
            return None
    resource = getattr(package, cls, None)
    if resource is None:
        return None
    # The SDK calls a resource's args <Name>InitArgs where a nested input type took <Name>Args.
    home = sys.modules[resource.__module__]
    args_class = getattr(home, f"{cls}InitArgs", None) or getattr(home, f"{cls}Args", None)
    if args_class is None:
        return None
    params = inspect.signature(args_class.__init__).parameters
    for prop, param in (("bucket", "bucket"), ("name", "name")):
        if param in params and params[param].default is not inspect.Parameter.empty:
            if prop == "bucket" and typ != "aws:s3/bucket:Bucket":
                continue
            return prop
    return None


def checked_inputs(typ: str, name: str, inputs: dict[str, Any], seed: str) -> dict[str, Any]:
    """`inputs` with the auto-name a provider's Check adds (deterministic here, random there):
    AWS `<name>-<7 hex>` (the bridge's format), Kubernetes `metadata.name` `<name>-<8 hex>`."""
    if typ.startswith("aws:"):
        prop = aws_auto_name_property(typ)
        if prop and not inputs.get(prop) and not inputs.get(f"{prop}Prefix"):
            auto = f"{name}-{digest(seed, 7)}"
            return {**inputs, prop: auto.lower() if prop == "bucket" else auto}
        return inputs
    if typ == "kubernetes:helm.sh/v3:Release":
        if not inputs.get("name"):
            return {**inputs, "name": f"{name}-{digest(seed, 8)}"}
        return inputs
    if typ == SECRET_TYPE and inputs.get("stringData") is not None:
        inputs = _secret_data(inputs)
    if typ.startswith("kubernetes:") and not typ.startswith("kubernetes:yaml"):
        metadata = inputs.get("metadata")
        if isinstance(metadata, dict) and not metadata.get("name"):
            if not metadata.get("generateName"):
                return {**inputs, "metadata": {**metadata, "name": f"{name}-{digest(seed, 8)}"}}
        elif metadata is None and "apiVersion" in inputs:
            return {**inputs, "metadata": {"name": f"{name}-{digest(seed, 8)}"}}
    return inputs


SECRET_TYPE = "kubernetes:core/v1:Secret"


def _base64(value: Any) -> Any:
    """A stringData value as base64 data; secret wrappers and unknowns keep their shape."""
    if isinstance(value, dict) and SECRET_SIG in value:
        return {**value, "value": _base64(value["value"])} if "value" in value else value
    if isinstance(value, dict):
        return {k: _base64(v) for k, v in value.items()}
    if isinstance(value, str) and value != UNKNOWN:
        return base64.b64encode(value.encode()).decode()
    return value


def _secret_data(inputs: dict[str, Any]) -> dict[str, Any]:
    """A Secret as the Kubernetes provider's Check leaves it: stringData merged into data."""
    checked = {k: v for k, v in inputs.items() if k != "stringData"}
    converted = _base64(inputs["stringData"])
    data = inputs.get("data")
    if isinstance(data, dict) and SECRET_SIG not in data and SECRET_SIG not in converted:
        checked["data"] = {**data, **converted}
    else:
        checked["data"] = converted
    return checked


def uuid_from(seed: str) -> str:
    """A deterministic UUID-shaped id derived from `seed`."""
    h = digest(seed, 32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def ledger_invokes(stack: str, ledger: str | None) -> dict[str, Any]:
    """Offline answers (token -> callable) for the ledger invoke.

    `ledger` is the text of `--ledger FILE`, or None: then the parameter does not exist, as on
    a stack's first deploy.
    """
    name = ledger_parameter_name(stack)

    def answer(args: dict[str, Any]) -> dict[str, Any]:
        path = str(args.get("path", "")).rstrip("/")
        hit = ledger is not None and path == ssm_prefix(stack)
        return {
            "id": path,
            "path": path,
            "recursive": bool(args.get("recursive", False)),
            "withDecryption": bool(args.get("withDecryption", False)),
            "names": [name] if hit else [],
            "values": [ledger] if hit else [],
            "types": ["String"] if hit else [],
        }

    return {LEDGER_INVOKE: answer}
