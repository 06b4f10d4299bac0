"""The drill's verdict and report: traffic moved within the budget with every check held."""

from __future__ import annotations

from rollout_cli.drill.cli import text
from rollout_cli.drill.run import EVENTS, DrillResult


def _result(moved_at: float | None, failures: list[str] | None = None) -> DrillResult:
    result = DrillResult(
        stack="prod",
        week=8,
        tier="canary",
        fault="error-rate",
        alert="CodexErrorRateHigh",
        budget_seconds=70,
        allocation_before={"sandbox": 10, "canary": 10, "production": 80},
        expected_after={"sandbox": 11, "canary": 0, "production": 89},
        failures=failures or [],
    )
    times = [0.0, 9.9, 39.9, 45.0, 45.1, moved_at, 45.4, 45.5]
    result.timeline = [(e, t) for e, t in zip(EVENTS, times, strict=True) if t is not None]
    return result


def test_within_budget_passes() -> None:
    result = _result(45.3)
    assert result.total_seconds == 45.3 and result.passed
    report = result.as_dict()
    assert report["totalSeconds"] == 45.3 and report["passed"] is True
    assert text(report).splitlines()[-1] == "PASS"


def test_over_budget_fails() -> None:
    assert not _result(70.5).passed


def test_no_traffic_move_fails() -> None:
    result = _result(None)
    assert result.total_seconds is None and not result.passed
    assert result.as_dict()["totalSeconds"] is None


def test_a_failed_check_fails_even_within_budget() -> None:
    result = _result(45.3, ["1 audit records, expected exactly one"])
    assert not result.passed
    lines = text(result.as_dict()).splitlines()
    assert "FAILED: 1 audit records, expected exactly one" in lines and lines[-1] == "FAIL"
