"""The CI workflows pass actionlint (a prebuilt binary from PyPI, pinned in the test extra), so
an action major whose runtime GitHub removed, or any other mistake, fails the suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rollout_cli.stackfile import REPO_ROOT

ACTIONLINT = Path(sys.executable).with_name("actionlint")
WORKFLOWS = REPO_ROOT / ".github" / "workflows"


def actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    assert ACTIONLINT.is_file(), "actionlint is not installed (the test extra pins it)"
    # shellcheck and pyflakes off: their findings would depend on what else is installed.
    return subprocess.run(
        [str(ACTIONLINT), "-oneline", "-shellcheck=", "-pyflakes=", *map(str, paths)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_workflows_pass_actionlint() -> None:
    workflows = sorted(WORKFLOWS.glob("*.yml"))
    assert workflows
    result = actionlint(*workflows)
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


def test_actionlint_refuses_an_action_on_a_removed_runtime(tmp_path: Path) -> None:
    workflow = tmp_path / "old.yml"
    workflow.write_text(
        "on: push\n"
        "jobs:\n"
        "  build:\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        "      - uses: actions/checkout@v4\n"
    )
    result = actionlint(workflow)
    assert result.returncode == 1
    assert 'runtime "node20"' in result.stdout and "actions/checkout@v4" in result.stdout
