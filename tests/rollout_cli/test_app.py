"""The `rollout` command line, run as a separate process like a user or CI runs it."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
from pathlib import Path

import pytest
import yaml

from rollout_cli.stackfile import REPO_ROOT
from tests.conftest import DesignTable, edit_stack, run_cli, run_cli_process


def test_schedule_json_is_the_design_table(design_table: DesignTable) -> None:
    result = run_cli("schedule", "--stack", "prod", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [row["week"] for row in rows[:12]] == list(range(1, 13))
    for row in rows[:12]:
        phase, (sandbox, canary, production) = design_table[row["week"]]
        assert row == {
            "week": row["week"],
            "phase": phase,
            "allocation": {"sandbox": sandbox, "canary": canary, "production": production},
            "current": row["week"] == 3,  # Pulumi.prod.yaml's rollout.week
        }


def test_schedule_json_marks_the_current_week(stack_root: Path) -> None:
    edit_stack(stack_root, "prod", lambda c: c["codex-rollout:rollout"].update({"week": 7}))
    result = run_cli("schedule", "--stack", "prod", "--json", cwd=stack_root)
    assert result.returncode == 0, result.stderr
    assert [row["week"] for row in json.loads(result.stdout) if row["current"]] == [7]


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"rollout {importlib.metadata.version('codex-rollout')}"


def test_schedule_marks_the_current_week() -> None:
    result = run_cli("schedule", "--stack", "sandbox")
    assert result.returncode == 0
    marked = [line for line in result.stdout.splitlines() if "▶" in line]
    assert len(marked) == 1 and "│    4 │" in marked[0]


def test_plan_json_summarises_the_state() -> None:
    result = run_cli("plan", "--stack", "prod", "--week", "8", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["verdict"] == "valid"
    assert summary["allocation"] == {"sandbox": 10, "canary": 10, "production": 80}
    assert summary["resources"] == sum(summary["components"].values())
    assert summary["resources"] == summary["sections"]["policy"]["resources"]


def test_plan_text_ends_with_a_verdict() -> None:
    result = run_cli("plan", "--stack", "sandbox")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-1].startswith("verdict: VALID")
    # The pack's count and the verdict's count are the same resources.
    [policy] = [line for line in lines if line.startswith("policy: policy check")]
    counted = re.search(r", (\d+) resources \(", policy)
    assert counted and f"VALID ({counted.group(1)} resources," in lines[-1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("plan", "--stack", "prod", "--week", "0"),
            "codex-rollout:rollout.week: 0 is not a week (weeks start at 1)",
        ),
        (("plan", "--stack", "staging"), "Pulumi.staging.yaml: no such stack file"),
        (
            ("render", "--stack", "prod", "--week", "-3", "--out", "OUT"),
            "codex-rollout:rollout.week: -3 is not a week",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2_nothing_written(
    stack_root: Path, args: tuple[str, ...], message: str
) -> None:
    before = children()
    result = run_cli(*args, cwd=stack_root)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert "Traceback" not in result.stderr
    assert not (stack_root / "OUT").exists()
    # `plan` pre-starts the policy pack: a plan that fails stops it (no process left behind).
    assert children().keys() <= before.keys(), children()


def children() -> dict[int, str]:
    """This process's child processes (from /proc): PID -> command line."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == os.getpid():
                cmdline = (stat.parent / "cmdline").read_text().replace("\0", " ").strip()
                found[int(stat.parent.name)] = cmdline
        except (OSError, IndexError, ValueError):
            continue  # the process ended while being read
    return found


def test_config_validate_flags_a_plaintext_secret(stack_root: Path) -> None:
    def plaintext(config: dict) -> None:
        config["codex-rollout:alerting"]["slackWebhookUrl"] = (
            "https://hooks.slack.com/services/T/B/X"
        )

    edit_stack(stack_root, "prod", plaintext)
    result = run_cli("config", "validate", "--stack", "prod", cwd=stack_root)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "codex-rollout:alerting.slackWebhookUrl: plaintext value" in result.stderr
    assert "hooks.slack.com" not in result.stderr + result.stdout


def test_config_validate_accepts_the_project_stacks() -> None:
    for stack in ("sandbox", "prod"):
        result = run_cli("config", "validate", "--stack", stack)
        assert result.returncode == 0, result.stderr
        assert "valid" in result.stdout


