"""Fixtures for policy tests: the real pack, started once per session the way the engine starts
it, and a ``check`` that evaluates a state over the analyzer protocol."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from rollout_cli.policycheck import PolicyHost, Report, parse_policy_pack_config
from tests.policies.state import StateBuilder

Check = Callable[..., Report]


@pytest.fixture(scope="session")
def pack() -> Iterator[PolicyHost]:
    with PolicyHost() as host:
        yield host


@pytest.fixture
def check(pack: PolicyHost) -> Check:
    """Evaluate a state (or a StateBuilder) with an optional --policy-pack-config document."""

    def run(state: StateBuilder | dict[str, Any], config: dict[str, Any] | None = None) -> Report:
        if isinstance(state, StateBuilder):
            state = state.state()
        return pack.evaluate(state, parse_policy_pack_config(config, "test config"))

    return run


@pytest.fixture
def builder() -> StateBuilder:
    return StateBuilder()
