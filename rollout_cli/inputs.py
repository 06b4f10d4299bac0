"""Reading an input file (stack file, --export, --config, --ledger, --event) as text.

Every failure is one line naming the file and the problem, raised as the caller's bad-input
error, so the command exits 2: a traceback (exit 1) would read as "mandatory violation" to CI.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rollout_rules.errors import ConfigError


def read_input(
    path: Path | str, label: str, error: Callable[[str], Exception] = ConfigError
) -> str:
    """The text of `path`, UTF-8 (a leading byte-order mark is dropped).

    `label` names the file in messages (`--ledger held.json`, `Pulumi.prod.yaml`); `error`
    builds the exception to raise.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise error(f"{label}: cannot read ({err.strerror or err})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise error(
            f"{label}: not UTF-8 text (byte 0x{data[err.start]:02x} on line {line}); "
            "save it as UTF-8"
        ) from None
