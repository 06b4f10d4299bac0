"""Servers the drill starts: each on a free loopback port, each stopped by its PID."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

START_TIMEOUT = 60.0


class DrillSetupError(Exception):
    """Something the drill needs is missing or did not start; str(err) says what."""


def binary(name: str, package: str) -> str:
    """The path of `name`, or a DrillSetupError naming the Debian package that provides it."""
    path = shutil.which(name)
    if path is None:
        raise DrillSetupError(f"{name} is not installed (Debian package: {package})")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """One server process: started in its own session, ready when `ready_url` answers 200; `env`
    is added to this process's environment."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        ready_url: str,
        log: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = None if env is None else {**os.environ, **env}
        self.ready_url = ready_url
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def start(self, timeout: float = START_TIMEOUT) -> None:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=self.env,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log.read_text(errors="replace").strip().splitlines()[-1:]
                raise DrillSetupError(f"{self.name} exited at start: {' '.join(tail)}")
            try:
                with urllib.request.urlopen(self.ready_url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise DrillSetupError(f"{self.name} not ready in {timeout:.0f}s (log: {self.log})")

    def stop(self) -> None:
        """SIGTERM to the PID, SIGKILL after 10 s."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def moto_server(log: Path) -> tuple[Server, str]:
    """A moto server (not started) on a free loopback port, and its endpoint URL. No EC2 instance
    is ever launched, so moto skips building its ~1,300 public AMIs per region."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = Server(
        "moto server",
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        f"{endpoint}/moto-api/",
        log,
        env={"MOTO_EC2_LOAD_DEFAULT_AMIS": "false"},
    )
    return server, endpoint
