"""The function's archive: what it holds, what its code may import, one copy of the rules, and the
archive itself rolling back in a clean Python that has boto3 alone (as the Lambda runtime)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from components.rollback.component import (
    FUNCTION_DIR,
    FUNCTION_HANDLER,
    FUNCTION_PACKAGE,
    function_archive,
)
from rollout_rules.plan import tiers_with_environment
from rollout_rules.rollback import rollback_plan
from tests.components.rollback.conftest import (
    REGION,
    alarm_message,
    build_stack,
    log_lines,
    server_client,
    sns_event,
)

RUNTIME_PACKAGES = {"boto3", "botocore"}
"""What the Lambda runtime provides beside the standard library."""


def _imports(source: Path) -> list[tuple[int, str]]:
    """(level, module) of every import in `source`; level 0 is absolute."""
    found = []
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            found.extend((0, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
    return found


def _top_level_names(source: Path) -> set[str]:
    """Public names a module defines itself (not imports)."""
    names = set()
    for node in ast.parse(source.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {name for name in names if not name.startswith("_")}


def test_the_archive_holds_the_function_package_and_the_rules() -> None:
    archive = function_archive()
    packages = {path.split("/")[0] for path in archive}
    assert packages == {FUNCTION_PACKAGE, "rollout_rules"}
    assert all(path.endswith(".py") and path.count("/") == 1 for path in archive)
    module, _ = FUNCTION_HANDLER.rsplit(".", 1)
    assert module.replace(".", "/") + ".py" in archive
    shipped = {source for path, source in archive.items() if path.startswith(FUNCTION_PACKAGE)}
    assert shipped == set(FUNCTION_DIR.glob("*.py"))


def test_the_archive_imports_only_itself_the_standard_library_and_boto3() -> None:
    # The function package imports its own modules relatively: it is `components.rollback.
    # function` in the repository and FUNCTION_PACKAGE in the archive. rollout_rules is
    # `rollout_rules` in both.
    allowed = set(sys.stdlib_module_names) | RUNTIME_PACKAGES | {"rollout_rules"}
    for path, source in function_archive().items():
        for level, module in _imports(source):
            where = f"{path}: {'.' * level}{module}"
            assert level == 1 if level else module.split(".")[0] in allowed, where


def test_the_function_defines_none_of_the_rules_names() -> None:
    # The tiers, contract names, ledger and allocation rule exist once, in rollout_rules.
    archive = function_archive()
    rules = set().union(
        *(_top_level_names(s) for p, s in archive.items() if p.startswith("rollout_rules/"))
    )
    for path, source in archive.items():
        if path.startswith(f"{FUNCTION_PACKAGE}/"):
            assert _top_level_names(source) & rules == set(), path


# Lambda's bootstrap in small: the task root first on sys.path, then the handler setting
# resolved to a function and called with the event and a context.
DRIVER = """
import importlib, importlib.util, json, sys, types
task_root, handler_name, packages = sys.argv[1], sys.argv[2], tuple(sys.argv[3:])
sys.path.insert(0, task_root)
module_name, function_name = handler_name.rsplit(".", 1)
function = getattr(importlib.import_module(module_name), function_name)
result = function(json.load(sys.stdin), types.SimpleNamespace(aws_request_id="req-archive"))
files = [m.__file__ for n, m in sys.modules.items() if n.split(".")[0] in packages]
absent = [n for n in ("components", "pulumi", "pydantic") if importlib.util.find_spec(n) is None]
print(json.dumps({"result": result, "files": sorted(files), "absent": absent}))
"""


@pytest.mark.slow
def test_the_archive_rolls_back_in_a_clean_python_with_boto3_alone(
    function_venv: Path, moto_endpoint: str, tmp_path: Path
) -> None:
    archive = tmp_path / "function.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path, source in function_archive().items():
            zipped.write(source, path)
    packages = sorted({path.split("/")[0] for path in function_archive()})
    task_root = tmp_path / "task"
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(task_root)
    stack = build_stack(server_client(moto_endpoint), week=8)
    event = sns_event(alarm_message("codex-rollout-test-canary-error-rate", stack.suffix("canary")))
    env = {
        "PATH": os.environ["PATH"],
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        **stack.env,
    }

    run = subprocess.run(
        [str(function_venv), "-I", "-c", DRIVER, str(task_root), FUNCTION_HANDLER, *packages],
        input=json.dumps(event),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert run.returncode == 0, run.stderr
    *logged, last = run.stdout.splitlines()
    answer = json.loads(last)
    # It ran from the archive, without this project's environment.
    assert answer["absent"] == ["components", "pulumi", "pydantic"]
    assert all(Path(f).is_relative_to(task_root) for f in answer["files"]), answer["files"]
    # ... and did what the rollback plan says for canary failing at week 8.
    expected = rollback_plan(8, tiers_with_environment(8)).allocations["canary"].as_dict()
    [outcome] = answer["result"]["outcomes"]
    assert (outcome["action"], outcome["tier"], outcome["after"]) == (
        "rolled-back",
        "canary",
        expected,
    )
    assert stack.weights() == expected
    ledger = stack.ledger()
    assert (ledger["held"], ledger["allocation"], ledger["tier"]) == (True, expected, "canary")
    [record] = stack.audit_records()
    assert record["status"]["S"] == "applied"
    assert len(stack.notifications()) == 1
    assert "rollback applied" in [line["message"] for line in log_lines("\n".join(logged))]
