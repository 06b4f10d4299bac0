"""`rollout.week` written as `pulumi config set --path` would: that value only, atomically."""

from __future__ import annotations

import difflib
import os
import stat
from pathlib import Path

import pytest

from rollout_cli.advance.writer import set_week_text, write_week
from rollout_cli.stackfile import REPO_ROOT, load_offline
from rollout_rules.errors import ConfigError


@pytest.mark.parametrize("stack", ["sandbox", "prod"])
def test_only_the_week_line_changes(stack: str) -> None:
    text = (REPO_ROOT / f"Pulumi.{stack}.yaml").read_text()
    week = load_offline(stack).model.rollout.week
    updated = set_week_text(text, week + 1, stack)
    changed = [
        line for line in difflib.ndiff(text.splitlines(), updated.splitlines()) if line[:1] in "+-"
    ]
    assert changed == [f"-     week: {week}", f"+     week: {week + 1}"]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (
            "config:\n  codex-rollout:rollout: {week: 4}  # flow\n",
            "config:\n  codex-rollout:rollout: {week: 5}  # flow\n",
        ),
        (
            'config:\n  codex-rollout:rollout:\n    week: "4" # quoted\n',
            "config:\n  codex-rollout:rollout:\n    week: 5 # quoted\n",
        ),
        (
            "config:\r\n  codex-rollout:rollout:\r\n    week: 4\r\n    plan: null\r\n",
            "config:\r\n  codex-rollout:rollout:\r\n    week: 5\r\n    plan: null\r\n",
        ),
    ],
)
def test_styles_are_kept(before: str, after: str) -> None:
    assert set_week_text(before, 5, "Pulumi.x.yaml") == after


def test_no_week_to_change_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"Pulumi.x.yaml: has no `config: codex-rollout:rollout"):
        set_week_text("config:\n  aws:region: eu-west-1\n", 5, "Pulumi.x.yaml")


def test_write_is_atomic_and_keeps_the_mode(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.s.yaml"
    path.write_text("# head\nconfig:\n  codex-rollout:rollout:\n    week: 7 # now\n")
    os.chmod(path, 0o640)
    inode = path.stat().st_ino
    write_week(path, 8)
    assert path.read_text() == "# head\nconfig:\n  codex-rollout:rollout:\n    week: 8 # now\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert path.stat().st_ino != inode  # renamed over, not rewritten in place
    assert [p.name for p in tmp_path.iterdir()] == ["Pulumi.s.yaml"]
