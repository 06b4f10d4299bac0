"""Every input file that is not UTF-8 (or not readable) is one line naming it, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollout_cli.inputs import read_input
from rollout_rules.errors import ConfigError
from tests.conftest import run_cli

# "café" in Latin-1: the 0xe9 byte is not UTF-8.
LATIN1 = "# café\n".encode("latin-1")


def _latin1_json(path: Path) -> Path:
    path.write_bytes(b'{"note": "caf\xe9"}\n')
    return path


@pytest.mark.parametrize(
    ("args", "label"),
    [
        (("policy", "check", "--export", "bad.json"), "--export bad.json"),
        (
            ("policy", "check", "--export", "bad.json", "--config", "bad.json"),
            "--config bad.json",
        ),
        (("plan", "--stack", "sandbox", "--ledger", "bad.json"), "--ledger bad.json"),
        (("render", "--stack", "sandbox", "--ledger", "bad.json", "--out", "o"), "--ledger"),
        (
            (
                "advance",
                "--stack",
                "sandbox",
                "--ledger",
                "bad.json",
                "--window",
                "2h",
                "--dry-run",
            ),
            "--ledger bad.json",
        ),
        (("rollback", "--event", "bad.json"), "--event bad.json"),
    ],
    ids=["export", "config", "plan-ledger", "render-ledger", "advance-ledger", "event"],
)
def test_a_non_utf8_input_file_is_one_line_exit_2(
    stack_root: Path, args: tuple[str, ...], label: str
) -> None:
    _latin1_json(stack_root / "bad.json")
    result = run_cli(*args, cwd=stack_root)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {label}") and "not UTF-8" in lines[0]
    assert "Traceback" not in result.stderr
    assert not (stack_root / "o").exists()


def test_a_non_utf8_stack_file_is_one_line_exit_2(stack_root: Path) -> None:
    path = stack_root / "Pulumi.prod.yaml"
    path.write_bytes(LATIN1 + path.read_bytes())
    for args in (("config", "validate", "--stack", "prod"), ("schedule", "--stack", "prod")):
        result = run_cli(*args, cwd=stack_root)
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip() == (
            "error: Pulumi.prod.yaml: not UTF-8 text (byte 0xe9 on line 1); save it as UTF-8"
        )


def test_read_input_names_the_line_and_accepts_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_bytes(b"{\n\n" + LATIN1)
    with pytest.raises(ConfigError, match=r"^--x f.json: not UTF-8 text \(byte 0xe9 on line 3\)"):
        read_input(path, "--x f.json")
    path.write_bytes("\ufeff{}".encode())
    assert read_input(path, "f") == "{}"
    with pytest.raises(ConfigError, match="cannot read"):
        read_input(tmp_path / "missing", "missing")
