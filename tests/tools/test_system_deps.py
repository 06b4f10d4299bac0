"""tools/system-deps.sh: `make test` installs its system tools, or says in one line what to do."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from rollout_cli.stackfile import REPO_ROOT

SCRIPT = REPO_ROOT / "tools" / "system-deps.sh"


def run(path_dirs: list[Path]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": os.pathsep.join(str(d) for d in path_dirs)}
    bash = shutil.which("bash")
    assert bash
    return subprocess.run(
        [bash, str(SCRIPT)], capture_output=True, text=True, env=env, check=False, timeout=60
    )


def shims(tmp_path: Path, names: list[str]) -> Path:
    """A directory of commands named `names` (plus what the script itself calls)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in [*names, "sort", "tr", "id"]:
        real = shutil.which(name)
        target = bin_dir / name
        if real and name in ("sort", "tr", "id"):
            target.symlink_to(real)
        else:
            target.write_text("#!/bin/sh\nexit 0\n")
            target.chmod(0o755)
    return bin_dir


def test_nothing_to_do_when_every_tool_is_there(tmp_path: Path) -> None:
    tools = ["promtool", "prometheus", "amtool", "prometheus-alertmanager"]
    result = run([shims(tmp_path, tools)])
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_without_apt_get_one_line_names_the_packages(tmp_path: Path) -> None:
    result = run([shims(tmp_path, ["promtool", "prometheus"])])
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "prometheus-alertmanager" in lines[0]
    assert "promtool" in lines[0] and "error:" in lines[0]
