"""Fixtures of the observability tests: the stack configs, the real tools."""

from __future__ import annotations

import shutil

import pytest

from infra.config import StackConfig, load_offline
from tests.conftest import STACKS


def tool(name: str) -> str:
    """Path of a real validator; the suite fails (never skips) without it: CI installs it."""
    path = shutil.which(name)
    assert path, f"{name} is not installed (Debian: prometheus / prometheus-alertmanager)"
    return path


@pytest.fixture(scope="session")
def promtool() -> str:
    return tool("promtool")


@pytest.fixture(scope="session")
def amtool() -> str:
    return tool("amtool")


@pytest.fixture(scope="session", params=STACKS)
def stack_config(request: pytest.FixtureRequest) -> StackConfig:
    """The validated config of each project stack."""
    return load_offline(request.param).model


@pytest.fixture(scope="session")
def prod_config() -> StackConfig:
    return load_offline("prod").model
