"""Fixtures for policy tests: the real pack, started once per session the way the engine starts
it, and a ``check`` that evaluates a state over the analyzer protocol.

Every test here that uses the pack (directly or through ``check``) talks to its process, so it
is marked ``slow``; the tests of the policies' pure helpers are not.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rollout_cli.policy.config import parse_policy_pack_config
from rollout_cli.policy.host import PolicyHost
from rollout_cli.policy.report import Report
from tests.policies.state import Check, StateBuilder

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE) and "pack" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


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
