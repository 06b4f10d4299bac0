"""The JUnit XML report for CI test views: one test case per policy; mandatory violations fail
it, advisory ones are its output, disabled policies are skipped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from rollout_cli.policy.report import Report, Violation


def render_junit(report: Report) -> str:
    """One test case per policy: mandatory violations fail it, advisory ones are reported
    as output, disabled policies are skipped."""
    by_policy: dict[str, list[Violation]] = {}
    for v in report.violations:
        by_policy.setdefault(v.policy, []).append(v)
    suite = ET.Element(
        "testsuite",
        name=f"{report.pack} ({report.stack})",
        tests=str(len(report.policies)),
        failures="0",
        errors="0",
        skipped="0",
    )
    failures = skipped = 0
    for p in report.policies:
        case = ET.SubElement(
            suite, "testcase", classname=f"policies.{p.domain or 'pack'}", name=p.name
        )
        level = report.levels.get(p.name, p.enforcement_level)
        found = by_policy.get(p.name, [])
        blocking = [v for v in found if v.enforcement_level == "mandatory"]
        if level == "disabled":
            skipped += 1
            ET.SubElement(case, "skipped", message="policy disabled by config")
        elif blocking:
            failures += 1
            failure = ET.SubElement(
                case,
                "failure",
                message=f"{len(blocking)} mandatory violation(s)",
                type=p.severity or "mandatory",
            )
            failure.text = "\n".join(f"{v.urn}: {v.message}" for v in blocking)
        advisory = [v for v in found if v.enforcement_level != "mandatory"]
        if advisory:
            out = ET.SubElement(case, "system-out")
            out.text = "\n".join(f"advisory: {v.urn}: {v.message}" for v in advisory)
    suite.set("failures", str(failures))
    suite.set("skipped", str(skipped))
    root = ET.Element(
        "testsuites", name="policy check", tests=str(len(report.policies)), failures=str(failures)
    )
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"
