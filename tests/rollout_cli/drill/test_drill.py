"""`rollout drill` end to end: real Prometheus, Alertmanager and moto server, the function's real
handler. Marked `drill` (bounded by real alert timing, about a minute each): `make drill` runs
them, the default pytest run leaves them out."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import pytest

from rollout_cli.drill.processes import Server
from rollout_cli.drill.run import Drill
from tests.conftest import plan_of, run_cli_process

EVENTS = [
    "fault injected",
    "alert pending",
    "alert firing",
    "notification sent",
    "function invoked",
    "listener weights changed",
    "ledger held",
    "audit written",
]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def _drill(fault: str, tier: str = "canary", week: str = "8") -> dict:
    result = run_cli_process(
        "drill", "--stack", "prod", "--week", week, "--tier", tier, "--fault", fault,
        "--format", "json",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return dict(json.loads(result.stdout))


def _check_shape(report: dict, fault: str) -> None:
    assert {
        "stack", "week", "tier", "fault", "timeline", "totalSeconds", "budgetSeconds",
        "allocationBefore", "allocationAfter", "ledger", "auditRecords",
    } <= set(report)  # fmt: skip
    assert (report["stack"], report["week"], report["tier"], report["fault"]) == (
        "prod",
        8,
        "canary",
        fault,
    )
    assert [e["event"] for e in report["timeline"]] == EVENTS
    times = [e["atSeconds"] for e in report["timeline"]]
    assert times[0] == 0
    assert all(b >= a - 0.5 for a, b in itertools.pairwise(times)), times
    moved = times[EVENTS.index("listener weights changed")]
    assert report["totalSeconds"] == pytest.approx(moved, abs=0.01)
    assert 0 < report["totalSeconds"] <= report["budgetSeconds"]


def _measured_matches_budget(report: dict) -> None:
    """Each stretch of the measured timeline against the budget term that stands for it.

    The budget (rollout_rules.rollback.rollback_budget, as the program publishes it) is a worst
    case: the scrape and the evaluation each add at most one interval, `for` and group_wait add
    themselves, and the hand-off to the function and its API calls fit their allowances.
    """
    at = {e["event"]: e["atSeconds"] for e in report["timeline"]}
    parts = report["budgetParts"]
    scrape, evaluation = parts["scrape interval"], parts["Prometheus evaluation interval"]
    rule_for, group_wait = parts["rule for"], parts["Alertmanager group_wait"]
    # Fault -> pending: the next scrape, then the next evaluation (1 s for the scrape itself).
    assert at["alert pending"] <= scrape + evaluation + 1
    # Pending -> firing: `for`, rounded up to a whole evaluation interval.
    assert rule_for - 0.5 <= at["alert firing"] - at["alert pending"] <= rule_for + evaluation + 1
    # Firing -> the SNS message: group_wait (Prometheus sends right after the evaluation).
    assert group_wait - 1 <= at["notification sent"] - at["alert firing"] <= group_wait + 2
    allowances = parts["SNS delivery"] + parts["function start"] + parts["traffic move"]
    assert at["listener weights changed"] - at["notification sent"] <= allowances
    assert rule_for + group_wait - 1 <= report["totalSeconds"] <= report["budgetSeconds"]
    assert report["budgetSeconds"] == sum(parts.values())


@pytest.mark.drill
def test_done_when_prod_week_8_canary_error_rate_moves_traffic_to_11_0_89() -> None:
    report = _drill("error-rate")
    _check_shape(report, "error-rate")
    _measured_matches_budget(report)
    assert report["totalSeconds"] <= 60
    # The plan's week 8 is 10/10/80; canary's share goes to the others in proportion.
    assert report["allocationBefore"] == {"sandbox": 10, "canary": 10, "production": 80}
    assert report["allocationAfter"] == {"sandbox": 11, "canary": 0, "production": 89}
    ledger = report["ledger"]
    assert ledger["held"] is True
    assert ledger["allocation"] == {"sandbox": 11, "canary": 0, "production": 89}
    assert ledger["trigger"] == "alertmanager" and ledger["tier"] == "canary"
    (record,) = report["auditRecords"]
    assert record["status"] == "applied" and record["trafficMoved"] is True
    assert "CodexErrorRateHigh" in record["reason"]


@pytest.mark.drill
@pytest.mark.parametrize("fault", ["latency", "down"])
def test_other_faults_move_traffic_within_the_budget(fault: str) -> None:
    report = _drill(fault)
    _check_shape(report, fault)
    _measured_matches_budget(report)
    if fault == "down":
        assert report["totalSeconds"] <= 60
    assert report["allocationAfter"] == {"sandbox": 11, "canary": 0, "production": 89}
    assert report["ledger"]["held"] is True
    assert len(report["auditRecords"]) == 1


@pytest.mark.drill
def test_everything_started_is_stopped_when_the_drill_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[int] = []
    real_start = Server.start

    def start(self: Server, timeout: float = 60.0) -> None:
        real_start(self, timeout)
        assert self.pid is not None
        started.append(self.pid)

    def progress(line: str) -> None:
        if line == "starting prometheus":  # moto and Alertmanager are up by now
            raise RuntimeError("interrupted")

    monkeypatch.setattr(Server, "start", start)
    drill = Drill(plan_of("prod", 8), "canary", "error-rate", progress=progress)
    with pytest.raises(RuntimeError, match="interrupted"):
        drill.run(tmp_path)
    assert len(started) == 2
    assert not any(_alive(pid) for pid in started)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tier", "staging", "--fault", "down"], "--tier staging: not one of"),
        (["--tier", "canary", "--fault", "boom"], "--fault boom: not one of"),
        (["--tier", "production", "--week", "5", "--fault", "down"], "has no traffic in week 5"),
        (["--tier", "canary", "--week", "0", "--fault", "down"], "week"),
        (["--tier", "canary", "--fault", "down", "--format", "xml"], "'--format'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = run_cli_process("drill", "--stack", "prod", *args)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert result.stdout == ""
