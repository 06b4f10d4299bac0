"""The pack process and the engine service: the engine address given to the pack answers, and
the project's own stacks have no violation and nothing unevaluated at any week."""

from __future__ import annotations

from collections.abc import Callable

import grpc  # type: ignore[import-untyped]
import pytest
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc

from rollout_cli.offline import PlanResult
from rollout_cli.policy.host import PolicyHost
from rollout_cli.policy.state import plan_state
from tests.conftest import STACKS, WEEKS

pytestmark = pytest.mark.slow  # the pack process, and whole-program plans


def test_the_engine_address_given_to_the_pack_answers(pack: PolicyHost) -> None:
    with grpc.insecure_channel(pack.engine_address) as channel:
        engine = engine_pb2_grpc.EngineStub(channel)
        engine.Log(engine_pb2.LogRequest(severity=engine_pb2.WARNING, message="hello", urn="u"))
        engine.SetRootResource(engine_pb2.SetRootResourceRequest(urn="urn:root"))
        assert engine.GetRootResource(engine_pb2.GetRootResourceRequest()).urn == "urn:root"
    assert ("warning", "u", "hello") in pack.engine.logs


@pytest.mark.parametrize("week", WEEKS)
@pytest.mark.parametrize("stack", STACKS)
def test_project_stacks_have_no_violations(
    pack: PolicyHost, plan: Callable[..., PlanResult], stack: str, week: int
) -> None:
    report = pack.evaluate(plan_state(plan(stack, week)))
    assert report.hidden_secrets == 0
    found = [f"{v.policy} {v.urn}: {v.message}" for v in report.violations]
    assert found == []
    unevaluated = [n for n in report.not_applicable if n.reason.startswith("can't run policy")]
    assert unevaluated == []