def test_render_writes_export_and_manifests(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli("render", "--stack", "sandbox", "--week", "5", "--out", str(out))
    assert result.returncode == 0, result.stderr
    state = json.loads((out / "resources.json").read_text())
    assert state["version"] == 3
    manifests = sorted((out / "k8s").glob("*.yaml"))
    kinds = {p.name.split("--")[1] for p in manifests}
    assert {"deployment", "namespace", "networkpolicy", "targetgroupbinding"} <= kinds
    k8s_resources = [
        r
        for r in state["deployment"]["resources"]
        if r["type"].startswith("kubernetes:") and "apiVersion" in r["inputs"]
    ]
    assert len(manifests) == len(k8s_resources)


def test_render_writes_integral_numbers_as_integers(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run_cli("render", "--stack", "prod", "--out", str(out)).returncode == 0
    text = (out / "k8s" / "codex-sandbox--deployment--codegen-api.yaml").read_text()
    assert "containerPort: 8080\n" in text
    assert "8080.0" not in text


def test_diff_json_shows_weight_paths() -> None:
    result = run_cli("diff", "--stack", "prod", "--from-week", "7", "--to-week", "8", "--json")
    assert result.returncode == 0, result.stderr
    changed = json.loads(result.stdout)["changed"]
    listener = next(urn for urn in changed if urn.endswith("::codex-https"))
    paths = {c["path"]: (c["old"], c["new"]) for c in changed[listener]}
    assert paths["defaultActions[0].forward.targetGroups[0].weight"] == (20, 10)
    weights = json.loads(result.stdout)["weights"]
    assert weights == {
        "from": {"sandbox": 20, "canary": 80, "production": 0},
        "to": {"sandbox": 10, "canary": 10, "production": 80},
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("plan", "--stack", "prod", "--week", "abc"), "Invalid value for '--week'"),
        (("plan",), "Missing option '--stack'"),
        (("diff", "--stack", "prod", "--from-week", "4"), "Missing option '--to-week'"),
        (("schedule", "--stack", "prod", "--bogus"), "No such option: --bogus"),
    ],
)
def test_usage_errors_are_one_line_exit_2(args: tuple[str, ...], message: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_stacks_lists_every_stack_file_with_its_region(stack_root: Path) -> None:
    # A copy of prod in another region (every regional value moved with it).
    text = (stack_root / "Pulumi.prod.yaml").read_text().replace("eu-central-1", "us-east-1")
    (stack_root / "Pulumi.prod-us.yaml").write_text(text)
    result = run_cli("stacks", "--json", cwd=stack_root)
    assert result.returncode == 0, result.stderr
    expected = {
        path.name[len("Pulumi.") : -len(".yaml")]: yaml.safe_load(path.read_text())["config"][
            "aws:region"
        ]
        for path in stack_root.glob("Pulumi.*.yaml")
    }
    assert {row["stack"]: row["region"] for row in json.loads(result.stdout)} == expected
    assert expected["prod-us"] == "us-east-1"


def test_ci_workflows_take_stacks_and_regions_from_the_stack_files() -> None:
    region = re.compile(r"\b[a-z]{2}-(central|west|east|north|south)-[0-9]\b")
    for workflow in (REPO_ROOT / ".github" / "workflows").glob("*.yml"):
        text = workflow.read_text()
        assert not region.search(text), f"{workflow.name} hard-codes a region"
        assert "[sandbox, prod]" not in text, f"{workflow.name} hard-codes the stack list"


def test_the_console_script_gives_the_same_exit_codes_and_output() -> None:
    """The tests run command lines in-process (`run_cli`); the installed console script, in its
    own process, exits with the same codes and prints the same lines."""
    for args in (
        ("--version",),
        ("plan", "--stack", "nope"),
        ("plan", "--stack", "sandbox", "--week", "two"),
        ("schedule", "--stack", "prod", "--json"),
    ):
        process, inline = run_cli_process(*args), run_cli(*args)
        assert (process.returncode, process.stdout, process.stderr) == (
            inline.returncode,
            inline.stdout,
            inline.stderr,
        ), args
    assert run_cli_process("plan", "--stack", "nope").returncode == 2
