"""The ledger's part of the verdict: held fails; a hold cleared inside the window fails (a
rollback happened in the week being judged); one cleared before it does not."""

from __future__ import annotations

import pytest

from rollout_cli.advance.gates import Judge
from rollout_cli.advance.prometheus import Prometheus
from rollout_cli.advance.window import Window
from rollout_cli.stackfile import load_offline
from rollout_rules.ledger import Ledger

END = 1_780_000_000.0  # 2026-05-28T20:26:40Z


@pytest.fixture(scope="module")
def judge() -> Judge:
    model = load_offline("prod", week=8).model
    # No query runs for the ledger gate: the address is never contacted.
    return Judge("prod", model, 8, 9, Window(7200, END, "2h"), Prometheus("http://127.0.0.1:9"))


def resumed(at: str) -> Ledger:
    return Ledger(held=False, reason="fixed", trigger="resume", at=at, event_id="resume:1")


def test_no_ledger_passes(judge: Judge) -> None:
    assert judge.ledger_gate(None, "SSM").status == "pass"


def test_hold_cleared_inside_the_window_fails(judge: Judge) -> None:
    gate = judge.ledger_gate(resumed("2026-05-28T19:30:00Z"), "file")
    assert (gate.status, gate.value) == ("fail", 1)
    assert "cleared at 2026-05-28T19:30:00Z, inside the window" in gate.detail


def test_hold_cleared_before_the_window_passes(judge: Judge) -> None:
    assert judge.ledger_gate(resumed("2026-05-28T17:00:00Z"), "file").status == "pass"
