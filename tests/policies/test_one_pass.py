"""The one-pass analyzer (policies/one_pass.py) against the SDK's own: the same property values
from the same protobuf Structs, the same reports from the same states, and the conditions under
which the pack uses it."""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from typing import Any

import pytest
from google.protobuf import json_format, struct_pb2
from pulumi_policy import policy as sdk

from policies import one_pass
from rollout_cli.offline import UNKNOWN, render_state
from rollout_cli.policy.host import PolicyHost

VALUES: list[Any] = [
    {},
    {"a": "b", "n": 1, "f": 2.5, "neg": -7, "t": True, "no": False, "none": None},
    {"nested": {"deep": {"list": [1, "x", None, {"k": [True, {"e": []}]}]}}},
    {"unicode": "Grüße — ✓", "empty": "", "big": 2**52, "tiny": 1e-300},
    {"list": [[], [[]], [{}], [1.0, 2.0]], "obj": {"": ""}},
]


@pytest.mark.parametrize("value", VALUES)
def test_struct_reader_matches_message_to_dict(value: dict[str, Any]) -> None:
    message = struct_pb2.Struct()
    message.update(value)
    got = one_pass.struct_to_dict(message)
    assert got == json_format.MessageToDict(message)
    assert [type(x) for x in _leaves(got)] == [
        type(x) for x in _leaves(json_format.MessageToDict(message))
    ]


def test_struct_reader_reads_an_unset_value_as_null() -> None:
    message = struct_pb2.Struct()
    message.fields["unset"].CopyFrom(struct_pb2.Value())
    assert one_pass.struct_to_dict(message) == json_format.MessageToDict(message) == {"unset": None}


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_struct_reader_refuses_what_the_sdk_refuses(number: float) -> None:
    message = struct_pb2.Struct()
    message.fields["x"].list_value.values.add().number_value = number
    with pytest.raises(ValueError) as sdk_error:
        json_format.MessageToDict(message)
    with pytest.raises(ValueError) as ours:
        one_pass.struct_to_dict(message)
    assert str(ours.value) == str(sdk_error.value)


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for key in sorted(value):
            yield from _leaves(value[key])
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


# -- when the pack uses it ---------------------------------------------------------------------


@pytest.fixture
def restore_servicer() -> Iterator[None]:
    before = sdk._PolicyAnalyzerServicer
    yield
    sdk._PolicyAnalyzerServicer = before


@pytest.mark.usefixtures("restore_servicer")
def test_install_swaps_the_servicer_for_the_mirrored_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(one_pass.SWITCH, raising=False)
    assert one_pass.install() is True
    assert sdk._PolicyAnalyzerServicer is one_pass.OnePassAnalyzer


@pytest.mark.usefixtures("restore_servicer")
def test_install_keeps_the_sdk_analyzer_when_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(one_pass.SWITCH, "sdk")
    assert one_pass.install() is False
    assert sdk._PolicyAnalyzerServicer is one_pass._SDK_SERVICER


@pytest.mark.usefixtures("restore_servicer")
def test_install_keeps_the_sdk_analyzer_for_another_sdk_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(one_pass.SWITCH, raising=False)
    monkeypatch.setattr(one_pass, "VERSION", "1.22.0")
    assert one_pass.install() is False
    assert sdk._PolicyAnalyzerServicer is one_pass._SDK_SERVICER


def test_the_mirrored_version_is_the_installed_sdk() -> None:
    # Bumping pulumi-policy means re-reading its Analyze/AnalyzeStack against one_pass.py.
    assert version("pulumi-policy") == one_pass.MIRRORED_SDK_VERSION


# -- the same reports as the SDK's analyzer ----------------------------------------------------


@contextmanager
def _sdk_analyzer() -> Iterator[PolicyHost]:
    previous = os.environ.get(one_pass.SWITCH)
    os.environ[one_pass.SWITCH] = "sdk"
    try:
        host = PolicyHost()
    finally:
        if previous is None:
            del os.environ[one_pass.SWITCH]
        else:
            os.environ[one_pass.SWITCH] = previous
    with host:
        yield host


@pytest.fixture(scope="module")
def sdk_pack() -> Iterator[PolicyHost]:
    with _sdk_analyzer() as host:
        yield host


def _resources(state: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r for r in state["deployment"]["resources"] if r["type"] == kind]


def _planted(state: dict[str, Any]) -> dict[str, Any]:
    """Violations for resource and stack policies, and unknowns at preview."""
    state = copy.deepcopy(state)
    alarm = _resources(state, "aws:cloudwatch/metricAlarm:MetricAlarm")[0]
    alarm["inputs"]["tags"] = {}
    alarm["outputs"]["tags"] = {}
    deployment = _resources(state, "kubernetes:apps/v1:Deployment")[0]
    for part in ("inputs", "outputs"):
        container = deployment[part]["spec"]["template"]["spec"]["containers"][0]
        container["image"] = "nginx:latest"
        container.pop("resources", None)
    listener = next(
        r
        for r in _resources(state, "aws:lb/listener:Listener")
        if r["inputs"].get("protocol") == "HTTPS"
    )
    groups = listener["outputs"]["defaultActions"][0]["forward"]["targetGroups"]
    groups[0]["weight"] = int(groups[0]["weight"]) + 7
    key = _resources(state, "aws:kms/key:Key")[0]
    key["inputs"]["tags"]["owner"] = UNKNOWN
    return state


CASES = {
    "sandbox week 6": lambda: render_state("sandbox", 6),
    "prod week 8": lambda: render_state("prod", 8),
    "prod week 8, planted": lambda: _planted(render_state("prod", 8)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_reports_equal_the_sdk_analyzer(case: str, pack: PolicyHost, sdk_pack: PolicyHost) -> None:
    state = CASES[case]()
    ours = pack.evaluate(state).as_dict()
    theirs = sdk_pack.evaluate(state).as_dict()
    assert ours == theirs
    if "planted" in case:
        assert ours["summary"]["mandatory"] > 0
        assert {v["policy"] for v in ours["violations"]} >= {
            "rollout-weights-sum-to-100",
            "k8s-image-pinned",
            "soc2-required-tags",
        }
        # The unknown owner tag: an advisory, never a silent pass.
        assert any(
            "cannot be verified at preview" in v["message"] and v["enforcementLevel"] == "advisory"
            for v in ours["violations"]
        )
