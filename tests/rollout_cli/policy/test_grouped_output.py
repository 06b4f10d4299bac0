"""One finding on many resources reads as one group in the text and Markdown reports (policy,
message, count, every resource's name); JSON, SARIF and JUnit keep one entry per resource."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from rollout_cli.render import render
from tests.conftest import plan_of, run_cli

pytestmark = pytest.mark.slow  # a whole-program render and the pack process

POLICY = "gdpr-data-residency"


@pytest.fixture(scope="module")
def wrong_region(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """prod rendered, then its AWS provider moved out of the EU (one bad provider region)."""
    out = tmp_path_factory.mktemp("wrong-region") / "render"
    render(plan_of("prod", 8), out)
    path = out / "resources.json"
    state = json.loads(path.read_text())
    providers = [r for r in state["deployment"]["resources"] if r["type"] == "pulumi:providers:aws"]
    assert len(providers) == 1
    for key in ("inputs", "outputs"):
        providers[0][key]["region"] = "us-east-1"
    path.write_text(json.dumps(state))
    return out


def _report(directory: Path, fmt: str) -> str:
    result = run_cli("policy", "check", "--export", str(directory), "--format", fmt)
    assert result.returncode == 1, result.stderr  # mandatory violations
    return result.stdout


def _name(urn: str) -> str:
    return urn.split("::", 3)[3]


def test_text_groups_a_finding_with_its_count_and_resources(wrong_region: Path) -> None:
    violations = json.loads(_report(wrong_region, "json"))["violations"]
    by_message: dict[str, list[str]] = {}
    for v in violations:
        assert v["policy"] == POLICY
        by_message.setdefault(v["message"], []).append(_name(v["urn"]))
    assert len(violations) > 50 and len(by_message) == 2

    text = _report(wrong_region, "text")
    headers = [line for line in text.splitlines() if line.startswith("[mandatory]")]
    assert len(headers) == len(by_message)
    blocks = text.split("\n[mandatory] ")[1:]
    for message, names in by_message.items():
        [block] = [b for b in blocks if f"\n    {message}\n" in b]
        count = len(names)
        assert block.startswith(f"{POLICY} (critical, GDPR Art. 44) on {count} resource")
        listed = block.split("    resources: ", 1)[1]
        for name in names:
            assert name in listed
    assert len(text.splitlines()) < len(violations)


def test_markdown_has_one_row_per_finding(wrong_region: Path) -> None:
    violations = json.loads(_report(wrong_region, "json"))["violations"]
    counts: dict[str, int] = {}
    for v in violations:
        counts[v["message"]] = counts.get(v["message"], 0) + 1
    markdown = _report(wrong_region, "markdown").splitlines()
    rows = [line for line in markdown if line.startswith(f"| mandatory | critical | `{POLICY}`")]
    assert len(rows) == len(counts)
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split(" | ")]
        message = cells[5]
        assert cells[4].startswith(f"{counts[message]}: ")
    biggest = max(rows, key=len)
    for v in violations:
        if v["message"] in biggest:
            assert f"`{_name(v['urn'])}" in biggest


def test_machine_formats_keep_one_entry_per_resource(wrong_region: Path) -> None:
    violations = json.loads(_report(wrong_region, "json"))["violations"]
    urns = sorted(v["urn"] for v in violations)
    assert len(urns) == len(set(urns))
    sarif = json.loads(_report(wrong_region, "sarif"))
    results = sarif["runs"][0]["results"]
    located = sorted(
        r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] for r in results
    )
    assert located == urns
    junit = ET.fromstring(_report(wrong_region, "junit").split("\n", 1)[1])
    failure = next(c for c in junit.iter("testcase") if c.get("name") == POLICY).find("failure")
    assert failure is not None and failure.text is not None
    assert sorted(line.split(": ", 1)[0] for line in failure.text.splitlines()) == urns
