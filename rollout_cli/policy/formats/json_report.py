"""The JSON report: summary counts, violations, not-applicable results and remediations.

Named json_report so that it never stands in for the standard library's json."""

from __future__ import annotations

import json

from rollout_cli.policy.report import Report


def render_json(report: Report) -> str:
    return json.dumps(report.as_dict(), indent=2) + "\n"
