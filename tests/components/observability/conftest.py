"""Fixtures of the observability tests: the stack configs."""

from __future__ import annotations

import pytest

from infra.config import StackConfig
from rollout_cli.stackfile import load_offline
from tests.conftest import STACKS


@pytest.fixture(scope="session", params=STACKS)
def stack_config(request: pytest.FixtureRequest) -> StackConfig:
    """The validated config of each project stack."""
    return load_offline(request.param).model


@pytest.fixture(scope="session")
def prod_config() -> StackConfig:
    return load_offline("prod").model
