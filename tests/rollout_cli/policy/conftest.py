"""Fixtures for the offline policy check: the real pack, started once per session the way the
engine starts it; a state with one mandatory and one advisory violation and its report; and the
policy tests' state builder (tests/policies/state.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from rollout_cli.policy.host import PolicyHost
from rollout_cli.policy.report import Report
from tests.policies.state import SECRET_SIG, TAGS, StateBuilder, deployment


@pytest.fixture(scope="session")
def pack() -> Iterator[PolicyHost]:
    with PolicyHost() as host:
        yield host


@pytest.fixture
def builder() -> StateBuilder:
    """An empty state: the root stack and default aws/kubernetes providers."""
    return StateBuilder()


@pytest.fixture(scope="session")
def tags() -> dict[str, str]:
    """Tags that satisfy the tagging policies."""
    return dict(TAGS)


@pytest.fixture(scope="session")
def secret() -> dict[str, str]:
    """The secret signature; add ``plaintext`` or ``ciphertext``."""
    return dict(SECRET_SIG)


@pytest.fixture(scope="session")
def compliant_deployment() -> Callable[[], dict[str, Any]]:
    """A Deployment's inputs that every policy accepts."""
    return deployment


@pytest.fixture(scope="session")
def violating_state() -> dict[str, Any]:
    """One mandatory (critical) and one advisory (medium) violation."""
    b = StateBuilder()
    b.add(
        "aws:ec2/securityGroup:SecurityGroup",
        "ssh",
        {
            "ingress": [
                {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}
            ],
            "tags": TAGS,
        },
    )
    b.add("aws:cloudwatch/logGroup:LogGroup", "app", {"kmsKeyId": "k", "tags": TAGS})
    return b.state()


@pytest.fixture(scope="session")
def report(pack: PolicyHost, violating_state: dict[str, Any]) -> Report:
    """The pack's report on ``violating_state`` with the default config."""
    return pack.evaluate(violating_state)
