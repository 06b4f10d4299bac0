"""Runbooks (docs/runbooks/): every alert has one and links to it, every runbook belongs to an
alert, says the plan's response time, shows a dashboard panel and PromQL that parse, and every
`rollout` command in it parses with the real CLI."""

from __future__ import annotations

import re
import shlex

import promql_parser
import pytest
import typer

from components.observability.dashboards import dashboards
from components.observability.rules import alerts, rule_groups, runbook_name
from rollout_cli.app import app
from rollout_cli.stackfile import REPO_ROOT, load_offline
from rollout_rules.plan import week_plan
from tests.conftest import plan_of

RUNBOOKS = REPO_ROOT / "docs" / "runbooks"
# The plan's alerting table: system down immediate, high error rate 15 minutes, policy
# violation 1 hour, performance degradation 4 hours, low test coverage 24 hours.
RESPONSE = {"critical": "immediate", "high": "15 minutes", "medium": "4 hours", "low": "24 hours"}
POLICY_RESPONSE = "1 hour"


def _alerts() -> list[dict]:
    config = load_offline("prod").model
    obs = config.observability
    return alerts(rule_groups(config.services, obs.thresholds, obs.runbook_base_url()))


def _runbooks() -> dict[str, str]:
    return {p.stem: p.read_text() for p in sorted(RUNBOOKS.glob("*.md")) if p.name != "README.md"}


def _blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def _commands(text: str) -> list[list[str]]:
    found = []
    for block in _blocks(text, "sh"):
        for line in block.splitlines():
            if line.strip().startswith("rollout "):
                found.append(shlex.split(line, comments=True)[1:])
    return found


def _parses(args: list[str]) -> None:
    """Parse `args` with the real command tree (no command runs); UsageError if it does not."""
    command = typer.main.get_command(app)
    ctx = command.make_context("rollout", list(args))
    while hasattr(command, "resolve_command"):
        rest = [*ctx._protected_args, *ctx.args]
        if not rest:
            break
        name, sub, remaining = command.resolve_command(ctx, rest)
        assert sub is not None, args
        ctx = sub.make_context(name, remaining, parent=ctx)
        command = sub


def test_every_alert_links_to_its_runbook() -> None:
    config = load_offline("prod").model
    base = f"{config.observability.repository_url}/blob/{config.observability.runbook_ref}"
    books = _runbooks()
    for rule in _alerts():
        url = rule["annotations"]["runbook_url"]
        assert url == f"{base}/docs/runbooks/{runbook_name(rule['alert'])}.md"
        assert runbook_name(rule["alert"]) in books, f"{rule['alert']}: no runbook"


def test_every_runbook_belongs_to_an_alert() -> None:
    names = {runbook_name(rule["alert"]) for rule in _alerts()}
    assert set(_runbooks()) == names
    index = (RUNBOOKS / "README.md").read_text()
    assert all(f"({name}.md)" in index for name in names)


@pytest.mark.parametrize("rule", _alerts(), ids=lambda r: r["alert"])
def test_runbook_says_the_plans_response_time(rule: dict) -> None:
    text = _runbooks()[runbook_name(rule["alert"])]
    labels = rule["labels"]
    policy = labels.get("category") == "policy"
    expected = POLICY_RESPONSE if policy else RESPONSE[labels["severity"]]
    assert f"**Response time:** {expected}" in text
    assert text.startswith(f"# {rule['alert']}\n")
    rollback = labels.get("action") == "rollback"
    assert (f"**Rollback trigger:** {'yes' if rollback else 'no'}") in text
    if rollback:
        # What the automation already did: the measured drill timeline.
        assert "rollout drill" in text and "listener weights changed" in text


@pytest.mark.parametrize("name", sorted(_runbooks()))
def test_runbook_confirms_with_a_real_panel_and_promql(name: str) -> None:
    text = _runbooks()[name]
    config = load_offline("prod").model
    boards = dashboards(
        config.services,
        config.observability.thresholds,
        config.routing.service,
        week_plan(8, config.schedule()),
    )
    titles = {
        board.get("title"): {p.get("title") for p in board.get("panels", [])}
        for board in boards.values()
    }
    named = re.findall(r"\*\*(Codex / [^*]+)\*\*, panels? \*\*([^*]+)\*\*", text)
    assert named, f"{name}: no dashboard panel named"
    for board, panel in named:
        assert panel in titles[board], f"{name}: no panel {panel!r} on {board!r}"
    queries = _blocks(text, "promql")
    assert queries, f"{name}: no PromQL"
    for query in queries:
        promql_parser.parse(query)


@pytest.mark.parametrize("name", sorted(_runbooks()))
def test_every_command_in_a_runbook_parses_with_the_cli(name: str) -> None:
    commands = _commands(_runbooks()[name])
    assert commands, f"{name}: no operator command"
    for args in commands:
        _parses(args)


def test_a_wrong_command_does_not_parse() -> None:
    # The check above can fail: an unknown option is refused by the same parser.
    with pytest.raises(Exception, match="No such option"):
        _parses(["rollback", "--tier", "canary", "--reasn", "typo"])


def test_every_rollback_alarm_links_to_a_runbook() -> None:
    plan = plan_of("prod", 8)
    base = plan.config.observability.runbook_base_url()
    books = _runbooks()
    alarms = [
        r
        for r in plan.by_type("aws:cloudwatch/metricAlarm:MetricAlarm")
        if (r.inputs.get("tags") or {}).get("purpose") == "rollback"
    ]
    assert len(alarms) == 4 * 3  # four per tier with an environment in week 8
    for alarm in alarms:
        links = re.findall(
            rf"Runbook: {re.escape(base)}/([a-z0-9-]+)\.md$", alarm.inputs["alarmDescription"]
        )
        assert links and links[0] in books, alarm.inputs["alarmDescription"]
