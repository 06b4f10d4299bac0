"""The verdict of `rollout advance` and its three forms: text, JSON and Markdown (a PR body)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rollout_cli.advance.gates import PASS, Gate, describe
from rollout_cli.advance.window import Window
from rollout_rules.plan import TIERS, Allocation

FORMATS = ("text", "json", "markdown")


@dataclass
class Verdict:
    """Everything `rollout advance` found, and whether the stack may advance."""

    stack: str
    from_week: int
    to_week: int
    window: Window
    prometheus: str
    ran: Allocation
    next: Allocation
    gates: list[Gate]
    dry_run: bool
    written: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def refusals(self) -> list[str]:
        return [_refusal(g) for g in self.gates if g.status != PASS]

    @property
    def allowed(self) -> bool:
        return not self.refusals

    @property
    def exit_code(self) -> int:
        return 0 if self.allowed else 1

    def headline(self) -> str:
        if not self.allowed:
            state = "REFUSED"
        elif self.written:
            state = "ALLOWED, written"
        else:
            state = "ALLOWED (dry run)" if self.dry_run else "ALLOWED"
        counts = {
            s: sum(g.status == s for g in self.gates) for s in ("pass", "fail", "inconclusive")
        }
        return (
            f"advance {self.stack} week {self.from_week} -> {self.to_week}: {state} "
            f"({counts['pass']} pass, {counts['fail']} fail, {counts['inconclusive']} inconclusive)"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "fromWeek": self.from_week,
            "toWeek": self.to_week,
            "allowed": self.allowed,
            "dryRun": self.dry_run,
            "written": self.written,
            "window": {
                "range": self.window.range,
                "seconds": self.window.seconds,
                "start": _iso(self.window.start),
                "end": _iso(self.window.end),
                "source": self.window.source,
            },
            "prometheus": self.prometheus,
            "traffic": {"from": self.ran.as_dict(), "to": self.next.as_dict()},
            "gates": [g.as_dict() for g in self.gates],
            "refusals": self.refusals,
        }


def _refusal(gate: Gate) -> str:
    """One line: the gate, its status, what it measured against what it needed, and why."""
    parts = [f"{gate.subject}: {gate.status}"]
    if gate.value is not None and gate.threshold is not None:
        parts.append(f"{describe(gate.value, gate.unit)} (needs {_threshold(gate)})")
    if gate.detail:
        parts.append(gate.detail)
    return ": ".join(parts[:2]) + ("; " + "; ".join(parts[2:]) if len(parts) > 2 else "")


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _weights(allocation: Allocation) -> str:
    return ", ".join(f"{t} {allocation.weight(t)}" for t in TIERS)


def _threshold(gate: Gate) -> str:
    return (
        f"{gate.rule} {describe(gate.threshold, gate.unit)}" if gate.threshold is not None else ""
    )


def text(v: Verdict) -> str:
    lines = [
        v.headline(),
        f"window: {v.window.range} ending {_iso(v.window.end)} ({v.window.source}); "
        f"prometheus: {v.prometheus}",
        f"traffic: {_weights(v.ran)} -> {_weights(v.next)}",
        "",
    ]
    for g in v.gates:
        lines.append(
            f"{g.status.upper():<13} {g.subject:<44} {describe(g.value, g.unit):>12} "
            f"{_threshold(g):<14} {g.detail}"
        )
    if v.refusals:
        lines += ["", "refused because:"] + [f"  - {r}" for r in v.refusals]
    return "\n".join(lines) + "\n"


def as_json(v: Verdict) -> str:
    return json.dumps(v.as_dict(), indent=2) + "\n"


_MARK = {"pass": "pass", "fail": "**fail**", "inconclusive": "_inconclusive_"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(v: Verdict) -> str:
    state = "allowed" if v.allowed else "refused"
    lines = [
        f"## Advance `{v.stack}` from week {v.from_week} to week {v.to_week}: {state}",
        "",
        f"`rollout advance --stack {v.stack} --to-week {v.to_week}` judged the last "
        f"**{v.window.range}** (until {_iso(v.window.end)}; {v.window.source}) in Prometheus "
        f"(`{v.prometheus}`).",
        "",
        f"Traffic: {_weights(v.ran)} → {_weights(v.next)}.",
        "",
    ]
    if v.refusals:
        lines += ["### Refused because", ""] + [f"- {_cell(r)}" for r in v.refusals] + [""]
    else:
        lines += [
            "Every gate passed. Merging this PR deploys the new week; the preview below shows "
            "what changes.",
            "",
        ]
    lines += [
        "### Gates",
        "",
        "| status | gate | tier | service | value | threshold | detail |",
        "|---|---|---|---|---:|---|---|",
    ]
    for g in v.gates:
        lines.append(
            f"| {_MARK[g.status]} | {g.name} | {g.tier or ''} | {g.service or ''} | "
            f"{describe(g.value, g.unit)} | {_cell(_threshold(g))} | {_cell(g.detail)} |"
        )
    lines += ["", "<details><summary>Queries</summary>", ""]
    for g in v.gates:
        if g.query:
            lines += [f"`{g.subject}`", "", "```promql", g.query, "```", ""]
    lines += ["</details>", ""]
    return "\n".join(lines)


def render(v: Verdict, fmt: str) -> str:
    return {"text": text, "json": as_json, "markdown": markdown}[fmt](v)
