"""Shared fixtures: offline plans of the project's stacks (cached), stack-file copies, the CLI."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from infra.config import REPO_ROOT
from rollout_cli.offline import PlanResult, run_plan

STACKS = ("sandbox", "prod")
WEEKS = tuple(range(1, 13))

_PLANS: dict[tuple[str, int | None, str | None], PlanResult] = {}


def plan_of(stack: str, week: int | None = None, ledger: str | None = None) -> PlanResult:
    """The offline plan of a project stack, computed once per test session."""
    key = (stack, week, ledger)
    if key not in _PLANS:
        _PLANS[key] = run_plan(stack, week, ledger)
    return _PLANS[key]


@pytest.fixture
def plan() -> Callable[..., PlanResult]:
    return plan_of


@pytest.fixture
def stack_root(tmp_path: Path) -> Path:
    """A copy of the project's stack files that a test may edit."""
    for path in REPO_ROOT.glob("Pulumi*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def edit_stack(root: Path, stack: str, edit: Callable[[dict], None]) -> Path:
    """Apply `edit` to the `config:` mapping of Pulumi.<stack>.yaml under `root`."""
    path = root / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text())
    edit(document["config"])
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the `rollout` console script in a fresh process."""
    rollout = Path(sys.executable).with_name("rollout")
    return subprocess.run(
        [str(rollout), *args],
        capture_output=True,
        text=True,
        cwd=cwd or REPO_ROOT,
        timeout=300,
        check=False,
    )
