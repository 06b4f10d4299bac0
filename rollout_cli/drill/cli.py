"""`rollout drill --stack S [--week N] --tier T --fault error-rate|latency|down [--format]`.

Exit 0: traffic moved within the budget and every check held; 1: otherwise (including a drill
that could not start, e.g. a missing server binary); 2: bad input (stack, week, tier, fault,
format), with one line naming it.
"""

from __future__ import annotations

import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from rollout_rules.errors import ConfigError
from rollout_rules.plan import TIERS

from .workload import FAULTS


class Format(StrEnum):
    text = "text"
    json = "json"


def _fail(message: str, code: int) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code)


def drill(
    stack: Annotated[str, typer.Option("--stack", "-s", help="Stack name (Pulumi.<stack>.yaml).")],
    tier: Annotated[str, typer.Option("--tier", help=f"Tier to fault: {', '.join(TIERS)}.")],
    fault: Annotated[str, typer.Option("--fault", help=f"Fault: {', '.join(FAULTS)}.")],
    week: Annotated[
        int | None, typer.Option("--week", "-w", help="Rollout week (default: the stack's week).")
    ] = None,
    output_format: Annotated[Format, typer.Option("--format", help="text or json.")] = Format.text,
    workdir: Annotated[
        Path | None,
        typer.Option("--workdir", help="Keep configs and server logs here (default: a temp dir)."),
    ] = None,
) -> None:
    """Rollback drill: real Prometheus, Alertmanager and a moto server; fault to traffic moved."""
    from rollout_cli.offline import run_plan
    from rollout_cli.stackfile import project_root

    from .processes import DrillSetupError
    from .run import Drill, DrillInputError

    if tier not in TIERS:
        raise _fail(f"--tier {tier}: not one of {', '.join(TIERS)}", 2)
    if fault not in FAULTS:
        raise _fail(f"--fault {fault}: not one of {', '.join(FAULTS)}", 2)
    try:
        plan = run_plan(stack, week, None, root=project_root())
        runner = Drill(plan, tier, fault, progress=lambda line: print(line, file=sys.stderr))
    except (ConfigError, DrillInputError) as err:
        raise _fail(str(err), 2) from None
    try:
        result = runner.run(workdir)
    except DrillSetupError as err:
        raise _fail(f"the drill could not start: {err}", 1) from None
    except Exception as err:
        if os.environ.get("ROLLOUT_DEBUG"):
            raise
        raise _fail(
            f"the drill failed: {type(err).__name__}: {err} (ROLLOUT_DEBUG=1 for details)", 1
        ) from None
    if output_format is Format.json:
        print(json.dumps(result.as_dict(), indent=2))
    else:
        print(text(result.as_dict()))
    raise typer.Exit(0 if result.passed else 1)


def text(data: dict[str, Any]) -> str:
    """The drill's result for people."""

    def alloc(a: dict[str, int] | None) -> str:
        return "-" if a is None else "/".join(str(a.get(t, 0)) for t in TIERS)

    lines = [
        f"drill {data['stack']} week {data['week']}: {data['fault']} in {data['tier']} "
        f"({data['alert']})",
    ]
    lines += [f"  {e['atSeconds']:7.2f}s  {e['event']}" for e in data["timeline"]]
    total = data["totalSeconds"]
    lines.append(
        f"fault to traffic moved: {'-' if total is None else f'{total:.1f}s'} "
        f"(budget {data['budgetSeconds']}s)"
    )
    lines.append(
        f"sandbox/canary/production {alloc(data['allocationBefore'])} -> "
        f"{alloc(data['allocationAfter'])} (plan: {alloc(data['expectedAllocation'])})"
    )
    ledger = data["ledger"] or {}
    records = len(data["auditRecords"])
    lines.append(f"ledger held: {bool(ledger.get('held'))}; audit records: {records}")
    lines += [f"FAILED: {f}" for f in data["failures"]]
    lines.append("PASS" if data["passed"] else "FAIL")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    app.command("drill")(drill)
