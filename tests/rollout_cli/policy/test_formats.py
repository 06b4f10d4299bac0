"""Report formats of one evaluation with a mandatory and an advisory violation: JSON, SARIF
2.1.0, JUnit XML, Markdown and text."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from rollout_cli.policy.formats import render
from rollout_cli.policy.formats.json_report import render_json
from rollout_cli.policy.formats.junit import render_junit
from rollout_cli.policy.formats.markdown import render_markdown
from rollout_cli.policy.formats.sarif import render_sarif
from rollout_cli.policy.formats.text import render_text
from rollout_cli.policy.report import Report

pytestmark = pytest.mark.slow  # the report comes from the pack process


def test_json_shape(report: Report) -> None:
    document = json.loads(render_json(report))
    assert set(document) == {"summary", "violations", "notApplicable"}
    assert document["summary"] == {"resources": 5, "policies": 21, "violations": 2, "mandatory": 1}
    first = document["violations"][0]
    assert set(first) == {
        "policy",
        "urn",
        "type",
        "enforcementLevel",
        "severity",
        "message",
        "framework",
        "reference",
    }
    assert first["policy"] == "security-group-no-public-ingress"
    assert first["enforcementLevel"] == "mandatory" and first["severity"] == "critical"
    assert first["framework"] == "CIS AWS Foundations Benchmark" and first["reference"] == "5.2"
    assert first["type"] == "aws:ec2/securityGroup:SecurityGroup"
    assert document["violations"][1]["policy"] == "gdpr-log-retention"
    assert {n["policy"] for n in document["notApplicable"]} >= {"rollout-weights-sum-to-100"}


def test_sarif(report: Report) -> None:
    document = json.loads(render_sarif(report, "Pulumi.prod.yaml"))
    assert document["version"] == "2.1.0"
    run = document["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert len({r["id"] for r in rules}) == len(rules) == 21
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in ("error", "warning", "note")
        location = result["locations"][0]
        assert location["physicalLocation"]["artifactLocation"]["uri"] == "Pulumi.prod.yaml"
        assert location["logicalLocations"][0]["fullyQualifiedName"].startswith("urn:pulumi:")
    assert [r["level"] for r in run["results"]] == ["error", "warning"]
    security = {r["id"]: r["properties"]["security-severity"] for r in rules}
    assert security["iam-no-wildcard-admin"] == "9.5"


def test_junit(report: Report) -> None:
    root = ET.fromstring(render_junit(report).split("\n", 1)[1])
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.get("tests") == "21" and suite.get("failures") == "1"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["security-group-no-public-ingress"].find("failure") is not None
    retention = cases["gdpr-log-retention"]
    assert retention.find("failure") is None
    assert "advisory" in (retention.findtext("system-out") or "")


def test_markdown_groups_by_framework_worst_first(report: Report) -> None:
    text = render_markdown(report)
    assert text.startswith("### ❌ Policy check: `prod`")
    headings = [line for line in text.splitlines() if line.startswith("#### ")]
    assert headings == ["#### CIS AWS Foundations Benchmark (1)", "#### GDPR (1)"]
    assert "Coverage: policies by framework control" in text


def test_text_and_verdict(report: Report) -> None:
    text = render_text(report)
    assert text.splitlines()[-1] == (
        "policy check FAIL: 2 violation(s), 1 mandatory, 21 policies, 5 resources (prod)"
    )


def test_render_picks_the_format_by_name(report: Report) -> None:
    assert render(report, "text") == render_text(report)
    assert render(report, "junit") == render_junit(report)
    assert render(report, "sarif", "Pulumi.prod.yaml") == render_sarif(report, "Pulumi.prod.yaml")
