"""The offline policy check: engine-faithful wire form and config reconciliation, the pack's
metadata over GetAnalyzerInfo, report formats, the `rollout policy` CLI, and zero violations on
the project's own stacks at every week."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rollout_cli.policycheck import (
    PolicyCheckError,
    PolicyConfig,
    PolicyHost,
    Report,
    pack_policies,
    parse_policy_pack_config,
    plan_state,
    reconcile_config,
    render_coverage,
    render_json,
    render_junit,
    render_markdown,
    render_sarif,
    render_text,
    to_wire,
)

from rollout_cli.offline import SECRET_SIG as SIG_KEY
from rollout_cli.offline import UNKNOWN
from tests.conftest import STACKS, WEEKS, plan_of, run_cli
from tests.policies.state import SECRET_SIG, TAGS, StateBuilder, deployment

SECRET = SECRET_SIG[SIG_KEY]
CONFIG_NAMES = {
    "allowedRegions",
    "allowedRegistries",
    "allowedLicenses",
    "deniedLicenses",
    "allowedChartRepositories",
    "minRetentionDays",
    "maxRetentionDays",
    "requiredTags",
    "allowedTlsPolicies",
}


@pytest.fixture(scope="module")
def pack() -> Iterator[PolicyHost]:
    with PolicyHost() as host:
        yield host


def violating_state() -> dict[str, Any]:
    """One mandatory (critical) and one advisory (medium) violation."""
    b = StateBuilder()
    b.add(
        "aws:ec2/securityGroup:SecurityGroup",
        "ssh",
        {
            "ingress": [
                {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}
            ],
            "tags": TAGS,
        },
    )
    b.add("aws:cloudwatch/logGroup:LogGroup", "app", {"kmsKeyId": "k", "tags": TAGS})
    return b.state()


# -- wire form ------------------------------------------------------------------------------------


def test_to_wire_converts_state_values_the_way_the_engine_does() -> None:
    ref = {SIG_KEY: "5cf8f73096256a8f31e491e813e4eb8e", "urn": "urn:x", "id": "sg-1"}
    component_ref = {SIG_KEY: "5cf8f73096256a8f31e491e813e4eb8e", "urn": "urn:c", "id": ""}
    unknown_output = {SIG_KEY: "d0e6a833031e9bbcd3f4e8bde6ca49a4"}
    secret_output = {SIG_KEY: "d0e6a833031e9bbcd3f4e8bde6ca49a4", "value": "v", "secret": True}
    state = {
        "plain": {"n": 1, "list": [True, None]},
        "shown": {**SECRET_SIG, "plaintext": '{"a": 1}'},
        "hidden": {**SECRET_SIG, "ciphertext": "v1:abc"},
        "ref": ref,
        "componentRef": component_ref,
        "unknownOutput": unknown_output,
        "secretOutput": secret_output,
        "__defaults": ["x"],
        "nested": {"__meta": "{}", "keep": 1},
    }
    from rollout_cli.policycheck import WireCounters

    counters = WireCounters()
    assert to_wire(state, counters) == {
        "plain": {"n": 1, "list": [True, None]},
        "shown": {SIG_KEY: SECRET, "value": {"a": 1}},
        "hidden": {SIG_KEY: SECRET, "value": UNKNOWN},
        "ref": "sg-1",
        "componentRef": "urn:c",
        "unknownOutput": UNKNOWN,
        "secretOutput": {SIG_KEY: SECRET, "value": "v"},
        "nested": {"keep": 1},
    }
    assert counters.hidden == {""}


def test_unknown_values_are_not_evaluated(pack: PolicyHost) -> None:
    # As in a preview: the policy cannot read the value, so it reports itself not evaluated.
    b = StateBuilder()
    b.add(
        "aws:cloudwatch/logGroup:LogGroup",
        "app",
        {"retentionInDays": UNKNOWN, "kmsKeyId": "k", "tags": TAGS},
    )
    report = pack.evaluate(b.state())
    assert [v for v in report.violations if v.policy == "gdpr-log-retention"] == []
    reasons = [n.reason for n in report.not_applicable if n.policy == "gdpr-log-retention"]
    assert len(reasons) == 1 and "can't be known during preview" in reasons[0]


def test_encrypted_secrets_are_counted(pack: PolicyHost) -> None:
    b = StateBuilder()
    b.add("kubernetes:core/v1:Secret", "s", {"stringData": {**SECRET_SIG, "ciphertext": "v1:x"}})
    report = pack.evaluate(b.state())
    assert report.hidden_secrets == 1
    assert "encrypted secrets of 1 resource(s) could not be read offline" in render_text(report)


@pytest.mark.parametrize(
    ("state", "error"),
    [
        ({"version": 3}, "not a stack export"),
        ({"version": 9, "deployment": {"resources": []}}, "unsupported stack export version 9"),
        ({"deployment": {"resources": {}}}, "deployment.resources is not a list"),
        (
            {"deployment": {"resources": [{"urn": "x", "type": "t"}]}},
            "resources[0].urn is not a Pulumi URN",
        ),
        ({"deployment": {"resources": [{"urn": "urn:pulumi:s::p::t::n"}]}}, "has no type"),
    ],
)
def test_bad_state_is_bad_input(pack: PolicyHost, state: Any, error: str) -> None:
    with pytest.raises(PolicyCheckError, match=re.escape(error)):
        pack.evaluate(state)


# -- config reconciliation ------------------------------------------------------------------------


def levels(config: dict[str, PolicyConfig]) -> dict[str, str | None]:
    return {name: c.enforcement_level for name, c in config.items()}


def test_reconcile_fills_defaults_then_applies_all_then_each_policy() -> None:
    policies = pack_policies()
    given = parse_policy_pack_config(
        {
            "all": "advisory",
            "gdpr-log-retention": {"enforcementLevel": "mandatory", "maxRetentionDays": 731},
            "k8s-image-pinned": "disabled",
        },
        "test",
    )
    config = reconcile_config(policies, {}, given)
    assert set(config) == {p.name for p in policies}
    assert levels(config)["gdpr-log-retention"] == "mandatory"
    assert levels(config)["k8s-image-pinned"] == "disabled"
    assert levels(config)["iam-no-wildcard-admin"] == "advisory"
    retention = config["gdpr-log-retention"].properties
    assert retention == {"minRetentionDays": 30, "maxRetentionDays": 731}


def test_reconcile_without_config_keeps_each_policy_default() -> None:
    policies = pack_policies()
    config = reconcile_config(policies, {}, {})
    assert levels(config) == {p.name: p.enforcement_level for p in policies}
    assert config["gdpr-data-residency"].properties == {
        "allowedRegions": [
            "eu-central-1",
            "eu-west-1",
            "eu-west-3",
            "eu-north-1",
            "eu-south-1",
            "eu-south-2",
        ]
    }


@pytest.mark.parametrize(
    ("document", "error"),
    [
        (
            {"gdpr-log-retention": {"minRetentionDays": "thirty"}},
            "gdpr-log-retention: minRetentionDays: 'thirty' is not of type 'integer'",
        ),
        ({"k8s-image-pinned": {"allowedRegistries": "ghcr.io"}}, "is not of type 'array'"),
        ({"no-such-policy": "mandatory"}, "no policy named 'no-such-policy'"),
        ({"all": "strict"}, "'strict' is not a valid enforcement level"),
        ({"k8s-image-pinned": {"enforcementLevel": 1}}, "enforcementLevel 1 is not one of"),
        ({"k8s-image-pinned": 3}, "3 is not a valid value; must be a string or object"),
        (["all"], "must be a JSON object"),
    ],
)
def test_bad_config_is_one_line(document: Any, error: str) -> None:
    with pytest.raises(PolicyCheckError, match=re.escape(error)) as caught:
        reconcile_config(pack_policies(), {}, parse_policy_pack_config(document, "cfg"))
    assert "\n" not in str(caught.value)


def test_disabling_all_policies_over_the_wire(pack: PolicyHost) -> None:
    report = pack.evaluate(violating_state(), parse_policy_pack_config({"all": "disabled"}, "t"))
    assert report.violations == [] and report.evaluated == []
    assert report.as_dict()["summary"]["policies"] == 0


def test_enforcement_level_from_config_reaches_the_diagnostics(pack: PolicyHost) -> None:
    config = parse_policy_pack_config({"security-group-no-public-ingress": "advisory"}, "t")
    report = pack.evaluate(violating_state(), config)
    assert {v.enforcement_level for v in report.violations} == {"advisory"}
    assert report.exit_code == 0


# -- the pack's metadata --------------------------------------------------------------------------


def test_every_policy_has_full_metadata(pack: PolicyHost) -> None:
    policies = pack.info.policies
    assert len(policies) >= 21
    assert pack.info.name == "codex-rollout-policies" and pack.info.version == "0.1.0"
    for p in policies:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", p.name)
        assert p.description and p.remediation and p.severity
        assert p.framework and p.framework_version and p.reference, p.name
        expected = "mandatory" if p.severity in ("high", "critical") else "advisory"
        assert p.enforcement_level == expected, p.name
    schema_names = {k for p in policies for k in p.config_schema}
    assert schema_names >= CONFIG_NAMES
    # The wire metadata equals the in-process one the coverage command uses.
    assert policies == pack_policies()


def test_coverage_matrix() -> None:
    text = render_coverage(pack_policies(), "text")
    assert "SOC 2" in text and "GDPR" in text and "CIS AWS Foundations Benchmark" in text
    matrix = json.loads(render_coverage(pack_policies(), "json"))["frameworks"]
    assert "iam-no-wildcard-admin" in matrix["CIS AWS Foundations Benchmark"]["1.16"]
    assert "gdpr-data-residency" in matrix["GDPR"]["Art. 44"]
    markdown = render_coverage(pack_policies(), "markdown")
    assert markdown.splitlines()[0].startswith("| Policy | Severity | CIS AWS")


# -- report formats -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def report(pack: PolicyHost) -> Report:
    return pack.evaluate(violating_state())


def test_json_shape(report: Report) -> None:
    document = json.loads(render_json(report))
    assert set(document) == {"summary", "violations", "notApplicable"}
    assert document["summary"] == {"resources": 5, "policies": 21, "violations": 2, "mandatory": 1}
    first = document["violations"][0]
    assert set(first) == {
        "policy",
        "urn",
        "type",
        "enforcementLevel",
        "severity",
        "message",
        "framework",
        "reference",
    }
    assert first["policy"] == "security-group-no-public-ingress"
    assert first["enforcementLevel"] == "mandatory" and first["severity"] == "critical"
    assert first["framework"] == "CIS AWS Foundations Benchmark" and first["reference"] == "5.2"
    assert first["type"] == "aws:ec2/securityGroup:SecurityGroup"
    assert document["violations"][1]["policy"] == "gdpr-log-retention"
    assert {n["policy"] for n in document["notApplicable"]} >= {"rollout-weights-sum-to-100"}


def test_sarif(report: Report) -> None:
    document = json.loads(render_sarif(report, "Pulumi.prod.yaml"))
    assert document["version"] == "2.1.0"
    run = document["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert len({r["id"] for r in rules}) == len(rules) == 21
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in ("error", "warning", "note")
        location = result["locations"][0]
        assert location["physicalLocation"]["artifactLocation"]["uri"] == "Pulumi.prod.yaml"
        assert location["logicalLocations"][0]["fullyQualifiedName"].startswith("urn:pulumi:")
    assert [r["level"] for r in run["results"]] == ["error", "warning"]
    security = {r["id"]: r["properties"]["security-severity"] for r in rules}
    assert security["iam-no-wildcard-admin"] == "9.5"


def test_junit(report: Report) -> None:
    root = ET.fromstring(render_junit(report).split("\n", 1)[1])
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.get("tests") == "21" and suite.get("failures") == "1"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["security-group-no-public-ingress"].find("failure") is not None
    retention = cases["gdpr-log-retention"]
    assert retention.find("failure") is None
    assert "advisory" in (retention.findtext("system-out") or "")


def test_markdown_groups_by_framework_worst_first(report: Report) -> None:
    text = render_markdown(report)
    assert text.startswith("### ❌ Policy check: `prod`")
    headings = [line for line in text.splitlines() if line.startswith("#### ")]
    assert headings == ["#### CIS AWS Foundations Benchmark (1)", "#### GDPR (1)"]
    assert "Coverage: policies by framework control" in text


def test_text_and_verdict(report: Report) -> None:
    text = render_text(report)
    assert text.splitlines()[-1] == (
        "policy check FAIL: 2 violation(s), 1 mandatory, 21 policies, 5 resources (prod)"
    )


# -- the command line -----------------------------------------------------------------------------


def write(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document))
    return path


def test_cli_exit_codes_and_formats(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.json", violating_state())
    result = run_cli("policy", "check", "--export", str(bad), "--format", "json")
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["summary"]["mandatory"] == 1

    config = write(tmp_path / "config.json", {"security-group-no-public-ingress": "advisory"})
    out = tmp_path / "report.sarif"
    result = run_cli(
        "policy",
        "check",
        "--export",
        str(bad),
        "--config",
        str(config),
        "--format",
        "sarif",
        "--output",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("policy check PASS")
    assert json.loads(out.read_text())["version"] == "2.1.0"


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--export", "missing.json"], "error: --export missing.json: cannot read"),
        (
            ["--export", "{state}", "--config", "{config}"],
            "error: invalid policy config: gdpr-log-retention: maxRetentionDays",
        ),
        (["--export", "{state}", "--format", "yaml"], "error: --format 'yaml'"),
        (
            ["--export", "{state}", "--stack", "prod"],
            "error: give exactly one of --stack or --export",
        ),
        (["--export", "{state}", "--week", "3"], "error: --week and --ledger go with --stack"),
        (["--stack", "nosuchstack"], "error: "),
        (["--export", "{garbage}"], "error: --export"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], error: str) -> None:
    files = {
        "state": write(tmp_path / "state.json", StateBuilder().state()),
        "config": write(tmp_path / "c.json", {"gdpr-log-retention": {"maxRetentionDays": -1}}),
        "garbage": tmp_path / "garbage.json",
    }
    files["garbage"].write_text("{oops")
    argv = [a.format(**{k: str(v) for k, v in files.items()}) for a in args]
    result = run_cli("policy", "check", *argv)
    assert result.returncode == 2
    assert result.stderr.startswith(error)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_cli_reads_a_render_directory(tmp_path: Path) -> None:
    b = StateBuilder()
    b.add("kubernetes:apps/v1:Deployment", "api", deployment())
    write(tmp_path / "resources.json", b.state())
    result = run_cli("policy", "check", "--export", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_cli_coverage() -> None:
    result = run_cli("policy", "coverage", "--format", "markdown")
    assert result.returncode == 0
    assert "`rollout-rollback-budget`" in result.stdout


# -- the project's own stacks ---------------------------------------------------------------------


@pytest.mark.parametrize("week", WEEKS)
@pytest.mark.parametrize("stack", STACKS)
def test_project_stacks_have_no_violations(pack: PolicyHost, stack: str, week: int) -> None:
    report = pack.evaluate(plan_state(plan_of(stack, week)))
    assert report.hidden_secrets == 0
    found = [f"{v.policy} {v.urn}: {v.message}" for v in report.violations]
    assert found == []
    unevaluated = [n for n in report.not_applicable if n.reason.startswith("can't run policy")]
    assert unevaluated == []


def test_plan_shows_the_policy_verdict() -> None:
    from rollout_cli.summary import summarise

    summary = summarise(plan_of("prod", 9))
    section = next(s for s in summary.sections if s.title == "policy")
    assert section.problems == []
    assert section.lines[0].startswith("policy check PASS: 0 violation(s)")


def test_the_engine_address_given_to_the_pack_answers(pack: PolicyHost) -> None:
    import grpc  # type: ignore[import-untyped]
    from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc

    with grpc.insecure_channel(pack.engine_address) as channel:
        engine = engine_pb2_grpc.EngineStub(channel)
        engine.Log(engine_pb2.LogRequest(severity=engine_pb2.WARNING, message="hello", urn="u"))
        engine.SetRootResource(engine_pb2.SetRootResourceRequest(urn="urn:root"))
        assert engine.GetRootResource(engine_pb2.GetRootResourceRequest()).urn == "urn:root"
    assert ("warning", "u", "hello") in pack.engine.logs
