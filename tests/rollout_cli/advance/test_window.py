"""The judged window: `--window`, or since the commit that set the stack's week (capped)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from rollout_cli.advance.window import format_duration, parse_duration, resolve_window
from rollout_rules.errors import ConfigError

DAY = 86400
T0 = 1_780_000_000  # a fixed commit time base


@pytest.mark.parametrize(
    ("text", "seconds"), [("2h", 7200), ("90m", 5400), ("1d12h", 129600), ("1w", 7 * DAY)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize("text", ["2 hours", "2", "h", "-1h", "30s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ConfigError, match=rf"--window '{text}'"):
        parse_duration(text)


def _commit(repo: Path, week: int | None, at: int, note: str) -> None:
    path = repo / "Pulumi.s.yaml"
    body = f"config:\n  codex-rollout:rollout:\n    week: {week}\n  # {note}\n"
    path.write_text(body)
    env = {**os.environ, "GIT_COMMITTER_DATE": f"{at} +0000", "GIT_AUTHOR_DATE": f"{at} +0000"}
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True, env=env)
    subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-qm",
            note,
        ],
        check=True,
        env=env,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    _commit(tmp_path, 4, T0, "week 4")
    _commit(tmp_path, 4, T0 + DAY, "comment only")
    _commit(tmp_path, 5, T0 + 2 * DAY, "week 5")
    _commit(tmp_path, 5, T0 + 3 * DAY, "another comment")
    return tmp_path


def test_window_starts_at_the_commit_that_set_the_week(repo: Path) -> None:
    window = resolve_window(None, repo / "Pulumi.s.yaml", 5, T0 + 2 * DAY + 7200)
    assert window.seconds == 7200
    assert window.start == T0 + 2 * DAY
    assert "since week 5 was committed" in window.source


def test_window_is_capped_at_seven_days(repo: Path) -> None:
    window = resolve_window(None, repo / "Pulumi.s.yaml", 5, T0 + 30 * DAY)
    assert window.seconds == 7 * DAY
    assert "capped at 7d" in window.source


def test_uncommitted_week_needs_an_explicit_window(repo: Path) -> None:
    path = repo / "Pulumi.s.yaml"
    path.write_text(path.read_text().replace("week: 5", "week: 6"))
    with pytest.raises(ConfigError, match=r"rollout.week 6 is not committed .*--window"):
        resolve_window(None, path, 6, T0 + 4 * DAY)
    assert resolve_window("2h", path, 6, T0 + 4 * DAY).seconds == 7200


def test_outside_git_needs_an_explicit_window(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.s.yaml"
    path.write_text("config: {}\n")
    with pytest.raises(ConfigError, match=r"not in a git repository.*--window"):
        resolve_window(None, path, 5, T0)
