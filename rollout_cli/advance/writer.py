"""Writing `rollout.week` as `pulumi config set --path codex-rollout:rollout.week N` would.

Only that value changes: ruamel.yaml (round trip) finds where the scalar sits in the file, the
text of that one scalar is replaced in place, and the result is read back to check that nothing
else moved. Comments, key order, quoting and formatting stay byte for byte. The new text is
written to a temporary file in the same directory, flushed to disk and renamed over the stack
file, so a reader sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from rollout_rules.contract import PROJECT
from rollout_rules.errors import ConfigError

KEY = f"{PROJECT}:rollout"
_SCALAR = re.compile(r"""(?:"[^"]*"|'[^']*'|[^\s,}\]#]+)""")


def _load(text: str, name: str) -> Any:
    try:
        return YAML(typ="rt").load(text)
    except YAMLError as err:
        raise ConfigError(f"{name}: is not valid YAML ({err})") from None


def _rollout(document: Any, name: str) -> CommentedMap:
    config = document.get("config") if isinstance(document, CommentedMap) else None
    rollout = config.get(KEY) if isinstance(config, CommentedMap) else None
    if not isinstance(rollout, CommentedMap) or "week" not in rollout:
        raise ConfigError(f"{name}: has no `config: {KEY}: week:` to change")
    return rollout


def set_week_text(text: str, week: int, name: str) -> str:
    """`text` with `config.codex-rollout:rollout.week` set to `week`, nothing else changed."""
    document = _load(text, name)
    rollout = _rollout(document, name)
    line, column = rollout.lc.value("week")
    lines = text.splitlines(keepends=True)
    target = lines[line]
    token = _SCALAR.match(target, column)
    if token is None:
        raise ConfigError(f"{name}:{line + 1}: cannot find the value of rollout.week")
    lines[line] = target[: token.start()] + str(week) + target[token.end() :]
    updated = "".join(lines)
    # Read back: the week is the new one, and every other value is what it was.
    after = _load(updated, name)
    if _rollout(after, name)["week"] != week:
        raise ConfigError(f"{name}:{line + 1}: rollout.week did not take the new value")
    _rollout(after, name)["week"] = rollout["week"]
    if _plain(after) != _plain(document):
        raise ConfigError(f"{name}: changing rollout.week would change other values")
    return updated


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def write_week(path: Path, week: int) -> None:
    """Set the stack file's week atomically (same directory temp file, fsync, rename)."""
    text = path.read_text()
    updated = set_week_text(text, week, path.name)
    mode = path.stat().st_mode & 0o7777
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="") as handle:
            handle.write(updated)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
