"""Report output formats, one module each (text, JSON, SARIF 2.1.0, JUnit XML, Markdown), and
the coverage matrix of policies by framework control; ``render`` picks a format by name."""

from __future__ import annotations

from rollout_cli.policy.formats.json_report import render_json
from rollout_cli.policy.formats.junit import render_junit
from rollout_cli.policy.formats.markdown import render_markdown
from rollout_cli.policy.formats.sarif import render_sarif
from rollout_cli.policy.formats.text import render_text
from rollout_cli.policy.report import Report

FORMATS = ("text", "json", "sarif", "junit", "markdown")

_RENDERERS = {
    "text": render_text,
    "json": render_json,
    "junit": render_junit,
    "markdown": render_markdown,
}


def render(report: Report, fmt: str, artifact: str = "Pulumi.yaml") -> str:
    """The report in format ``fmt`` (one of FORMATS); SARIF locates results at ``artifact``."""
    if fmt == "sarif":
        return render_sarif(report, artifact)
    return _RENDERERS[fmt](report)
