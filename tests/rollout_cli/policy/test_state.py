"""Reading a state: a stack export is validated resource by resource, and bad input is one line
naming what is wrong and where."""

from __future__ import annotations

import re
from typing import Any

import pytest

from rollout_cli.policy.errors import PolicyCheckError
from rollout_cli.policy.state import parse_state


@pytest.mark.parametrize(
    ("state", "error"),
    [
        ({"version": 3}, "not a stack export"),
        ({"version": 9, "deployment": {"resources": []}}, "unsupported stack export version 9"),
        ({"deployment": {"resources": {}}}, "deployment.resources is not a list"),
        (
            {"deployment": {"resources": [{"urn": "x", "type": "t"}]}},
            "resources[0].urn is not a Pulumi URN",
        ),
        ({"deployment": {"resources": [{"urn": "urn:pulumi:s::p::t::n"}]}}, "has no type"),
    ],
)
def test_bad_state_is_bad_input(state: Any, error: str) -> None:
    with pytest.raises(PolicyCheckError, match=re.escape(error)) as caught:
        parse_state(state)
    assert "\n" not in str(caught.value)


def test_pending_deletions_are_left_out() -> None:
    state = {
        "version": 3,
        "deployment": {
            "resources": [
                {"urn": "urn:pulumi:s::p::t::kept", "type": "t"},
                {"urn": "urn:pulumi:s::p::t::gone", "type": "t", "delete": True},
            ]
        },
    }
    assert [r.name for r in parse_state(state)] == ["kept"]
