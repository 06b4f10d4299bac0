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


def _recorder(bin_dir: Path, name: str, log: Path) -> None:
    """A stand-in for a system command (apt-get, sudo) that records how it is called."""
    path = bin_dir / name
    path.write_text(f'#!/bin/sh\necho "{name} $*" >> {log}\n')
    path.chmod(0o755)


def test_with_apt_get_as_root_the_missing_packages_are_installed(tmp_path: Path) -> None:
    bin_dir = shims(tmp_path, ["promtool", "prometheus"])
    log = tmp_path / "calls"
    _recorder(bin_dir, "apt-get", log)
    (bin_dir / "id").unlink()
    (bin_dir / "id").write_text("#!/bin/sh\necho 0\n")
    (bin_dir / "id").chmod(0o755)
    result = run([bin_dir])
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    assert calls[0] == "apt-get update -q"
    assert calls[1].startswith("apt-get install -y -q --no-install-recommends")
    assert calls[1].split()[-1] == "prometheus-alertmanager"


def test_without_root_sudo_installs_them(tmp_path: Path) -> None:
    bin_dir = shims(tmp_path, [])
    log = tmp_path / "calls"
    _recorder(bin_dir, "apt-get", log)
    _recorder(bin_dir, "sudo", log)
    (bin_dir / "id").unlink()
    (bin_dir / "id").write_text("#!/bin/sh\necho 1000\n")
    (bin_dir / "id").chmod(0o755)
    result = run([bin_dir])
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    assert calls[0] == "sudo apt-get update -q"
    assert set(calls[1].split()[-2:]) == {"prometheus", "prometheus-alertmanager"}


def test_make_test_does_the_system_set_up_before_pytest() -> None:
    make = shutil.which("make")
    assert make, "make is not installed"
    result = subprocess.run(
        [make, "-n", "-C", str(REPO_ROOT), "test"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    commands = result.stdout.splitlines()
    setup = next(i for i, c in enumerate(commands) if c == "bash tools/system-deps.sh")
    tests = next(i for i, c in enumerate(commands) if "/bin/pytest" in c)
    assert setup < tests
