"""The function's log lines (one JSON object per line) and the timestamps it records."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import IO, Any

LOG_STREAM: IO[str] | None = None
"""Where log lines go (None: stdout, which Lambda sends to the function's log group)."""


def log(level: str, message: str, **fields: Any) -> None:
    record = {"level": level, "message": message, **fields}
    stream = LOG_STREAM or sys.stdout
    stream.write(json.dumps(record, default=str) + "\n")
    stream.flush()


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
