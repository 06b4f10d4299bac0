"""Shared fixtures: offline plans of the project's stacks (cached), the component mocks, stack-file
copies, the CLI, the real tools, and the plan's tables.

Tests that run the whole program, start a process, call an external tool or emulate AWS (moto)
are `slow`: marked here by the fixtures they use (`plan`, `promtool`, `amtool`, `cli`, `pack`,
`aws`, `moto_endpoint`, `function_venv`), by what their body calls
(`run_cli`, `plan_of`, ...) or by their module.
`make test-fast` runs the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import fcntl
import hashlib
import io
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pulumi
import pytest
import yaml

from rollout_cli.offline import PlanResult, run_plan
from rollout_cli.stackfile import REPO_ROOT
from rollout_rules.runtime import tune_gc

STACKS = ("sandbox", "prod")
WEEKS = tuple(range(1, 13))
DesignTable = dict[int, tuple[str, tuple[int, int, int]]]
# ... and the AWS APIs emulated by moto (in-process `aws`, or a server), and a clean virtualenv.
SLOW_FIXTURES = frozenset(
    {"plan", "promtool", "amtool", "cli", "pack", "aws", "moto_endpoint", "function_venv"}
)
# Names whose use in a test body means a whole-program plan or another process.
SLOW_CALLS = frozenset(
    {
        "plan_of",
        "preview_of",
        "run_plan",
        "render_state",
        "run_cli",
        "run_cli_process",
        "Popen",
        "subprocess",
    }
)

_PLANS: dict[tuple[str, int | None, str | None], PlanResult] = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        code = getattr(getattr(item, "function", None), "__code__", None)
        called = set(code.co_names) if code is not None else set()
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())) or SLOW_CALLS & called:
            item.add_marker(pytest.mark.slow)


# -- the plan's tables -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def design_table() -> DesignTable:
    """The rollout plan's traffic table as written in the plan (week -> phase, weights)."""
    spans = [
        (1, 2, "Foundation", (100, 0, 0)),
        (3, 4, "Policy & Validation", (100, 0, 0)),
        (5, 6, "Code Generation (internal testing)", (50, 50, 0)),
        (7, 7, "Canary (validation)", (20, 80, 0)),
        (8, 8, "Canary (limited production)", (10, 10, 80)),
        (9, 10, "Production launch", (5, 5, 90)),
        (11, 11, "Retrospective", (5, 5, 90)),
        (12, 12, "Optimization", (5, 5, 90)),
    ]
    return {w: (phase, weights) for a, b, phase, weights in spans for w in range(a, b + 1)}


@pytest.fixture(scope="session")
def held_ledger() -> dict[str, Any]:
    """A ledger the rollback function wrote after moving traffic off canary at week 8."""
    return {
        "held": True,
        "allocation": {"sandbox": 11, "canary": 0, "production": 89},
        "reason": "CloudWatch alarm codex-rollout-prod-canary-error-rate",
        "trigger": "cloudwatch-alarm",
        "tier": "canary",
        "at": "2026-11-26T10:00:00Z",
        "eventId": "cloudwatch:arn:alarm:2026-11-26T10:00:00.000+0000",
    }


# -- whole-program plans -----------------------------------------------------------------------


# Plans (and other per-run results, through `shared`) are shared between the xdist workers of
# one run: the first worker to need one computes it and leaves it pickled in a directory the
# controller creates (`pytest_configure`); the others wait on its lock and read it.
# Without the directory (a single process), each is computed here.
PLANS_DIR_ENV = "ROLLOUT_TEST_PLANS_DIR"
T = TypeVar("T")


def pytest_configure(config: pytest.Config) -> None:
    tune_gc()  # the tests load the SDKs and run the program as the CLI does
    if not hasattr(config, "workerinput") and PLANS_DIR_ENV not in os.environ:
        directory = tempfile.mkdtemp(prefix="rollout-test-plans-")
        os.environ[PLANS_DIR_ENV] = directory
        config.add_cleanup(lambda: shutil.rmtree(directory, ignore_errors=True))
        config.add_cleanup(lambda: os.environ.pop(PLANS_DIR_ENV, None))


