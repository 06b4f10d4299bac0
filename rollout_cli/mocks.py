"""Realistic mock outputs for the offline plan: what the providers would return after `up`.

Outputs are deterministic (derived from the resource's URN) so that two offline runs of the same
config give the same state, and a diff between weeks shows only what the config changed.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pulumi

from infra.ledger import LEDGER_INVOKE
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

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        typ, name = args.typ, args.name
        inputs = dict(args.inputs)
        seed = f"{self.stack}:{typ}:{name}"
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
