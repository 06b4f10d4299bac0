"""The house's one-way imports: tooling -> infra -> components -> core; policies -> core.

Read from the source with `ast`, so a new import that points the wrong way fails here before it
forms a cycle. The core (rollout_rules) imports the standard library only, which lets the
rollback function ship it; the program (infra, components) needs no CLI library.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from rollout_cli.stackfile import REPO_ROOT

PACKAGES = ("rollout_rules", "infra", "components", "policies", "rollout_cli")
ALLOWED = {
    "rollout_rules": set(),
    "components": {"rollout_rules"},
    "infra": {"components", "rollout_rules"},
    "policies": {"rollout_rules"},
    "rollout_cli": {"infra", "components", "policies", "rollout_rules"},
}
CLI_LIBRARIES = {"typer", "rich", "jsonschema", "grpc", "click"}


def imports(package: str) -> Iterator[tuple[Path, str]]:
    """(file, top-level module) for every absolute import in `package`."""
    for path in sorted((REPO_ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield path, alias.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                yield path, node.module.split(".")[0]


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_point_one_way(package: str) -> None:
    wrong = [
        f"{path.relative_to(REPO_ROOT)} imports {module}"
        for path, module in imports(package)
        if module in PACKAGES and module != package and module not in ALLOWED[package]
    ]
    assert wrong == []


def test_the_core_imports_the_standard_library_only() -> None:
    foreign = [
        f"{path.relative_to(REPO_ROOT)} imports {module}"
        for path, module in imports("rollout_rules")
        if module not in sys.stdlib_module_names and module != "rollout_rules"
    ]
    assert foreign == []


@pytest.mark.parametrize("package", ["infra", "components", "policies"])
def test_the_program_and_the_pack_need_no_cli_library(package: str) -> None:
    found = [
        f"{path.relative_to(REPO_ROOT)} imports {module}"
        for path, module in imports(package)
        if module in CLI_LIBRARIES
    ]
    assert found == []


def test_cli_libraries_are_an_optional_extra() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    runtime = {dep.split("=")[0].split("[")[0].lower() for dep in project["dependencies"]}
    cli = {
        dep.split("=")[0].split("[")[0].lower() for dep in project["optional-dependencies"]["cli"]
    }
    assert runtime.isdisjoint({"typer", "rich", "jsonschema"}), runtime
    assert {"typer", "rich", "jsonschema"} <= cli


def test_the_policy_pack_has_no_path_patch() -> None:
    main = (REPO_ROOT / "policies" / "__main__.py").read_text()
    assert "sys.path" not in main


@pytest.mark.parametrize("entry", ["infra/__main__.py", "policies/__main__.py"])
def test_entry_points_tune_the_collector_before_loading_the_sdks(entry: str) -> None:
    """The program and the pack set the collector's thresholds (rollout_rules.runtime) before
    their first import of anything else: most of the saving is while the SDKs load."""
    body = [s for s in ast.parse((REPO_ROOT / entry).read_text()).body if not _is_docstring(s)]
    first, second = body[0], body[1]
    assert isinstance(first, ast.ImportFrom) and first.module == "rollout_rules.runtime"
    assert isinstance(second, ast.Expr) and isinstance(second.value, ast.Call)
    assert ast.unparse(second.value) == "tune_gc()"


def _is_docstring(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)


SDKS = ("pulumi_aws", "pulumi_kubernetes")


def _sdk_packages_used(path: Path) -> set[str]:
    """`pulumi_aws.lb`, `pulumi_kubernetes.core`, ...: the SDK subpackages `path` uses, through
    `from pulumi_aws.lb import ...` or an alias (`import pulumi_aws as aws`; `aws.lb.X`)."""
    tree = ast.parse(path.read_text())
    aliases: dict[str, str] = {}
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for name in node.names:
                if name.name.split(".")[0] in SDKS:
                    aliases[name.asname or name.name] = name.name
                    used.update(_package(name.name))
        elif isinstance(node, ast.ImportFrom) and node.module:
            used.update(_package(node.module))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
        ):
            used.update(_package(f"{aliases[node.value.id]}.{node.attr}"))
    return used


def _package(module: str) -> set[str]:
    parts = module.split(".")
    if parts[0] not in SDKS or len(parts) < 2:
        return set()
    spec = importlib.util.find_spec(parts[0])
    assert spec is not None and spec.submodule_search_locations
    root = Path(next(iter(spec.submodule_search_locations)))
    is_package = (root / parts[1]).is_dir() or (root / f"{parts[1]}.py").is_file()
    return {f"{parts[0]}.{parts[1]}"} if is_package else set()


def test_mypy_follows_every_sdk_package_the_sources_use() -> None:
    overrides = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["mypy"][
        "overrides"
    ]
    followed = {
        pattern.removesuffix(".*")
        for section in overrides
        if section.get("follow_imports") == "normal"
        for pattern in section["module"]
    }
    used = {
        package
        for top in PACKAGES
        for path in (REPO_ROOT / top).rglob("*.py")
        for package in _sdk_packages_used(path)
    }
    assert {"pulumi_aws.lb", "pulumi_kubernetes.core"} <= used  # the scan finds them
    assert used <= followed, (
        f"add to [tool.mypy.overrides] follow_imports=normal: {used - followed}"
    )
