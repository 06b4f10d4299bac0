"""One cold process, measured: wall time, CPU and peak RSS (for the benchmark scripts here)."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Measured:
    wall: float
    """Seconds from start to exit."""
    cpu: float
    """User + system seconds of the process and the children it waited for."""
    peak_mib: float
    """Peak RSS: wait4 reports the largest of the process and its waited-for children."""
    code: int
    stdout: str
    stderr: str


def measure(
    command: Sequence[str], cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> Measured:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(list(command), stdout=out, stderr=err, cwd=cwd, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        return Measured(
            wall=wall,
            cpu=usage.ru_utime + usage.ru_stime,
            peak_mib=usage.ru_maxrss / 1024,
            code=os.waitstatus_to_exitcode(status),
            stdout=out.read().decode(),
            stderr=err.read().decode(),
        )
