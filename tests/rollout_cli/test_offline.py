"""The offline plan records requests the way the engine receives them, and exports like it."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable
from typing import Any

from infra.ledger import LEDGER_INVOKE
from rollout_cli.mocks import checked_inputs, ledger_invokes
from rollout_cli.offline import SECRET_SIG, SECRET_VALUE, PlanResult, export_state
from rollout_rules.contract import ledger_parameter_name

STACK_URN = "urn:pulumi:prod::codex-rollout::pulumi:pulumi:Stack::codex-rollout-prod"


def test_urns_carry_the_full_parent_type_chain(plan: Callable[..., PlanResult]) -> None:
    result = plan("prod", 8)
    deployment = result.find("::env-canary-codegen-api-deployment")
    assert deployment.urn == (
        "urn:pulumi:prod::codex-rollout::codex:environment:Environment"
        "$kubernetes:apps/v1:Deployment::env-canary-codegen-api-deployment"
    )
    assert deployment.parent == (
        "urn:pulumi:prod::codex-rollout::codex:environment:Environment::env-canary"
    )
    # Children of the stack carry no parent type: the engine skips the root stack.
    component = result.find("::env-canary")
    assert component.urn.split("::")[2] == "codex:environment:Environment"
    assert component.parent == STACK_URN


def test_inputs_are_wire_format(plan: Callable[..., PlanResult]) -> None:
    group = plan("prod", 8).find("::codex-tg-canary")
    assert group.inputs["healthCheck"]["unhealthyThreshold"] == 3
    assert group.inputs["targetType"] == "ip"
    assert isinstance(group.inputs["port"], int)


def test_dependencies_and_property_dependencies_are_recorded(
    plan: Callable[..., PlanResult],
) -> None:
    result = plan("prod", 8)
    listener = result.find("::codex-https")
    alb = result.find("::codex-alb")
    assert alb.urn in listener.dependencies
    assert alb.urn in listener.property_dependencies["loadBalancerArn"]


def test_secrets_stay_secret_in_the_export(plan: Callable[..., PlanResult]) -> None:
    result = plan("sandbox")
    provider = next(r for r in result.records if r.type == "pulumi:providers:kubernetes")
    assert provider.inputs["kubeconfig"][SECRET_SIG]
    exported = json.dumps(export_state(result))
    assert '"ciphertext"' in exported
    # The offline stand-in for a secret value never reaches the export in the clear.
    assert "[secret]" not in exported


def test_default_providers_are_synthesised_with_the_stack_region(
    plan: Callable[..., PlanResult],
) -> None:
    result = plan("prod", 3)
    aws = [r for r in result.records if r.type == "pulumi:providers:aws"]
    assert len(aws) == 1
    assert aws[0].inputs["region"] == "eu-central-1"
    bucket = result.find("::codex-access-logs")
    assert bucket.provider.startswith(aws[0].urn + "::")


def test_export_carries_the_stack_outputs(plan: Callable[..., PlanResult]) -> None:
    result = plan("prod", 8)
    (stack,) = [
        r
        for r in export_state(result)["deployment"]["resources"]
        if r["type"] == "pulumi:pulumi:Stack"
    ]
    assert stack["outputs"]["allocation"] == {"sandbox": 10, "canary": 10, "production": 80}
    assert stack["outputs"]["week"] == 8


def test_export_has_the_stack_export_shape(plan: Callable[..., PlanResult]) -> None:
    state = export_state(plan("sandbox"))
    assert state["version"] == 3
    resources = state["deployment"]["resources"]
    assert resources[0]["type"] == "pulumi:pulumi:Stack"
    for entry in resources:
        assert {"urn", "type", "custom"} <= entry.keys()
        # The engine omits empty property maps.
        for key in ("inputs", "outputs"):
            assert entry.get(key, None) != {}, (entry["urn"], key)
    urns = [r["urn"] for r in resources]
    assert len(urns) == len(set(urns))
    # Parents come before their children, as in an engine checkpoint.
    seen: set[str] = set()
    for entry in resources:
        if "parent" in entry:
            assert entry["parent"] in seen
        seen.add(entry["urn"])


def test_mocked_outputs_are_realistic_and_known(plan: Callable[..., PlanResult]) -> None:
    result = plan("prod", 8)
    alb = result.find("::codex-alb")
    assert alb.outputs["dnsName"].endswith(".eu-central-1.elb.amazonaws.com")
    assert alb.outputs["arnSuffix"].startswith("app/codex-prod/")
    listener = result.find("::codex-https")
    assert listener.outputs["arn"].startswith(
        alb.outputs["arn"].replace(":loadbalancer/", ":listener/") + "/"
    )
    tgb = result.find("::env-canary-codegen-api-tgb")
    group = result.find("::codex-tg-canary")
    assert tgb.inputs["spec"]["targetGroupARN"] == group.outputs["arn"]


def test_same_config_gives_the_same_state() -> None:
    from rollout_cli.offline import run_plan

    first = export_state(run_plan("sandbox", 5))
    second = export_state(run_plan("sandbox", 5))
    assert first == second


def test_offline_invoke_answers_like_get_parameters_by_path(held_ledger: dict[str, Any]) -> None:
    answer = ledger_invokes("prod", json.dumps(held_ledger))[LEDGER_INVOKE]
    found = answer({"path": "/codex-rollout/prod", "recursive": False})
    assert found["names"] == [ledger_parameter_name("prod")]
    assert json.loads(found["values"][0]) == held_ledger
    assert answer({"path": "/codex-rollout/sandbox"})["names"] == []
    empty = ledger_invokes("prod", None)[LEDGER_INVOKE]({"path": "/codex-rollout/prod"})
    assert empty["names"] == [] and empty["values"] == []


def test_export_is_importable_engine_shaped_state(plan: Callable[..., PlanResult]) -> None:
    state = export_state(plan("prod", 8))
    deployment = state["deployment"]
    manifest = deployment["manifest"]
    # `pulumi stack import` refuses a manifest whose magic is not sha256(version).
    assert manifest["magic"] == hashlib.sha256(manifest["version"].encode()).hexdigest()
    assert deployment["secrets_providers"]["type"]
    resources = deployment["resources"]
    providers = [r for r in resources if r["type"].startswith("pulumi:providers:")]
    assert {r["type"] for r in providers} == {"pulumi:providers:aws", "pulumi:providers:kubernetes"}
    for provider in providers:
        assert uuid.UUID(provider["id"]), provider["urn"]
        assert re.fullmatch(r"\d+\.\d+\.\d+", provider["inputs"]["version"]), provider["urn"]
    # Components keep their registered outputs.
    (environment,) = [r for r in resources if r["urn"].endswith("::env-canary") and not r["custom"]]
    assert environment["outputs"]["namespace"] == "codex-canary"


def test_state_holds_checked_inputs_with_auto_names(plan: Callable[..., PlanResult]) -> None:
    result = plan("prod", 8)
    # pulumi-aws auto-names an optional `name` the program leaves unset: <name>-<7 hex>.
    rule = result.find("::rollback-config")
    assert re.fullmatch(r"rollback-config-[0-9a-f]{7}", rule.inputs["name"])
    assert rule.outputs["name"] == rule.inputs["name"]
    role = result.find("::rollback-role")
    assert re.fullmatch(r"rollback-role-[0-9a-f]{7}", role.inputs["name"])
    # S3 buckets are auto-named by `bucket`; a name the program gives is kept.
    bucket = result.find("::codex-access-logs")
    assert re.fullmatch(r"codex-access-logs-[0-9a-f]{7}", bucket.inputs["bucket"])
    assert "name" not in bucket.inputs
    alarm = result.find("::rollback-canary-error-rate")
    assert alarm.inputs["name"] == "codex-rollout-prod-canary-error-rate"
    # Resources without a name property get none.
    assert "name" not in result.find("::codex-https").inputs


def test_kubernetes_check_fills_metadata_name_and_encodes_secrets() -> None:
    checked = checked_inputs(
        "kubernetes:core/v1:Secret",
        "creds",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"namespace": "monitoring"},
            "stringData": {SECRET_SIG: SECRET_VALUE, "value": {"token": "s3cr3t"}},
            "data": {},
        },
        "prod:kubernetes:core/v1:Secret:creds",
    )
    assert re.fullmatch(r"creds-[0-9a-f]{8}", checked["metadata"]["name"])
    assert "stringData" not in checked
    assert checked["data"] == {SECRET_SIG: SECRET_VALUE, "value": {"token": "czNjcjN0"}}
    named = checked_inputs(
        "kubernetes:core/v1:ConfigMap", "cm", {"metadata": {"name": "given"}}, "seed"
    )
    assert named["metadata"]["name"] == "given"
    generated = checked_inputs(
        "kubernetes:core/v1:ConfigMap", "cm", {"metadata": {"generateName": "x-"}}, "seed"
    )
    assert "name" not in generated["metadata"]
