"""Rollback component: the inputs the engine receives (offline plan under the mock runtime)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from components.rollback.component import FUNCTION_HANDLER, function_archive
from components.rollback.function.decision import decide
from policies.security import admin_statements
from rollout_cli.offline import SECRET_SIG, PlanResult, Record
from rollout_cli.stackfile import REPO_ROOT
from rollout_rules.contract import ENV_VARS
from rollout_rules.ledger import LEDGER_KEYS, NOT_HELD, effective_allocation, parse_ledger
from rollout_rules.plan import Allocation, tiers_with_environment
from rollout_rules.rollback import rollback_plan
from tests.conftest import STACKS, WEEKS

COMPONENT = "codex:rollback:Rollback"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TAGS = ("owner", "cost-center", "environment", "data-classification")
Plan = Callable[..., PlanResult]


def _mine(result: PlanResult) -> list[Record]:
    [component] = result.by_type(COMPONENT)
    return [r for r in result.records if r.parent == component.urn]


def _one(result: PlanResult, typ: str, name_suffix: str = "") -> Record:
    found = [r for r in _mine(result) if r.type == typ and r.name.endswith(name_suffix)]
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def _plain(value: object) -> object:
    """A recorded input with the secret wrapper removed."""
    if isinstance(value, dict) and SECRET_SIG in value:
        return value["value"]
    return value


def _tier_groups(result: PlanResult) -> dict[str, Record]:
    return {r.inputs["tags"]["tier"]: r for r in result.by_type("aws:lb/targetGroup:TargetGroup")}


def _https_listener(result: PlanResult) -> Record:
    [listener] = [r for r in result.by_type("aws:lb/listener:Listener") if r.inputs["port"] == 443]
    return listener


def _rollback_topic(result: PlanResult) -> Record:
    return _one(result, "aws:sns/topic:Topic", "-topic")


def _people_topic(result: PlanResult) -> Record:
    return _one(result, "aws:sns/topic:Topic", "-notify")


@pytest.mark.parametrize("stack", STACKS)
def test_every_child_is_parented_named_and_tagged(plan: Plan, stack: str) -> None:
    result = plan(stack, 8)
    taggable = set(
        json.loads((REPO_ROOT / "policies/aws_taggable_types.json").read_text())["types"]
    )
    config_tags = result.config.tags.as_dict()
    children = _mine(result)
    assert len(children) >= 30
    for record in children:
        assert record.name.startswith("rollback-"), record.name
        if record.type in taggable:
            tags = record.inputs.get("tags") or {}
            assert {k: tags.get(k) for k in TAGS} == config_tags, record.urn


@pytest.mark.parametrize("stack", STACKS)
def test_function_role_is_least_privilege(plan: Plan, stack: str) -> None:
    result = plan(stack, 8)
    policy = json.loads(_one(result, "aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    assert admin_statements(policy) == []
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert all(s["Effect"] == "Allow" for s in policy["Statement"])
    actions = sorted(a for s in policy["Statement"] for a in _list(s["Action"]))
    assert actions == sorted(
        [
            "elasticloadbalancing:ModifyListener",
            "elasticloadbalancing:DescribeListeners",
            "ssm:GetParameter",
            "ssm:PutParameter",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
            "sns:Publish",
            "sqs:SendMessage",
            "kms:Decrypt",
            "kms:Encrypt",
            "kms:GenerateDataKey",
            "kms:DescribeKey",
            "logs:CreateLogStream",
            "logs:PutLogEvents",
        ]
    )
    assert not any("*" in a for a in actions)
    # Only DescribeListeners (which supports no resource-level permissions) is on "*".
    star = [s["Sid"] for s in policy["Statement"] if "*" in _list(s["Resource"])]
    assert star == ["ReadListenerWeights"]
    assert by_sid["MoveTraffic"]["Resource"] == _https_listener(result).outputs["arn"]
    assert (
        by_sid["Ledger"]["Resource"] == _one(result, "aws:ssm/parameter:Parameter").outputs["arn"]
    )
    table_arn = _one(result, "aws:dynamodb/table:Table").outputs["arn"]
    assert by_sid["AuditAndLock"]["Resource"] == table_arn
    # DeleteItem only releases the stack's lock: on the audit table, and only the lock's key
    # (audit records are never deleted).
    release = by_sid["ReleaseLock"]
    assert (release["Action"], release["Resource"]) == ("dynamodb:DeleteItem", table_arn)
    assert release["Condition"] == {
        "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [f"lock#{stack}"]}
    }
    deletes = [s["Sid"] for s in policy["Statement"] if "dynamodb:DeleteItem" in _list(s["Action"])]
    assert deletes == ["ReleaseLock"]
    assert by_sid["NotifyPeople"]["Resource"] == _people_topic(result).outputs["arn"]
    assert by_sid["DeadLetters"]["Resource"] == _one(result, "aws:sqs/queue:Queue").outputs["arn"]
    assert by_sid["UseTheKey"]["Resource"] == _one(result, "aws:kms/key:Key").outputs["arn"]
    logs = _one(result, "aws:cloudwatch/logGroup:LogGroup").outputs["arn"]
    assert by_sid["WriteOwnLogs"]["Resource"] == [logs, f"{logs}:*"]
    trust = json.loads(_one(result, "aws:iam/role:Role").inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}


def _list(value: object) -> list:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("week", WEEKS)
def test_alarms_per_tier_with_an_environment_wired_to_both_topics(
    plan: Plan, stack: str, week: int
) -> None:
    result = plan(stack, week)
    alarms = [r for r in _mine(result) if r.type == ALARM]
    tiers = tiers_with_environment(week)
    assert sorted({a.inputs["tags"]["tier"] for a in alarms}) == sorted(tiers)
    assert len(alarms) == 4 * len(tiers)
    rollback_arn = _rollback_topic(result).outputs["arn"]
    people_arn = _people_topic(result).outputs["arn"]
    groups = _tier_groups(result)
    [alb] = result.by_type("aws:lb/loadBalancer:LoadBalancer")
    for alarm in alarms:
        inputs = alarm.inputs
        tier = inputs["tags"]["tier"]
        assert inputs["tags"]["purpose"] == "rollback"
        assert inputs["alarmActions"] == [rollback_arn, people_arn]
        assert inputs["okActions"] == [people_arn]
        assert inputs["treatMissingData"] == "notBreaching"
        assert inputs["evaluationPeriods"] == 1
        dimensions = [inputs.get("dimensions")] + [
            q["metric"]["dimensions"] for q in inputs.get("metricQueries", []) if "metric" in q
        ]
        for dims in filter(None, dimensions):
            assert dims == {
                "LoadBalancer": alb.outputs["arnSuffix"],
                "TargetGroup": groups[tier].outputs["arnSuffix"],
            }


def test_alarm_conditions(plan: Plan) -> None:
    result = plan("prod", 8)
    alarms = {r.name: r.inputs for r in _mine(result) if r.type == ALARM}
    error = alarms["rollback-canary-error-rate"]
    assert error["comparisonOperator"] == "GreaterThanThreshold"
    assert error["threshold"] == 0.01
    expression = next(q for q in error["metricQueries"] if q.get("returnData"))["expression"]
    assert expression == "IF(FILL(requests, 0) >= 6, FILL(errors, 0) / requests, 0)"
    metrics = {q["id"]: q["metric"] for q in error["metricQueries"] if "metric" in q}
    assert metrics["requests"]["metricName"] == "RequestCount"
    assert metrics["errors"]["metricName"] == "HTTPCode_Target_5XX_Count"
    assert {m["period"] for m in metrics.values()} == {60}
    latency = alarms["rollback-canary-latency-p95"]
    assert (latency["metricName"], latency["extendedStatistic"]) == ("TargetResponseTime", "p95")
    assert (latency["threshold"], latency["period"]) == (0.5, 60)
    none_healthy = alarms["rollback-canary-no-healthy"]
    assert (none_healthy["metricName"], none_healthy["statistic"]) == (
        "HealthyHostCount",
        "Minimum",
    )
    assert (none_healthy["comparisonOperator"], none_healthy["threshold"]) == (
        "LessThanThreshold",
        1,
    )
    majority = alarms["rollback-canary-unhealthy"]
    assert majority["threshold"] == 0.5
    assert next(q for q in majority["metricQueries"] if q.get("returnData"))["expression"] == (
        "FILL(unhealthy, 0) / (FILL(healthy, 0) + FILL(unhealthy, 0))"
    )


@pytest.mark.parametrize("stack", STACKS)
def test_function(plan: Plan, stack: str) -> None:
    result = plan(stack, 8)
    inputs = _one(result, "aws:lambda/function:Function").inputs
    config = result.config
    assert inputs["runtime"] == "python3.12"
    assert inputs["handler"] == FUNCTION_HANDLER == "rollback_function.handler.handler"
    # The function package and rollout_rules, file by file, exactly as function_archive lays
    # them out (the archive test runs that layout).
    assets = inputs["code"]["assets"]
    assert {path: asset["path"] for path, asset in assets.items()} == {
        path: str(source) for path, source in function_archive().items()
    }
    assert "rollback_function/handler.py" in assets
    assert "rollout_rules/rollback.py" in assets
    assert inputs["reservedConcurrentExecutions"] == config.rollback.reserved_concurrency
    assert inputs["timeout"] <= 120
    assert inputs["tags"]["purpose"] == "rollback"
    assert (
        inputs["deadLetterConfig"]["targetArn"]
        == _one(result, "aws:sqs/queue:Queue").outputs["arn"]
    )
    assert inputs["kmsKeyArn"] == _one(result, "aws:kms/key:Key").outputs["arn"]
    assert inputs["loggingConfig"]["logGroup"] == f"/codex-rollout/{stack}/rollback-function"
    variables = inputs["environment"]["variables"]
    assert sorted(variables) == sorted(ENV_VARS)
    assert variables["ROLLOUT_STACK"] == stack
    assert variables["ROLLOUT_LISTENER_ARN"] == _https_listener(result).outputs["arn"]
    assert json.loads(variables["ROLLOUT_TARGET_GROUPS"]) == {
        tier: group.outputs["arn"] for tier, group in _tier_groups(result).items()
    }
    assert variables["ROLLOUT_LEDGER_PARAMETER"] == f"/codex-rollout/{stack}/rollback-ledger"
    assert (
        variables["ROLLOUT_AUDIT_TABLE"] == _one(result, "aws:dynamodb/table:Table").outputs["name"]
    )
    assert variables["ROLLOUT_NOTIFY_TOPIC_ARN"] == _people_topic(result).outputs["arn"]
    plan_json = json.loads(variables["ROLLOUT_ROLLBACK_PLAN"])
    assert plan_json["week"] == 8
    assert (
        plan_json["allocations"]
        == rollback_plan(8, tiers_with_environment(8)).as_dict()["allocations"]
    )
    assert plan_json["allocations"]["canary"] == {"sandbox": 11, "canary": 0, "production": 89}
    assert plan_json["budget"]["worstCaseSeconds"] == 105
    assert plan_json["budget"]["limitSeconds"] == 120


@pytest.mark.parametrize("stack", STACKS)
def test_triggers_reach_the_function(plan: Plan, stack: str) -> None:
    result = plan(stack, 8)
    function = _one(result, "aws:lambda/function:Function").outputs
    topic = _rollback_topic(result)
    assert topic.inputs["tags"]["purpose"] == "rollback"
    assert _people_topic(result).inputs["tags"]["purpose"] == "rollback-notify"
    subscription = _one(result, "aws:sns/topicSubscription:TopicSubscription", "-subscription")
    assert subscription.inputs["protocol"] == "lambda"
    assert subscription.inputs["endpoint"] == function["arn"]
    assert subscription.inputs["topic"] == topic.outputs["arn"]
    permissions = {
        r.inputs["principal"]: r.inputs
        for r in _mine(result)
        if r.type == "aws:lambda/permission:Permission"
    }
    assert permissions["sns.amazonaws.com"]["sourceArn"] == topic.outputs["arn"]
    rules = {r.name: r for r in _mine(result) if r.type == "aws:cloudwatch/eventRule:EventRule"}
    guardduty = json.loads(rules["rollback-guardduty"].inputs["eventPattern"])
    assert guardduty["source"] == ["aws.guardduty"]
    assert guardduty["detail"]["severity"] == [{"numeric": [">=", 7]}]
    config = json.loads(rules["rollback-config"].inputs["eventPattern"])
    assert config["detail"]["newEvaluationResult"]["complianceType"] == ["NON_COMPLIANT"]
    targets = [
        r.inputs for r in _mine(result) if r.type == "aws:cloudwatch/eventTarget:EventTarget"
    ]
    assert len(targets) == 2
    dlq = _one(result, "aws:sqs/queue:Queue").outputs["arn"]
    for target in targets:
        assert target["arn"] == function["arn"]
        assert target["deadLetterConfig"]["arn"] == dlq
    events = [
        r.inputs["sourceArn"]
        for r in _mine(result)
        if r.type == "aws:lambda/permission:Permission"
        and r.inputs["principal"] == "events.amazonaws.com"
    ]
    assert sorted(events) == sorted(r.outputs["arn"] for r in rules.values())


@pytest.mark.parametrize(("stack", "protected"), [("prod", True), ("sandbox", False)])
def test_audit_table_and_ledger(plan: Plan, stack: str, protected: bool) -> None:
    result = plan(stack, 8)
    table = _one(result, "aws:dynamodb/table:Table")
    assert "audit" in table.name
    assert table.inputs["hashKey"] == "eventId"
    assert table.inputs["serverSideEncryption"]["enabled"] is True
    assert table.inputs["serverSideEncryption"]["kmsKeyArn"].startswith("arn:aws:kms:")
    assert table.inputs["pointInTimeRecovery"]["enabled"] is True
    assert table.inputs["deletionProtectionEnabled"] is protected
    ledger = _one(result, "aws:ssm/parameter:Parameter")
    assert ledger.inputs["name"] == f"/codex-rollout/{stack}/rollback-ledger"
    assert ledger.inputs["type"] == "String"
    initial = json.loads(str(_plain(ledger.inputs["value"])))
    assert initial == {
        "held": False,
        "allocation": None,
        "reason": None,
        "trigger": None,
        "tier": None,
        "at": None,
        "eventId": None,
    }
    # The function owns the value: a re-apply never resets a held ledger.
    assert ledger.options["ignoreChanges"] == ["value"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_declared_initial_ledger_has_every_key_and_parses(plan: Plan, stack: str) -> None:
    result = plan(stack, 8)
    text = str(_plain(_one(result, "aws:ssm/parameter:Parameter").inputs["value"]))
    initial = json.loads(text)
    # All seven keys of the ledger, in its order: held false, the others null.
    assert tuple(initial) == LEDGER_KEYS
    assert initial["held"] is False
    assert all(initial[key] is None for key in LEDGER_KEYS[1:])
    # The program reads it as not held: the listener declares the schedule.
    ledger = parse_ledger(text, "ledger")
    assert ledger.held is False
    assert ledger.as_dict() == initial
    scheduled = Allocation(10, 10, 80)
    effective = effective_allocation(scheduled, ledger, tiers_with_environment(8))
    assert (effective.allocation, effective.held) == (scheduled, False)
    # The function reads the same value: a rollback decides as from an unheld ledger.
    assert initial == NOT_HELD
    live = {"sandbox": 10, "canary": 10, "production": 80}
    planned = {"sandbox": 11, "canary": 0, "production": 89}
    assert decide(planned, "canary", live, initial).after == planned


@pytest.mark.parametrize("stack", STACKS)
def test_encryption_and_retention(plan: Plan, stack: str) -> None:
    result = plan(stack, 8)
    key = _one(result, "aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True
    principals = [s["Principal"] for s in json.loads(key.inputs["policy"])["Statement"]]
    assert {"Service": "cloudwatch.amazonaws.com"} in principals
    assert {"Service": f"logs.{result.config.region}.amazonaws.com"} in principals
    key_arn = key.outputs["arn"]
    for topic in (_rollback_topic(result), _people_topic(result)):
        assert topic.inputs["kmsMasterKeyId"] == key_arn
    assert _one(result, "aws:sqs/queue:Queue").inputs["kmsMasterKeyId"] == key_arn
    logs = _one(result, "aws:cloudwatch/logGroup:LogGroup").inputs
    assert logs["kmsKeyId"] == key_arn
    assert logs["retentionInDays"] == result.config.rollback.log_retention_days


def test_outputs(plan: Plan) -> None:
    outputs = plan("prod", 8).stack_outputs["rollback"]
    assert outputs["ledgerParameterName"] == "/codex-rollout/prod/rollback-ledger"
    assert outputs["functionName"] == "codex-rollout-prod-rollback"
    assert "audit" in outputs["auditTableName"]
    assert outputs["topicArn"].startswith("arn:aws:sns:eu-central-1:")
    assert outputs["budget"]["worstCaseSeconds"] == 105
