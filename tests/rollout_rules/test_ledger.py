"""The ledger's schema and the allocation a held ledger makes the program declare."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rollout_rules.ledger import LedgerError, effective_allocation, parse_ledger
from rollout_rules.plan import TIERS, Allocation

# -- ledger --------------------------------------------------------------------------------------


def test_parse_ledger(held_ledger: dict[str, Any]) -> None:
    ledger = parse_ledger(json.dumps(held_ledger))
    assert ledger.held
    assert ledger.allocation == Allocation(11, 0, 89)
    assert ledger.as_dict() == held_ledger
    assert parse_ledger('{"held": false}').held is False


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("not json", r"ledger: not JSON"),
        ("[]", r"ledger: list is not a ledger"),
        ('{"held": "yes"}', r"ledger.held: 'yes' is not true or false"),
        ('{"held": false, "colour": 1}', r"ledger.colour: unknown key"),
        ('{"held": true}', r"ledger.trigger: required while held"),
        ({"allocation": None}, r"ledger.allocation: required while held"),
        (
            {"allocation": {"sandbox": 50, "canary": 0, "production": 40}},
            r"ledger.allocation: weights sum to 90, not 100",
        ),
        ({"allocation": {"staging": 100}}, r"ledger.allocation.staging: not a tier"),
        ({"allocation": {"sandbox": True, "canary": 0, "production": 99}}, r"sandbox: True is not"),
        ({"tier": "qa"}, r"ledger.tier: 'qa' is not a tier"),
    ],
)
def test_parse_ledger_rejects_with_one_line(
    text: str | dict[str, Any], match: str, held_ledger: dict[str, Any]
) -> None:
    # A dict changes one key of a valid held ledger; a string is the whole parameter value.
    value = text if isinstance(text, str) else json.dumps({**held_ledger, **text})
    with pytest.raises(LedgerError, match=match):
        parse_ledger(value)


def test_held_ledger_wins_and_says_why(held_ledger: dict[str, Any]) -> None:
    scheduled = Allocation(5, 5, 90)
    effective = effective_allocation(scheduled, parse_ledger(json.dumps(held_ledger)), TIERS)
    assert effective.allocation == Allocation(11, 0, 89)
    assert effective.held
    assert effective.message is not None
    assert "11/0/89 instead of the schedule's 5/5/90" in effective.message
    assert "rollout resume" in effective.message
    assert effective_allocation(scheduled, None, TIERS).allocation == scheduled
    not_held = parse_ledger('{"held": false}')
    assert effective_allocation(scheduled, not_held, TIERS) == effective_allocation(
        scheduled, None, TIERS
    )


def test_held_allocation_on_a_tier_without_environment_stops(held_ledger: dict[str, Any]) -> None:
    with pytest.raises(LedgerError, match=r"ledger.allocation.production: 89 but tier"):
        effective_allocation(
            Allocation(100, 0, 0), parse_ledger(json.dumps(held_ledger)), ("sandbox", "canary")
        )
