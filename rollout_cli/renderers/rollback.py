"""Render outputs of the rollback component for `rollout render --out DIR`.

- DIR/rollback/plan.json: the ROLLOUT_ROLLBACK_PLAN the function carries (allocations per
  trigger, budget breakdown), as declared;
- DIR/rollback/alertmanager-message.tmpl: the SNS message template of Alertmanager's rollback
  receiver (the function's input contract).
"""

from __future__ import annotations

import json
from pathlib import Path

from components.rollback.alertmanager import MESSAGE_TEMPLATE
from rollout_cli.offline import PlanResult
from rollout_rules.contract import FUNCTION_TYPE, PLAN_VARIABLE, PURPOSE_ROLLBACK, PURPOSE_TAG


def render_rollback(plan: PlanResult, out: Path) -> None:
    functions = [
        r
        for r in plan.by_type(FUNCTION_TYPE)
        if (r.inputs.get("tags") or {}).get(PURPOSE_TAG) == PURPOSE_ROLLBACK
    ]
    if not functions:
        return
    variables = (functions[0].inputs.get("environment") or {}).get("variables") or {}
    raw = variables.get(PLAN_VARIABLE)
    if not isinstance(raw, str):
        return
    target = out / "rollback"
    target.mkdir(parents=True, exist_ok=True)
    (target / "plan.json").write_text(json.dumps(json.loads(raw), indent=2) + "\n")
    (target / "alertmanager-message.tmpl").write_text(MESSAGE_TEMPLATE + "\n")
