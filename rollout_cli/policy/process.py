"""The policy pack process, started as the engine starts a Python pack: the pack's virtualenv
Python running ``-u -m pulumi.policy <engine-address> .`` in the pack directory with the
PULUMI_* environment, reporting its gRPC port on the first line of its stdout."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path

import yaml

from rollout_cli.policy.errors import PolicyCheckError

START_TIMEOUT = 60.0
"""Seconds the pack has to report its port (and then to accept a connection)."""


def interpreter(pack_dir: Path, default: str) -> tuple[str, dict[str, str]]:
    """The Python the engine's ``pulumi-analyzer-policy-python`` shim would run: the pack's
    ``virtualenv`` runtime option (relative to the pack) with its bin/ first on PATH, else
    ``default``."""
    try:
        project = yaml.safe_load((pack_dir / "PulumiPolicy.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise PolicyCheckError(f"{pack_dir}/PulumiPolicy.yaml: cannot load ({err})") from None
    runtime = project.get("runtime") if isinstance(project, Mapping) else None
    if isinstance(runtime, str):
        runtime = {"name": runtime}
    if not isinstance(runtime, Mapping) or runtime.get("name") != "python":
        raise PolicyCheckError(f"{pack_dir}/PulumiPolicy.yaml: runtime is not python")
    virtualenv = (runtime.get("options") or {}).get("virtualenv")
    if not virtualenv:
        return default, {}
    venv = (pack_dir / str(virtualenv).rstrip("/")).absolute()
    python = venv / "bin" / "python"
    if not python.is_file():
        raise PolicyCheckError(f"{venv} doesn't appear to be a virtual environment")
    return str(python), {"PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}


class PackProcess:
    """A running pack process; ``read_port`` waits for its port, ``stop`` ends it."""

    def __init__(
        self,
        pack_dir: Path,
        engine_address: str,
        *,
        stack: str,
        project: str,
        config: Mapping[str, str] | None,
        python: str,
    ) -> None:
        python, shim_env = interpreter(pack_dir, python)
        env = dict(os.environ)
        env.pop("PYTHONHOME", None)
        env.update(shim_env)
        env.update(
            PULUMI_PROJECT=project,
            PULUMI_STACK=stack,
            PULUMI_ORGANIZATION="organization",
            PULUMI_DRY_RUN="true",
        )
        if config:
            env["PULUMI_CONFIG"] = json.dumps(dict(config))
        # What the engine's shim runs: `<venv>/bin/python -u -m pulumi.policy <engine> .`
        argv = [python, "-u", "-m", "pulumi.policy", engine_address, "."]
        try:
            self._process = subprocess.Popen(
                argv,
                cwd=pack_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except OSError as err:
            raise PolicyCheckError(f"cannot start the policy pack: {err}") from None
        self._stderr: list[str] = []

    def read_port(self) -> int:
        """The port the pack reports on its first line; its stderr is kept for errors."""
        assert self._process.stdout is not None and self._process.stderr is not None
        lines: queue.Queue[bytes] = queue.Queue()

        def pump_stdout() -> None:
            assert self._process.stdout is not None
            for line in self._process.stdout:
                lines.put(line)
            lines.put(b"")

        def pump_stderr() -> None:
            assert self._process.stderr is not None
            for line in self._process.stderr:
                self._stderr.append(line.decode(errors="replace").rstrip())

        threading.Thread(target=pump_stdout, daemon=True).start()
        threading.Thread(target=pump_stderr, daemon=True).start()
        try:
            first = lines.get(timeout=START_TIMEOUT)
        except queue.Empty:
            raise PolicyCheckError(
                f"policy pack did not report a port within {START_TIMEOUT:g}s"
            ) from None
        text = first.decode(errors="replace").strip()
        if not text.isdigit():
            self._process.wait(timeout=10)
            raise PolicyCheckError(f"policy pack failed to start: {self._failure(text)}")
        return int(text)

    def _failure(self, stdout: str = "") -> str:
        lines = [line for line in self._stderr if line.strip()] or [stdout or "no output"]
        errors = [line for line in lines if "Error" in line or "error" in line]
        return (errors or lines)[-1].strip()

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
