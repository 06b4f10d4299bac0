"""Typed stack config: the project's stacks are valid; every bad value is one precise error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rollout_cli.stackfile import load_offline
from rollout_rules.errors import ConfigError
from tests.conftest import STACKS, edit_stack


@pytest.mark.parametrize("stack", STACKS)
def test_project_stacks_are_valid(stack: str) -> None:
    loaded = load_offline(stack)
    assert loaded.model.rollout.week >= 1
    # Every credential is a `secure:` value in the stack file.
    assert {p[-1] for p in loaded.secure} >= {
        "pagerdutyRoutingKey",
        "slackWebhookUrl",
        "password",
        "kubeconfig",
        "grafanaAdminPassword",
    }


def test_prod_is_in_the_eu() -> None:
    assert load_offline("prod").model.region.startswith("eu-")


def _set(path: list[Any], value: Any) -> Any:
    def edit(config: dict) -> None:
        node: Any = config
        for key in path[:-1]:
            node = node[key]
        if value is _DELETE:
            del node[path[-1]]
        else:
            node[path[-1]] = value

    return edit


_DELETE = object()
ROLLOUT = "codex-rollout:rollout"
SERVICES = "codex-rollout:services"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            _set([ROLLOUT, "week"], 0),
            r"^codex-rollout:rollout\.week: 0 is not a week \(weeks start at 1\)$",
        ),
        (
            _set([ROLLOUT, "week"], "eight"),
            r"^codex-rollout:rollout\.week: 'eight' is invalid",
        ),
        (
            _set([ROLLOUT, "week"], _DELETE),
            r"^codex-rollout:rollout\.week: required key is missing$",
        ),
        (
            _set(["codex-rollout:routing", "hostnmae"], "x.example.com"),
            r"^codex-rollout:routing\.hostnmae: unknown key",
        ),
        (
            _set([SERVICES, 0, "image"], "nginx:latest"),
            r"^codex-rollout:services\[0\]\.image: 'nginx:latest' is not pinned by digest",
        ),
        (
            _set([SERVICES, 1, "tiers", "production", "memory"], "lots"),
            r"^codex-rollout:services\[1\]\.tiers\.production\.memory: 'lots' is not a memory",
        ),
        (
            _set(["codex-rollout:network", "publicSubnetIds"], ["subnet-0a1b2c3d4e5f60001"]),
            r"^codex-rollout:network\.publicSubnetIds: 1 subnet\(s\) given "
            r"\(an ALB needs at least 2\)",
        ),
        (
            _set(["codex-rollout:tags", "data-classification"], "secret"),
            r"^codex-rollout:tags\.data-classification: 'secret' is invalid",
        ),
        (
            _set(["codex-rollout:routing", "service"], "nope"),
            r"^codex-rollout:routing\.service: 'nope' is not one of the services",
        ),
        (
            _set(["codex-rollout:cluster"], _DELETE),
            r"^codex-rollout:cluster: required key is missing$",
        ),
        (
            _set([SERVICES, 0, "tiers", "canary", "replicas"], 11),
            r"^codex-rollout:services\[0\]\.tiers\.canary\.maxReplicas: 10 is below replicas 11$",
        ),
        (
            _set([SERVICES, 1, "metricsPort"], 8081),
            r"^codex-rollout:services\[1\]\.metricsPort: 8081 must be different from port$",
        ),
        (
            _set(["codex-rollout:rolout"], {"week": 3}),
            r"^codex-rollout:rolout: unknown key",
        ),
        (
            _set(["codex-rollout:admission"], {"enforceFromWeek": {"canary": 6}}),
            r"^codex-rollout:admission\.enforceFromWeek\.canary: 6 is after week 5, when canary "
            r"first takes traffic",
        ),
        (
            _set(["codex-rollout:admission"], {"enforceFromWeek": {"staging": 2}}),
            r"^codex-rollout:admission\.enforceFromWeek: .*'staging' is not a tier",
        ),
        (
            _set(["codex-rollout:admission"], {"chartVersion": "^3.23"}),
            r"^codex-rollout:admission\.chartVersion: '\^3\.23' is not an exact chart version",
        ),
    ],
)
def test_bad_config_is_one_precise_line(stack_root: Path, edit: Any, message: str) -> None:
    edit_stack(stack_root, "prod", edit)
    with pytest.raises(ConfigError, match=message) as err:
        load_offline("prod", stack_root)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("path", "key"),
    [
        (["codex-rollout:alerting", "slackWebhookUrl"], "codex-rollout:alerting.slackWebhookUrl"),
        (
            ["codex-rollout:alerting", "pagerdutyRoutingKey"],
            "codex-rollout:alerting.pagerdutyRoutingKey",
        ),
        (["codex-rollout:alerting", "email", "password"], "codex-rollout:alerting.email.password"),
        (["codex-rollout:cluster", "kubeconfig"], "codex-rollout:cluster.kubeconfig"),
    ],
)
def test_plaintext_secret_is_rejected_without_echoing_it(
    stack_root: Path, path: list[str], key: str
) -> None:
    plaintext = "hunter2-plaintext-credential"
    edit_stack(stack_root, "sandbox", _set(path, plaintext))
    with pytest.raises(ConfigError) as err:
        load_offline("sandbox", stack_root)
    message = str(err.value)
    assert message.startswith(f"{key}: plaintext value where a secret is required")
    assert plaintext not in message


def test_custom_plan_is_validated(stack_root: Path) -> None:
    plan = [
        {"week": 1, "phase": "a", "allocation": {"sandbox": 100, "canary": 0, "production": 0}},
        {"week": 2, "phase": "b", "allocation": {"sandbox": 0, "canary": 20, "production": 80}},
        {"week": 3, "phase": "c", "allocation": {"sandbox": 0, "canary": 30, "production": 70}},
    ]
    edit_stack(stack_root, "sandbox", _set([ROLLOUT, "plan"], plan))
    with pytest.raises(
        ConfigError,
        match=r"^codex-rollout:rollout\.plan: invalid plan: week 3: production share drops",
    ):
        load_offline("sandbox", stack_root)


def test_custom_plan_replaces_the_default(stack_root: Path) -> None:
    plan = [
        {"week": 1, "phase": "try", "allocation": {"sandbox": 100, "canary": 0, "production": 0}},
        {"week": 2, "phase": "go", "allocation": {"sandbox": 0, "canary": 0, "production": 100}},
    ]
    edit_stack(stack_root, "sandbox", _set([ROLLOUT, "plan"], plan))
    schedule = load_offline("sandbox", stack_root).model.schedule()
    assert schedule is not None
    assert [row.allocation.production for row in schedule] == [0, 100]


def test_missing_stack_file_names_it(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: codex-rollout\n")
    with pytest.raises(ConfigError, match=r"^Pulumi\.nope\.yaml: no such stack file"):
        load_offline("nope", tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "config:\n  a: [\n",
            "line 2, column 6: not valid YAML: '[' is never closed",
        ),
        (
            'config:\n  a: "abc\n  b: 2\n',
            "line 2, column 6: not valid YAML: a quoted scalar opened here is never closed",
        ),
        (
            "config:\n  a:\n    b: 1\n   c: 2\n",
            "line 4, column 4: not valid YAML: expected <block end>, but found "
            "'<block mapping start>' (while parsing a block mapping from line 2); "
            "check the indentation",
        ),
        (
            "config:\n\ta: 1\n",
            "line 2, column 1: not valid YAML: found character '\\t' that cannot start any "
            "token; indent with spaces, not tabs",
        ),
    ],
    ids=["unclosed-bracket", "unclosed-quote", "indentation", "tab"],
)
def test_broken_yaml_says_what_and_where(stack_root: Path, text: str, message: str) -> None:
    (stack_root / "Pulumi.sandbox.yaml").write_text(text)
    with pytest.raises(ConfigError) as err:
        load_offline("sandbox", stack_root)
    assert str(err.value) == f"Pulumi.sandbox.yaml: {message}"


@pytest.mark.parametrize(
    ("key", "before", "after", "line"),
    [
        ("week", "    week: 3\n", "    week: 3\n    week: 9\n", "duplicate key 'week'"),
        (
            "codex-rollout:tags",
            "\nconfig:\n",
            "\nconfig:\n  codex-rollout:tags: {owner: x}\n",
            "duplicate key 'codex-rollout:tags'",
        ),
    ],
    ids=["nested", "top-level"],
)
def test_a_duplicate_key_is_refused_with_its_line(
    stack_root: Path, key: str, before: str, after: str, line: str
) -> None:
    path = stack_root / "Pulumi.prod.yaml"
    text = path.read_text()
    assert text.count(before) == 1
    text = text.replace(before, after)
    path.write_text(text)
    lines = text.splitlines()
    first = next(i for i, t in enumerate(lines, 1) if t.strip().startswith(f"{key}:"))
    second = next(i for i, t in enumerate(lines, 1) if i > first and t.strip().startswith(key))
    with pytest.raises(ConfigError) as err:
        load_offline("prod", stack_root)
    assert str(err.value) == (
        f"Pulumi.prod.yaml: line {second}: {line} (first on line {first}); give each key once"
    )


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ([ROLLOUT, "week"], r"rollout\.week"),
        ([SERVICES, 0, "tiers", "canary", "replicas"], r"services\[0\]\.tiers\.canary\.replicas"),
        ([SERVICES, 0, "port"], r"services\[0\]\.port"),
        ([SERVICES, 1, "metricsPort"], r"services\[1\]\.metricsPort"),
        ([SERVICES, 0, "egress", 0, "port"], r"services\[0\]\.egress\[0\]\.port"),
    ],
)
def test_a_boolean_is_not_an_integer(stack_root: Path, path: list[Any], key: str) -> None:
    edit_stack(stack_root, "prod", _set(path, True))
    with pytest.raises(
        ConfigError,
        match=rf"^codex-rollout:{key}: True is invalid \(input should be a valid integer",
    ):
        load_offline("prod", stack_root)


def test_a_boolean_is_not_an_integer_in_a_custom_plan(stack_root: Path) -> None:
    plan = [
        {"week": True, "phase": "a", "allocation": {"sandbox": 100, "canary": 0, "production": 0}}
    ]
    edit_stack(stack_root, "sandbox", _set([ROLLOUT, "plan"], plan))
    with pytest.raises(ConfigError, match=r"^codex-rollout:rollout\.plan\[0\]\.week: True is"):
        load_offline("sandbox", stack_root)


def test_a_week_past_a_year_of_plateau_is_refused(stack_root: Path) -> None:
    assert load_offline("prod", stack_root, week=64).model.rollout.week == 64
    message = (
        "codex-rollout:rollout.week: 65 is past the rollout (at most week 64: the plan's last "
        "week 12 plus 52 weeks of plateau)"
    )
    with pytest.raises(ConfigError) as err:
        load_offline("prod", stack_root, week=65)
    assert str(err.value) == message
    edit_stack(stack_root, "prod", _set([ROLLOUT, "week"], 999))
    with pytest.raises(ConfigError, match=r"^codex-rollout:rollout\.week: 999 is past the rollout"):
        load_offline("prod", stack_root)


def test_the_week_bound_follows_a_custom_plan(stack_root: Path) -> None:
    plan = [
        {"week": w, "phase": "p", "allocation": {"sandbox": 100, "canary": 0, "production": 0}}
        for w in range(1, 21)
    ]
    edit_stack(stack_root, "sandbox", _set([ROLLOUT, "plan"], plan))
    assert load_offline("sandbox", stack_root, week=72).model.rollout.week == 72
    with pytest.raises(ConfigError, match=r"73 is past the rollout \(at most week 72: the plan"):
        load_offline("sandbox", stack_root, week=73)


@pytest.mark.parametrize(
    ("line_start", "key", "what"),
    [
        ("    certificateArn:", "routing.certificateArn", "the ARN"),
        ("      image:", "services[0].image", "the ECR registry"),
        ("    oidcProviderArn:", "cluster.oidcProviderArn", "the EKS OIDC issuer"),
        ("    oidcIssuer:", "cluster.oidcIssuer", "the EKS OIDC issuer"),
        ("    availabilityZones:", "network.availabilityZones[0]", "the availability zone"),
    ],
)
def test_a_region_that_contradicts_the_stack_is_refused(
    stack_root: Path, line_start: str, key: str, what: str
) -> None:
    # A copy of prod moved to eu-west-3 everywhere except on one line.
    path = stack_root / "Pulumi.prod.yaml"
    lines = path.read_text().splitlines(keepends=True)
    kept = next(i for i, line in enumerate(lines) if line.startswith(line_start))
    assert "eu-central-1" in lines[kept]
    moved = [
        line if i == kept else line.replace("eu-central-1", "eu-west-3")
        for i, line in enumerate(lines)
    ]
    path.write_text("".join(moved))
    with pytest.raises(ConfigError) as err:
        load_offline("prod", stack_root)
    message = str(err.value)
    assert message.startswith(f"codex-rollout:{key}: {what} ")
    assert message.endswith(
        "is in eu-central-1, but the stack's aws:region is eu-west-3 "
        "(a stack is one region: change one or the other)"
    )


def test_a_copy_with_only_the_region_changed_is_refused(stack_root: Path) -> None:
    edit_stack(stack_root, "prod", _set(["aws:region"], "eu-west-3"))
    with pytest.raises(
        ConfigError, match=r"is in eu-central-1, but the stack's aws:region is eu-west-3"
    ):
        load_offline("prod", stack_root)


def test_a_consistent_copy_in_another_region_is_valid(stack_root: Path) -> None:
    path = stack_root / "Pulumi.prod.yaml"
    path.write_text(path.read_text().replace("eu-central-1", "eu-west-3"))
    assert load_offline("prod", stack_root).model.region == "eu-west-3"
