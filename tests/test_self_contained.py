"""The repository stands on its own, and the suite's own rules hold: no test is skipped for a
missing tool (a missing tool fails), and no file points at a document the repository lacks."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from rollout_cli.stackfile import REPO_ROOT

SOURCES = ("rollout_rules", "infra", "components", "policies", "rollout_cli", "tests", "benchmarks")
SKIP = re.compile(r"pytest\.(skip|importorskip)\(|mark\.(skip|skipif)\b")
DOCUMENT = re.compile(r"[A-Za-z0-9_./-]*[A-Za-z0-9_-]\.md\b")


def _tracked(*patterns: str) -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--", *patterns],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [REPO_ROOT / name for name in listed.split("\0") if name]


def _python_files() -> list[Path]:
    return [p for p in _tracked(*(f"{d}/*.py" for d in SOURCES)) if p.is_file()]


def test_no_test_is_skipped() -> None:
    this = Path(__file__).resolve()
    found = [
        f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}"
        for path in _python_files()
        if path.resolve() != this
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if SKIP.search(line)
    ]
    assert found == [], "a missing tool must fail the suite, not skip:\n" + "\n".join(found)


def test_every_document_named_in_the_code_is_in_the_repository() -> None:
    names = {p.name for p in _tracked("*.md")}
    missing = [
        f"{path.relative_to(REPO_ROOT)}:{number}: {match}"
        for path in _python_files()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        for match in DOCUMENT.findall(line)
        if Path(match).name not in names
    ]
    assert missing == [], "documents not in this repository:\n" + "\n".join(missing)


def test_markdown_links_resolve() -> None:
    link = re.compile(r"\]\(([^)#\s]+\.md)(#[^)]*)?\)")
    broken = [
        f"{path.relative_to(REPO_ROOT)}: {target}"
        for path in _tracked("*.md")
        for target, _ in link.findall(path.read_text())
        if not target.startswith(("http://", "https://")) and not (path.parent / target).is_file()
    ]
    assert broken == []
