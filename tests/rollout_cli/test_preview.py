"""Previews the way the engine makes them (`--from-week`): what exists keeps its outputs, what is
new gets its checked inputs and unknown computed outputs, and a first deploy knows nothing.

The expectations come from two plain plans (the weeks before and after), never from the preview
code: a resource is new exactly when its URN is absent from the earlier week's plan.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from rollout_cli.offline import UNKNOWN, PlanResult
from rollout_cli.stackfile import REPO_ROOT
from rollout_rules.contract import LISTENER_TYPE, STACK_TYPE, TARGET_GROUP_TYPE
from tests.conftest import plan_of, preview_of, run_cli

PROVIDER = "pulumi:providers:"


def customs(plan: PlanResult) -> dict[str, Any]:
    return {r.urn: r for r in plan.records if r.custom and not r.type.startswith(PROVIDER)}


def https(plan: PlanResult) -> Any:
    (listener,) = [r for r in plan.by_type(LISTENER_TYPE) if r.inputs.get("port") == 443]
    return listener


def test_week_3_to_4_gives_new_resources_unknown_outputs() -> None:
    before, after = plan_of("prod", 3), plan_of("prod", 4)
    preview = preview_of("prod", 4, 3)
    expected_new = sorted(set(customs(after)) - set(customs(before)))
    assert expected_new  # the canary tier's environment arrives at week 4
    assert sorted(preview.new) == expected_new
    records, planned = customs(preview), customs(after)
    for urn in expected_new:
        record = records[urn]
        assert record.id == "", urn
        known = planned[urn]
        for key in ("arn", "arnSuffix", "id"):
            if key in known.outputs and key not in known.inputs:
                assert record.outputs[key] == UNKNOWN, (urn, key)
    for urn, old in customs(before).items():
        if urn in records:
            assert records[urn].id == old.id, urn
            if "arn" in old.outputs:
                assert records[urn].outputs["arn"] == old.outputs["arn"], urn


def test_the_listener_sees_the_new_target_group_as_unknown() -> None:
    preview = preview_of("prod", 4, 3)
    groups = {
        r.inputs["tags"]["tier"]: r.outputs["arn"] for r in preview.by_type(TARGET_GROUP_TYPE)
    }
    assert groups["canary"] == UNKNOWN
    assert groups["sandbox"] == plan_of("prod", 3).find("::codex-tg-sandbox").outputs["arn"]
    entries = https(preview).inputs["defaultActions"][0]["forward"]["targetGroups"]
    assert [e["arn"] for e in entries] == [groups["sandbox"], UNKNOWN]
    assert [e["weight"] for e in entries] == [100, 0]


def test_new_kubernetes_objects_keep_their_checked_name() -> None:
    preview = preview_of("prod", 4, 3)
    namespace = preview.find("::env-canary-namespace")
    assert namespace.urn in preview.new
    assert namespace.outputs["metadata"]["name"] == "codex-canary"
    assert "uid" not in namespace.outputs["metadata"]


def test_first_deploy_knows_no_computed_value() -> None:
    preview = preview_of("sandbox", 1, 0)
    assert sorted(preview.new) == sorted(customs(plan_of("sandbox", 1)))
    for record in customs(preview).values():
        assert record.id == "", record.urn
        if "arn" in record.outputs and "arn" not in record.inputs:
            assert record.outputs["arn"] == UNKNOWN, record.urn
    stack = next(r for r in preview.records if r.type == STACK_TYPE)
    assert UNKNOWN in json.dumps(stack.outputs)


def test_a_week_without_new_resources_is_all_known() -> None:
    # Infrastructure first: the week that opens traffic to canary changes weights only.
    preview = preview_of("prod", 5, 4)
    assert preview.new == []
    assert UNKNOWN not in json.dumps([r.outputs for r in preview.records])


# -- the command line ----------------------------------------------------------------------------


def test_render_writes_the_sentinel_and_export_hands_it_to_the_pack(tmp_path: Path) -> None:
    out = tmp_path / "render"
    result = run_cli(
        "render", "--stack", "prod", "--week", "4", "--from-week", "3", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    state = json.loads((out / "resources.json").read_text())
    resources = state["deployment"]["resources"]
    (listener,) = [
        r for r in resources if r["type"] == LISTENER_TYPE and r["inputs"].get("port") == 443
    ]
    entries = listener["outputs"]["defaultActions"][0]["forward"]["targetGroups"]
    assert entries[1]["arn"] == UNKNOWN

    checked = run_cli("policy", "check", "--export", str(out), "--format", "json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = json.loads(checked.stdout)
    weights = [v for v in report["violations"] if v["policy"] == "rollout-weights-sum-to-100"]
    assert [(v["enforcementLevel"], v["message"]) for v in weights] == [
        (
            "advisory",
            "cannot be verified at preview: the target group ARN of forward entry 1 of "
            "aws:lb/listener:Listener 'codex-https' is unknown",
        )
    ]

    # A 107 % split with the canary target group unknown: the sum needs no ARN.
    entries[0]["weight"] = 100
    entries[1]["weight"] = 7
    (out / "resources.json").write_text(json.dumps(state))
    checked = run_cli("policy", "check", "--export", str(out), "--format", "json")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    report = json.loads(checked.stdout)
    mandatory = [
        v["message"]
        for v in report["violations"]
        if v["policy"] == "rollout-weights-sum-to-100" and v["enforcementLevel"] == "mandatory"
    ]
    assert mandatory == [
        "HTTPS listener 'codex-https' weights sum to 107, not 100 "
        "(sandbox=100, <unknown at preview #1>=7)."
    ]


def test_policy_check_from_week_reports_the_preview() -> None:
    result = run_cli("policy", "check", "--stack", "prod", "--week", "4", "--from-week", "3")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "preview from week 3" in result.stdout
    assert "[advisory] rollout-weights-sum-to-100" in result.stdout


def test_diff_previews_the_later_week() -> None:
    result = run_cli("diff", "--stack", "prod", "--from-week", "3", "--to-week", "4", "--json")
    assert result.returncode == 0, result.stderr
    changed = json.loads(result.stdout)["changed"]
    listener = next(urn for urn in changed if urn.endswith("::codex-https"))
    paths = {c["path"]: c["new"] for c in changed[listener]}
    assert [e["arn"] for e in paths["defaultActions[0].forward.targetGroups"]][1] == UNKNOWN


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--week", "4", "--from-week", "5"), "--from-week 5: after the week previewed (4)"),
        (("--week", "4", "--from-week", "-1"), "--from-week -1: not a week"),
        (("--week", "4", "--from-week", "three"), "Invalid value for '--from-week'"),
        (("--from-week", "13"), "--from-week 13: after the week previewed"),
    ],
)
@pytest.mark.parametrize("command", ["plan", "render", "policy check"])
def test_bad_from_week_is_one_line_exit_2(
    tmp_path: Path, command: str, args: tuple[str, ...], message: str
) -> None:
    out = tmp_path / "render"
    extra = ("--out", str(out)) if command == "render" else ()
    result = run_cli(*command.split(), "--stack", "prod", *args, *extra)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert not out.exists()


def test_diff_backwards_is_bad_input() -> None:
    result = run_cli("diff", "--stack", "prod", "--from-week", "5", "--to-week", "4")
    assert result.returncode == 2
    assert "--from-week 5: after the week previewed (4)" in result.stderr


def test_ci_checks_the_preview_of_current_to_next_for_every_stack() -> None:
    workflow = yaml.safe_load((REPO_ROOT / ".github" / "workflows" / "preview.yml").read_text())
    steps = workflow["jobs"]["offline"]["steps"]
    scripts = [step.get("run", "") for step in steps]
    (script,) = [s for s in scripts if "--from-week" in s]
    assert "rollout stacks --json" in script  # every stack, from the stack files
    assert re.search(r"next=\$\(\(current \+ 1\)\)", script)
    checks = [line for line in script.splitlines() if "policy check" in line]
    assert checks
    for line in checks:
        assert '--week "$next" --from-week "$current"' in line, line


def test_plan_of_a_first_deploy_is_valid_and_says_it_is_a_preview() -> None:
    result = run_cli("plan", "--stack", "prod", "--week", "9", "--from-week", "0", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout)
    assert summary["verdict"] == "valid"
    assert summary["preview"] == {"fromWeek": 0, "new": len(customs(plan_of("prod", 9)))}
    # Which target group is which cannot be told, but the weights are still the week's.
    assert sorted(summary["sections"]["routing"]["weights"].values()) == [5, 5, 90]
    assert summary["sections"]["routing"]["problems"] == []
