"""The wire form: state values reach the pack as the engine marshals them (secrets decrypted or
unknown, references and outputs downgraded), and unknowns are not evaluated."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from rollout_cli.offline import SECRET_SIG as SIG_KEY
from rollout_cli.offline import UNKNOWN
from rollout_cli.policy.formats.text import render_text
from rollout_cli.policy.host import PolicyHost
from rollout_cli.policy.wire import WireCounters, to_wire

if TYPE_CHECKING:
    from tests.policies.state import StateBuilder

# The engine's signatures of resource references and output values, as it writes them.
RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
OUTPUT_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"


def test_to_wire_converts_state_values_the_way_the_engine_does(secret: dict[str, str]) -> None:
    value = secret[SIG_KEY]
    state = {
        "plain": {"n": 1, "list": [True, None]},
        "shown": {**secret, "plaintext": '{"a": 1}'},
        "hidden": {**secret, "ciphertext": "v1:abc"},
        "ref": {SIG_KEY: RESOURCE_SIG, "urn": "urn:x", "id": "sg-1"},
        "componentRef": {SIG_KEY: RESOURCE_SIG, "urn": "urn:c", "id": ""},
        "unknownOutput": {SIG_KEY: OUTPUT_SIG},
        "secretOutput": {SIG_KEY: OUTPUT_SIG, "value": "v", "secret": True},
        "__defaults": ["x"],
        "nested": {"__meta": "{}", "keep": 1},
    }
    counters = WireCounters()
    assert to_wire(state, counters) == {
        "plain": {"n": 1, "list": [True, None]},
        "shown": {SIG_KEY: value, "value": {"a": 1}},
        "hidden": {SIG_KEY: value, "value": UNKNOWN},
        "ref": "sg-1",
        "componentRef": "urn:c",
        "unknownOutput": UNKNOWN,
        "secretOutput": {SIG_KEY: value, "value": "v"},
        "nested": {"keep": 1},
    }
    assert counters.hidden == {""}


@pytest.mark.slow
def test_unknown_values_are_not_evaluated(
    pack: PolicyHost, builder: StateBuilder, tags: dict[str, str]
) -> None:
    # As in a preview: the policy cannot read the value, so it reports an advisory naming it
    # (as the engine shows it), never a silent pass and never a mandatory failure.
    log_group = builder.add(
        "aws:cloudwatch/logGroup:LogGroup",
        "app",
        {"retentionInDays": UNKNOWN, "kmsKeyId": "k", "tags": tags},
    )
    report = pack.evaluate(builder.state())
    found = [v for v in report.violations if v.policy == "gdpr-log-retention"]
    assert [(v.enforcement_level, v.urn, v.message) for v in found] == [
        ("advisory", log_group.urn, "cannot be verified at preview: .retentionInDays is unknown")
    ]
    assert report.exit_code == 0


@pytest.mark.slow
def test_encrypted_secrets_are_counted(
    pack: PolicyHost, builder: StateBuilder, secret: dict[str, str]
) -> None:
    builder.add("kubernetes:core/v1:Secret", "s", {"stringData": {**secret, "ciphertext": "v1:x"}})
    report = pack.evaluate(builder.state())
    assert report.hidden_secrets == 1
    assert "encrypted secrets of 1 resource(s) could not be read offline" in render_text(report)
