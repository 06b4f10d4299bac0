"""`rollout render --out DIR` never deletes or overwrites a file it did not write."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from rollout_cli.render import MANIFEST, RenderRefusedError, render
from tests.conftest import plan_of, run_cli


def _files(directory: Path) -> set[str]:
    return {p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file()}


def _one_line_exit_2(result: object) -> str:
    assert getattr(result, "returncode", None) == 2
    lines = getattr(result, "stderr", "").strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert "Traceback" not in getattr(result, "stderr", "")
    return lines[0]


def test_a_directory_holding_a_users_files_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "k8s").mkdir(parents=True)
    (out / "k8s" / "important.yaml").write_text("kind: ConfigMap\n")
    (out / "resources.json").write_text("{}\n")
    line = _one_line_exit_2(run_cli("render", "--stack", "sandbox", "--out", str(out)))
    assert "is not a previous render" in line and str(out) in line
    assert _files(out) == {"k8s/important.yaml", "resources.json"}
    assert (out / "k8s" / "important.yaml").read_text() == "kind: ConfigMap\n"


def test_an_empty_out_is_refused(stack_root: Path) -> None:
    before = _files(stack_root)
    line = _one_line_exit_2(run_cli("render", "--stack", "sandbox", "--out", "", cwd=stack_root))
    assert "--out ''" in line
    assert _files(stack_root) == before


def test_a_file_as_out_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("mine\n")
    line = _one_line_exit_2(run_cli("render", "--stack", "sandbox", "--out", str(target)))
    assert "is not a directory" in line
    assert target.read_text() == "mine\n"


def test_the_manifest_lists_every_file_written(tmp_path: Path) -> None:
    out = tmp_path / "out"
    render(plan_of("sandbox", 5), out)
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["stack"] == "sandbox" and manifest["week"] == 5
    assert set(manifest["files"]) | {MANIFEST} == _files(out)
    assert {"resources.json", "prometheus/rules.yaml", "rollback/plan.json"} <= set(
        manifest["files"]
    )


def test_a_previous_render_is_replaced_whole(tmp_path: Path) -> None:
    out = tmp_path / "out"
    render(plan_of("sandbox", 8), out)
    week8 = _files(out)
    render(plan_of("sandbox", 1), out)
    week1 = _files(out)
    # Week 8 has tiers that week 1 does not: their manifests are gone, nothing of week 8 is left.
    assert {f for f in week8 - week1 if f.startswith("k8s/codex-production--")}
    assert set(json.loads((out / MANIFEST).read_text())["files"]) | {MANIFEST} == week1
    assert json.loads((out / MANIFEST).read_text())["week"] == 1
    # No staging or set-aside directory is left beside DIR.
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda out: (out / "k8s" / "notes.yaml").write_text("mine\n"), "was not written"),
        (lambda out: (out / "mine").mkdir(), "was not written"),
        (lambda out: (out / "resources.json").write_text("{}\n"), "has changed since"),
        (lambda out: (out / MANIFEST).write_text("{}\n"), "is not a previous render"),
    ],
    ids=["added-file", "added-dir", "edited-file", "broken-manifest"],
)
def test_a_previous_render_with_other_files_is_refused(
    tmp_path: Path, tamper: object, message: str
) -> None:
    out = tmp_path / "out"
    render(plan_of("sandbox", 4), out)
    tamper(out)  # type: ignore[operator]
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(RenderRefusedError, match=message):
        render(plan_of("sandbox", 4), out)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    line = _one_line_exit_2(run_cli("render", "--stack", "sandbox", "--out", str(out)))
    assert message in line


def test_rendering_into_an_empty_directory_works(tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    result = run_cli("render", "--stack", "sandbox", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert (out / MANIFEST).is_file() and (out / "resources.json").is_file()


def test_a_failed_render_leaves_the_previous_one_whole(tmp_path: Path) -> None:
    out = tmp_path / "out"
    render(plan_of("sandbox", 4), out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    # A plan whose two Kubernetes objects would land in one file: render fails half-way.
    plan = plan_of("sandbox", 5)
    namespace = next(r for r in plan.records if r.type == "kubernetes:core/v1:Namespace")
    twin = dataclasses.replace(namespace, urn=namespace.urn + "-twin")
    with pytest.raises(ValueError, match="two Kubernetes objects render to"):
        render(dataclasses.replace(plan, records=[*plan.records, twin]), out)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging directory left
