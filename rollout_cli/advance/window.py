"""The window a week is judged over: `--window`, or the time since the stack's week last changed.

The default is shown, not guessed: the commit (on the first-parent line of HEAD, so on main the
merge that deployed it) that gave `Pulumi.<stack>.yaml` its current `rollout.week`, capped at
seven days. A week change that is not committed yet, or a stack file outside git, has no such
time; then the window must be given.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from rollout_rules.contract import PROJECT
from rollout_rules.errors import ConfigError

MAX_DEFAULT_SECONDS = 7 * 24 * 3600
MIN_SECONDS = 60
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^(?:[0-9]+[smhdw])+$")


def parse_duration(text: str) -> int:
    """Seconds in a Prometheus-style duration (`2h`, `90m`, `1d12h`); ConfigError otherwise."""
    if not _DURATION.match(text):
        raise ConfigError(f"--window {text!r}: not a duration (e.g. 2h, 90m, 3d, 1d12h)")
    seconds = sum(int(n) * _UNITS[u] for n, u in re.findall(r"([0-9]+)([smhdw])", text))
    if seconds < MIN_SECONDS:
        raise ConfigError(f"--window {text!r}: shorter than one minute")
    return seconds


def format_duration(seconds: int) -> str:
    """`seconds` as PromQL writes a range: 7200 -> 2h, 93784 -> 1d2h3m4s."""
    parts = []
    for unit in ("d", "h", "m", "s"):
        count, seconds = divmod(seconds, _UNITS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


@dataclass(frozen=True)
class Window:
    """The judged interval: `seconds` long, ending at unix time `end`."""

    seconds: int
    end: float
    source: str
    """How the length was chosen, for the report."""

    @property
    def range(self) -> str:
        return format_duration(self.seconds)

    @property
    def start(self) -> float:
        return self.end - self.seconds


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=False, timeout=60
    )
    if done.returncode != 0:
        raise ConfigError(done.stderr.strip().splitlines()[0] if done.stderr.strip() else "git")
    return done.stdout


def _week_of(text: str) -> int | None:
    try:
        document = yaml.safe_load(text) or {}
        week = document["config"][f"{PROJECT}:rollout"]["week"]
    except (yaml.YAMLError, KeyError, TypeError):
        return None
    return week if isinstance(week, int) else None


def week_changed_at(stack_file: Path, week: int) -> tuple[float, str]:
    """Unix time and commit at which `stack_file` got `rollout.week: week` (first-parent line).

    ConfigError when the file has no git history or its current week is not committed.
    """
    root = stack_file.parent
    hint = "give --window, e.g. --window 2h"
    try:
        top = Path(_git(root, "rev-parse", "--show-toplevel").strip())
    except (ConfigError, OSError, subprocess.SubprocessError):
        raise ConfigError(
            f"{stack_file.name}: not in a git repository, so the time its week "
            f"changed is unknown ({hint})"
        ) from None
    relative = stack_file.resolve().relative_to(top.resolve()).as_posix()
    log = _git(top, "log", "--first-parent", "--format=%H %ct", "--", relative).split()
    commits = list(zip(log[0::2], log[1::2], strict=True))
    if not commits:
        raise ConfigError(
            f"{stack_file.name}: not committed, so the time its week changed is unknown ({hint})"
        )
    head_week = _week_of(_git(top, "show", f"{commits[0][0]}:{relative}"))
    if head_week != week:
        raise ConfigError(
            f"{stack_file.name}: rollout.week {week} is not committed (the last commit has "
            f"{head_week}), so the time it changed is unknown ({hint})"
        )
    changed = commits[0]
    for commit, when in commits[1:]:
        if _week_of(_git(top, "show", f"{commit}:{relative}")) != week:
            break
        changed = (commit, when)
    return float(changed[1]), changed[0]


def resolve_window(given: str | None, stack_file: Path, week: int, now: float) -> Window:
    """The window to judge: `given`, else since the week changed (at most seven days)."""
    if given is not None:
        return Window(parse_duration(given), now, f"--window {given}")
    changed, commit = week_changed_at(stack_file, week)
    seconds = int(now - changed)
    capped = min(max(seconds, MIN_SECONDS), MAX_DEFAULT_SECONDS)
    note = " (capped at 7d)" if seconds > MAX_DEFAULT_SECONDS else ""
    return Window(
        capped,
        now,
        f"since week {week} was committed in {commit[:12]} ({format_duration(seconds)} ago){note}",
    )
