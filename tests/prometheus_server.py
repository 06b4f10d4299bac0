"""A real Prometheus server for tests: history backfilled into its data directory, then the
server started on a loopback port and stopped by its PID.

    history = OpenMetrics()
    history.add("http_requests", "counter", {"service": "a", "tier": "canary", "code": "200"},
                [(t0, 0), (t0 + 60, 120)], suffix="_total")
    with PrometheusServer(tmp_path) as prom:
        prom.backfill(history.text())   # promtool tsdb create-blocks-from openmetrics
        url = prom.start()              # http://127.0.0.1:<port>

Backfill before `start` (the blocks must be in the data directory when the server opens it).
Prometheus evaluates no rules here: anything rule-derived (recording rules, `ALERTS`) that a
test needs is backfilled as plain series. Debian's `prometheus` package provides both binaries
(`make test` installs it); without it the test fails, it is never skipped.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from rollout_cli.drill.processes import DrillSetupError, Server, free_port

START_TIMEOUT = 60.0


def binary(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not installed (Debian: prometheus; `make test` installs it)"
    return path


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    escaped = (
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in labels.items()
    )
    return "{" + ",".join(escaped) + "}"


@dataclass
class _Family:
    kind: str
    help: str
    lines: list[str] = field(default_factory=list)


class OpenMetrics:
    """OpenMetrics text built family by family, for `promtool tsdb create-blocks-from
    openmetrics`. Each series' points must be in ascending time order."""

    def __init__(self) -> None:
        self._families: dict[str, _Family] = {}

    def add(
        self,
        family: str,
        kind: str,
        labels: Mapping[str, str],
        points: Iterable[tuple[float, float]],
        *,
        suffix: str = "",
        help: str = "",
    ) -> None:
        """Points of one series `family + suffix` (e.g. `http_requests` + `_total`)."""
        entry = self._families.setdefault(family, _Family(kind, help or family))
        assert entry.kind == kind, f"{family}: declared {entry.kind}, now {kind}"
        name = family + suffix
        rendered = _labels(labels)
        entry.lines.extend(f"{name}{rendered} {value:.10g} {at:.3f}" for at, value in points)

    def text(self) -> str:
        out: list[str] = []
        for name, family in self._families.items():
            out += [f"# HELP {name} {family.help}", f"# TYPE {name} {family.kind}"]
            out += family.lines
        out.append("# EOF")
        return "\n".join(out) + "\n"


class PrometheusServer:
    """One Prometheus server with its own data directory under `workdir`."""

    def __init__(self, workdir: Path, extra_args: Sequence[str] = ()) -> None:
        self.workdir = workdir
        self.data = workdir / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "prometheus.yml"
        self.config.write_text("global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\n")
        self.log = workdir / "prometheus.log"
        self.extra_args = tuple(extra_args)
        self.server: Server | None = None
        self.url = ""

    def backfill(self, openmetrics: str) -> None:
        """Write `openmetrics` into TSDB blocks in the data directory (before `start`)."""
        assert self.server is None, "backfill before start: the server reads blocks at start"
        source = self.workdir / f"history-{time.monotonic_ns()}.om"
        source.write_text(openmetrics)
        done = subprocess.run(
            [
                binary("promtool"),
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                str(source),
                str(self.data),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, f"promtool backfill failed: {done.stderr or done.stdout}"

    def start(self) -> str:
        """Start the server on a free loopback port; return its URL once it is ready."""
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.server = Server(
            "prometheus",
            [
                binary("prometheus"),
                f"--config.file={self.config}",
                f"--storage.tsdb.path={self.data}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=30d",
                *self.extra_args,
            ],
            f"{self.url}/-/ready",
            self.log,
        )
        try:
            self.server.start()
        except DrillSetupError as err:
            self.stop()
            raise AssertionError(f"{err}: {self.log.read_text()[-2000:]}") from None
        return self.url

    def query(self, promql: str, at: float | None = None) -> list[dict]:
        """An instant query (for tests checking what the server holds)."""
        params = f"query={urllib.request.quote(promql)}" + (f"&time={at}" if at else "")
        with urllib.request.urlopen(f"{self.url}/api/v1/query?{params}", timeout=10) as resp:
            return list(json.load(resp)["data"]["result"])

    def stop(self) -> None:
        """Stop the server by its PID: SIGTERM, then SIGKILL after 10 s."""
        if self.server is not None:
            self.server.stop()

    def __enter__(self) -> PrometheusServer:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