def shared(key: tuple[Any, ...], compute: Callable[[], T]) -> T:
    """``compute()`` once per test run for ``key`` (pickled between the xdist workers)."""
    directory = os.environ.get(PLANS_DIR_ENV)
    if not directory or not Path(directory).is_dir():
        return compute()
    name = hashlib.sha256(repr(key).encode()).hexdigest()[:24]
    path = Path(directory) / f"{name}.pickle"
    with open(Path(directory) / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            result: T = pickle.loads(path.read_bytes())
            return result
        result = compute()
        partial = path.with_suffix(".partial")
        partial.write_bytes(pickle.dumps(result))
        partial.replace(path)
        return result


def plan_of(stack: str, week: int | None = None, ledger: str | None = None) -> PlanResult:
    """The offline plan of a project stack, computed once per test run."""
    key = (stack, week, ledger)
    if key not in _PLANS:
        content = Path(ledger).read_bytes() if ledger is not None else None
        _PLANS[key] = shared(("plan", *key, content), lambda: run_plan(stack, week, ledger))
    return _PLANS[key]


_PREVIEWS: dict[tuple[str, int, int], PlanResult] = {}


def preview_of(stack: str, week: int, from_week: int) -> PlanResult:
    """The preview of `from_week` -> `week` (0: a first deploy), computed once per test run; the
    plan at `from_week` is the run's shared one."""
    key = (stack, week, from_week)
    if key not in _PREVIEWS:

        def compute() -> PlanResult:
            before = plan_of(stack, from_week) if from_week > 0 else None
            return run_plan(stack, week, from_week=from_week, before=before)

        _PREVIEWS[key] = shared(("preview", *key), compute)
    return _PREVIEWS[key]


@pytest.fixture
def plan() -> Callable[..., PlanResult]:
    """`plan(stack, week=None, ledger=None)`: the offline plan, computed once per session."""
    return plan_of


# -- one component under the SDK's mocks ----------------------------------------------------------


@dataclass(frozen=True)
class Created:
    """One resource a component registered under the mocks."""

    typ: str
    name: str
    inputs: dict[str, Any]


class RecordingMocks(pulumi.runtime.Mocks):
    """Echo inputs as outputs; IAM roles get an ARN; remember every resource."""

    def __init__(self) -> None:
        self.created: list[Created] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outputs = dict(args.inputs)
        if args.typ == "aws:iam/role:Role":
            outputs["arn"] = f"arn:aws:iam::444455556666:role/{args.name}"
        self.created.append(Created(args.typ, args.name, dict(args.inputs)))
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None


def declare_under_mocks(build: Callable[[], pulumi.Output[Any]]) -> list[Created]:
    """Run `build` (which declares resources, returning any output) under the SDK's mocks."""

    def run() -> list[Created]:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        mocks = RecordingMocks()
        pulumi.runtime.set_mocks(mocks, project="codex-rollout", stack="test", preview=False)

        @pulumi.runtime.test
        def program() -> pulumi.Output[Any]:
            return build()

        try:
            program()
        finally:
            loop.close()
            asyncio.set_event_loop(None)
        return mocks.created

    return contextvars.copy_context().run(run)


@pytest.fixture(scope="session")
def declare() -> Callable[[Callable[[], pulumi.Output[Any]]], list[Created]]:
    """`declare(build)`: the resources `build` registers under the SDK's mock runtime."""
    return declare_under_mocks


# -- stack files and the command line ------------------------------------------------------------


@pytest.fixture
def stack_root(tmp_path: Path) -> Path:
    """A copy of the project's stack files that a test may edit."""
    for path in REPO_ROOT.glob("Pulumi*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def edit_stack(root: Path, stack: str, edit: Callable[[dict], None]) -> Path:
    """Apply `edit` to the `config:` mapping of Pulumi.<stack>.yaml under `root`."""
    path = root / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text())
    edit(document["config"])
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The `rollout` command line `args`, run in this process from `cwd` (default: the
    repository) through `rollout_cli.app.run`, which is what the console script runs less the
    interpreter start-up and its final `os._exit`: exit code, stdout and stderr.
    `run_cli_process` runs the console script itself."""
    from rollout_cli.app import run

    out, err = io.StringIO(), io.StringIO()
    before = Path.cwd()
    os.chdir(cwd or REPO_ROOT)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = run(list(args))
    finally:
        os.chdir(before)
    return subprocess.CompletedProcess(["rollout", *args], code, out.getvalue(), err.getvalue())


def run_cli_process(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the `rollout` console script in a fresh process."""
    rollout = Path(sys.executable).with_name("rollout")
    return subprocess.run(
        [str(rollout), *args],
        capture_output=True,
        text=True,
        cwd=cwd or REPO_ROOT,
        timeout=300,
        check=False,
    )


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """`cli(*args, cwd=None)`: a `rollout` command line (`run_cli`)."""
    return run_cli


# -- real tools ----------------------------------------------------------------------------------


def tool(name: str) -> str:
    """Path of a real validator; the suite fails (never skips) without it: `make test` installs
    it (Debian: prometheus / prometheus-alertmanager)."""
    path = shutil.which(name)
    assert path, f"{name} is not installed (Debian: prometheus / prometheus-alertmanager)"
    return path


@pytest.fixture(scope="session")
def promtool() -> str:
    return tool("promtool")


@pytest.fixture(scope="session")
def amtool() -> str:
    return tool("amtool")
