"""The admission component in whole-program plans: Gatekeeper from its pinned chart, templates
and constraints in the render, the stack's own Pods admitted, and enforcement landing per tier
in dryrun first and deny from the configured week."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.admission.config import CHART_VERSION
from rollout_cli.policy.admission import Gatekeeper, is_constraint, is_template
from rollout_cli.render import kubernetes_objects
from tests.conftest import STACKS, plan_of
from tests.policies.gatekeeper import pod_of

pytestmark = pytest.mark.slow

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}


def _objects(stack: str, week: int) -> list[dict[str, Any]]:
    return kubernetes_objects(plan_of(stack, week))


def _forced(objects: list[dict[str, Any]], action: str) -> Gatekeeper:
    constraints = []
    for c in (o for o in objects if is_constraint(o)):
        c = copy.deepcopy(c)
        c["spec"]["enforcementAction"] = action
        constraints.append(c)
    return Gatekeeper([o for o in objects if is_template(o)], constraints)


@pytest.mark.parametrize("stack", STACKS)
def test_the_stacks_own_workloads_and_their_pods_are_admitted(stack: str) -> None:
    objects = _objects(stack, 12)
    gk = _forced(objects, "deny")
    workloads = [o for o in objects if o["kind"] in WORKLOAD_KINDS]
    in_tiers = [w for w in workloads if w["metadata"]["namespace"].startswith("codex-")]
    assert len(in_tiers) >= 6  # every service in all three tiers
    for workload in in_tiers:
        assert gk.review(workload) == [], workload["metadata"]
        assert gk.review(pod_of(workload)) == [], workload["metadata"]


@pytest.mark.parametrize("stack", STACKS)
def test_a_bad_pod_in_a_tier_namespace_is_denied(stack: str) -> None:
    objects = _objects(stack, 12)
    gk = Gatekeeper.from_objects(objects)
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    pod = pod_of(deployment)
    pod["spec"]["containers"][0]["securityContext"]["privileged"] = True
    findings = gk.review(pod)
    assert [f.action for f in findings] == ["deny"]
    name = pod["spec"]["containers"][0]["name"]
    assert findings[0].message == f"k8s-pod-security-restricted: container '{name}' is privileged"


def test_render_holds_templates_and_constraints_for_every_tier() -> None:
    objects = _objects("prod", 1)
    templates = [o for o in objects if is_template(o)]
    constraints = [o for o in objects if is_constraint(o)]
    assert len(templates) == 5
    assert len(constraints) == 5 * 3  # every tier from week 1, before its environment exists
    assert {c["spec"]["enforcementAction"] for c in constraints} == {"dryrun"}


def _actions(stack: str, week: int) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for c in (o for o in _objects(stack, week) if is_constraint(o)):
        tier = c["spec"]["match"]["namespaces"][0].removeprefix("codex-")
        found.setdefault(tier, set()).add(c["spec"]["enforcementAction"])
    return found


def test_enforcement_lands_tier_by_tier() -> None:
    deny_weeks = plan_of("prod", 1).config.deny_weeks()
    for week in (1, 2, 3, 4, 6, 7, 8, 12):
        expected = {
            tier: {"deny" if deny is not None and week >= deny else "dryrun"}
            for tier, deny in deny_weeks.items()
        }
        assert _actions("prod", week) == expected, week
    # By default: sandbox from week 2, canary from week 4, production from week 7.
    assert _actions("prod", 4)["canary"] == {"deny"}
    assert _actions("prod", 3)["canary"] == {"dryrun"}
    assert _actions("prod", 7)["production"] == {"deny"}


def test_the_deny_switch_changes_only_that_tiers_constraints() -> None:
    before = {r.urn: r for r in plan_of("prod", 6).records if "admission" in r.urn}
    after = {r.urn: r for r in plan_of("prod", 7).records if "admission" in r.urn}
    assert before.keys() == after.keys()
    changed = {urn for urn in before if before[urn].inputs != after[urn].inputs}
    assert changed and all(urn.endswith("-production") for urn in changed)
    for urn in changed:
        old, new = copy.deepcopy(before[urn].inputs), copy.deepcopy(after[urn].inputs)
        assert (old["spec"].pop("enforcementAction"), new["spec"].pop("enforcementAction")) == (
            "dryrun",
            "deny",
        )
        assert old == new


def test_gatekeeper_release_is_pinned_bounded_and_restricted() -> None:
    records = plan_of("prod", 1).records
    (release,) = [
        r for r in records if r.type == "kubernetes:helm.sh/v3:Release" and "admission" in r.urn
    ]
    inputs = release.inputs
    assert inputs["chart"] == "gatekeeper"
    assert inputs["version"] == CHART_VERSION
    assert (
        inputs["repositoryOpts"]["repo"] == "https://open-policy-agent.github.io/gatekeeper/charts"
    )
    assert inputs["namespace"] == "gatekeeper-system"
    values = inputs["values"]
    for part in ("controllerManager", "audit"):
        resources = values[part]["resources"]
        assert set(resources["limits"]) == {"cpu", "memory"}
        assert set(resources["requests"]) == {"cpu", "memory"}
    assert values["enableRuntimeDefaultSeccompProfile"] is True
    (namespace,) = [
        o
        for o in kubernetes_objects(plan_of("prod", 1))
        if o["kind"] == "Namespace" and o["metadata"]["name"] == "gatekeeper-system"
    ]
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["admission.gatekeeper.sh/ignore"] == "no-self-managing"
