"""Rendered manifests pass real validators: kubernetes-validate --strict, CRD schemas, checkov."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import jsonschema
import pytest
import yaml

from rollout_cli.render import render
from rollout_cli.stackfile import REPO_ROOT
from tests.conftest import STACKS, plan_of, shared

pytestmark = pytest.mark.slow  # renders whole plans and runs checkov, kubernetes-validate

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
SKIPS = REPO_ROOT / "tools" / "checkov-skips.yaml"
# Weeks that cover every shape of the stacks: one tier, two tiers, all three tiers.
WEEKS = (1, 4, 12)


def _crd_schema(api_version: str, kind: str) -> dict | None:
    group_version = api_version.replace("/", "-")
    group, _, version = group_version.rpartition("-")
    path = SCHEMAS / f"{kind.lower()}.{group}-{version}.json"
    return json.loads(path.read_text()) if path.exists() else None


RENDERS = [(s, w) for s in STACKS for w in WEEKS]


def _render_id(render: tuple[str, int]) -> str:
    return f"{render[0]}-week{render[1]}"


@pytest.fixture(scope="module", params=RENDERS, ids=_render_id)
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    stack, week = request.param
    out = tmp_path_factory.mktemp("render", numbered=True) / _render_id(request.param)
    render(plan_of(stack, week), out)
    (out / "stack-week.json").write_text(json.dumps([stack, week]))
    return out


def _manifests(rendered: Path) -> list[Path]:
    files = sorted((rendered / "k8s").glob("*.yaml"))
    assert files
    return files


def test_builtin_kinds_pass_kubernetes_validate_strict(rendered: Path) -> None:
    version = plan_of(*_stack_week(rendered)).config.cluster.kubernetes_version
    tool = Path(sys.executable).with_name("kubernetes-validate")
    result = subprocess.run(
        [str(tool), "--strict", "-k", version, "--quiet", *map(str, _manifests(rendered))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # A schema it cannot find is only acceptable for custom resources, checked below.
    for line in result.stdout.splitlines():
        assert line.startswith("WARN"), line
        assert "Couldn't find schema" in line
        assert _is_custom(line), line


def _is_custom(line: str) -> bool:
    api_version = line.split("with api version ")[1].split(" ")[0]
    return "." in api_version.split("/")[0] and not api_version.endswith("k8s.io/v1")


def _constraint_schema(kind: str, objects: list[dict]) -> dict | None:
    """Gatekeeper generates a constraint kind's CRD from its template: the common constraint
    schema with the template's parameters schema in place."""
    schema = _crd_schema("constraints.gatekeeper.sh/v1beta1", "Constraint")
    template = next(
        (
            o
            for o in objects
            if o["kind"] == "ConstraintTemplate"
            and o["spec"]["crd"]["spec"]["names"]["kind"] == kind
        ),
        None,
    )
    if schema is None or template is None:
        return None
    parameters = template["spec"]["crd"]["spec"]["validation"]["openAPIV3Schema"]
    schema["properties"]["spec"]["properties"]["parameters"] = {
        **parameters,
        "additionalProperties": False,
    }
    schema["properties"]["kind"] = {"const": kind}
    return schema


def test_custom_resources_match_their_crd_schemas(rendered: Path) -> None:
    checked = 0
    objects = [yaml.safe_load(path.read_text()) for path in _manifests(rendered)]
    for obj in objects:
        group = obj["apiVersion"].split("/")[0]
        if "." not in group or group.endswith(".k8s.io"):
            continue
        if group == "constraints.gatekeeper.sh":
            schema = _constraint_schema(obj["kind"], objects)
        else:
            schema = _crd_schema(obj["apiVersion"], obj["kind"])
        assert schema is not None, f"no CRD schema for {obj['apiVersion']} {obj['kind']}"
        jsonschema.validate(obj, schema)
        checked += 1
    assert checked >= 1


def _checkov_all() -> dict[str, tuple[list[str], int]]:
    """Checkov once over every (stack, week) render: for each render's directory name, its
    failed checks and how many checks passed. Shared by the run's xdist workers."""
    checkov = os.environ.get("CHECKOV") or shutil.which("checkov")
    assert checkov, "checkov is not installed (make tools installs it into .venv-checkov)"
    skips = yaml.safe_load(SKIPS.read_text())["skips"]
    assert all(s.get("id") and s.get("reason") for s in skips)
    with tempfile.TemporaryDirectory() as tmp:
        # Each render's k8s/ directory alone (what checkov scanned per render before), under
        # its render's name: <root>/<id>/<manifest>.
        root, work = Path(tmp) / "k8s", Path(tmp) / "renders"
        root.mkdir()
        for render_key in RENDERS:
            render(plan_of(*render_key), work / _render_id(render_key))
            (work / _render_id(render_key) / "k8s").rename(root / _render_id(render_key))
        args = [
            checkov,
            "-d",
            str(root),
            "--framework",
            "kubernetes",
            "--output",
            "json",
            "--compact",
            "--skip-download",
        ]
        if skips:
            args += ["--skip-check", ",".join(s["id"] for s in skips)]
        result = subprocess.run(
            args, capture_output=True, text=True, check=False, timeout=600, cwd=root
        )
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    by_render: dict[str, tuple[list[str], int]] = {_render_id(r): ([], 0) for r in RENDERS}

    def owner(check: dict) -> str:
        directory = Path(check["file_path"].lstrip("/")).parts[0]
        assert directory in by_render, check["file_path"]
        return directory

    for r in reports:
        results = r.get("results", {})
        for c in results.get("failed_checks", []):
            by_render[owner(c)][0].append(f"{c['check_id']} {c['resource']} ({c['file_path']})")
        for c in results.get("passed_checks", []):
            failed, passed = by_render[owner(c)]
            by_render[owner(c)] = (failed, passed + 1)
    return by_render


def test_checkov_reports_no_failed_check(rendered: Path) -> None:
    failed, passed = shared(("checkov", *RENDERS), _checkov_all)[rendered.name]
    assert not failed, "\n".join(failed)
    assert passed > 0


def _stack_week(rendered: Path) -> tuple[str, int]:
    stack, week = json.loads((rendered / "stack-week.json").read_text())
    return stack, week
