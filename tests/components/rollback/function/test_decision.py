"""Where the weights go for one trigger: the precomputed allocation combined with what the
listener and the held ledger already say."""

from __future__ import annotations

from components.rollback.function.decision import decide
from rollout_rules.ledger import NOT_HELD
from rollout_rules.plan import TIERS
from rollout_rules.rollback import rollback_plan

WEEK_8 = {"sandbox": 10, "canary": 10, "production": 80}
PLAN = rollback_plan(8, TIERS).as_dict()["allocations"]


def test_a_failing_tier_goes_to_its_precomputed_allocation() -> None:
    decision = decide(PLAN["canary"], "canary", WEEK_8, NOT_HELD)
    assert decision.after == {"sandbox": 11, "canary": 0, "production": 89} == PLAN["canary"]
    assert decision.zeroed == ("canary",)
    assert decision.note == "traffic moved off the failing tier(s)"


def test_a_tier_already_at_zero_on_the_listener_stays_at_zero() -> None:
    # Canary was rolled back (11/0/89); a security incident's allocation (week 7: 20/80/0) would
    # raise it: its share goes to sandbox instead.
    live = {"sandbox": 11, "canary": 0, "production": 89}
    decision = decide(PLAN["none"], None, live, NOT_HELD)
    assert decision.after == {"sandbox": 100, "canary": 0, "production": 0}
    assert decision.zeroed == ("canary",)


def test_a_tier_at_zero_in_the_held_ledger_stays_at_zero() -> None:
    # The listener was set back by hand, but the held ledger says production failed.
    ledger = {
        **NOT_HELD,
        "held": True,
        "allocation": {"sandbox": 50, "canary": 50, "production": 0},
    }
    decision = decide(PLAN["canary"], "canary", WEEK_8, ledger)
    assert decision.after == {"sandbox": 100, "canary": 0, "production": 0}
    assert decision.zeroed == ("canary", "production")


def test_a_ledger_not_held_adds_nothing() -> None:
    ledger = {**NOT_HELD, "allocation": {"sandbox": 100, "canary": 0, "production": 0}}
    assert decide(PLAN["canary"], "canary", WEEK_8, ledger).after == PLAN["canary"]


def test_weights_already_there_are_kept_and_said_so() -> None:
    live = {"sandbox": 11, "canary": 0, "production": 89}
    decision = decide(PLAN["canary"], "canary", live, NOT_HELD)
    assert decision.after == live
    assert decision.note == "the listener already has these weights"


def test_no_tier_left_with_traffic_keeps_the_weights() -> None:
    live = {"sandbox": 100, "canary": 0}
    decision = decide({"sandbox": 100, "canary": 0}, "sandbox", live, NOT_HELD)
    assert decision.after == live
    assert decision.zeroed == ("sandbox", "canary")
    assert decision.note.startswith("no other tier has traffic to take over")
