"""`rollout advance --stack S`: judge the week that ran, then move the stack one week forward.

Exit 0 when the advance is allowed (a dry run, or the week written), 1 when refused (a gate
failed or could not be judged, the ledger is held, the pack has a mandatory violation for the
target week), 2 on bad input, with one line naming what is wrong and nothing written.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer

from rollout_cli.advance.gates import FAIL, INCONCLUSIVE, PASS, Gate, Judge
from rollout_cli.advance.prometheus import Prometheus
from rollout_cli.advance.report import FORMATS, Verdict, render
from rollout_cli.advance.window import resolve_window
from rollout_cli.inputs import read_input
from rollout_cli.stackfile import load_offline, project_root, stack_file
from rollout_rules.contract import ledger_parameter_name
from rollout_rules.errors import ConfigError
from rollout_rules.ledger import Ledger, parse_ledger
from rollout_rules.plan import TIERS, week_plan

PROMETHEUS_ENV = "PROMETHEUS_URL"
DEFAULT_PROMETHEUS = "http://localhost:9090"


def _fail(message: str) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(2)


# -- the ledger -----------------------------------------------------------------------------------


def _ledger_from_file(path: Path) -> tuple[Ledger, str]:
    text = read_input(path, f"--ledger {path}")
    return parse_ledger(text, source=f"--ledger {path}"), text


def _ledger_from_ssm(stack: str, region: str) -> tuple[Ledger | None, str | None, str]:
    """The ledger as the program reads it (None when the parameter does not exist yet), its
    JSON text, and where it came from. Raises RuntimeError when AWS cannot be asked."""
    import boto3  # type: ignore[import-untyped]
    from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

    name = ledger_parameter_name(stack)
    where = f"SSM parameter {name}"
    try:
        client = boto3.client("ssm", region_name=os.environ.get("AWS_REGION") or region)
        value = client.get_parameter(Name=name)["Parameter"]["Value"]
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ParameterNotFound":
            return None, None, where
        raise RuntimeError(f"{where}: {err}") from None
    except BotoCoreError as err:
        raise RuntimeError(f"{where}: {err}") from None
    return parse_ledger(value, source=f"ledger {name}"), value, where


# -- the policy pack for the target week ----------------------------------------------------------


def _policy_gate(stack: str, week: int, ledger_file: str | None, root: Path) -> tuple[Gate, Any]:
    """The pack's verdict on the target week's offline plan, and that plan (for the diff)."""
    from rollout_cli.offline import run_plan
    from rollout_cli.policy.errors import PolicyCheckError
    from rollout_cli.policy.host import evaluate
    from rollout_cli.policy.state import plan_state

    check = f"rollout policy check --stack {stack} --week {week}"
    gate = Gate("policy-pack", INCONCLUSIVE, None, 0, None, unit="violations", rule="==")
    gate.extra["check"] = check
    try:
        planned = run_plan(stack, week, ledger_file, root=root)
        engine_config = load_offline(stack, root, week).engine_config
        report = evaluate(
            plan_state(planned),
            pack_dir=_pack_dir(),
            source=f"offline render, week {week}",
            stack_config=engine_config,
        )
    except (ConfigError, PolicyCheckError) as err:
        gate.detail = f"{check} could not run: {err}"
        return gate, None
    except Exception as err:  # the program itself failed: cannot judge, never a pass
        gate.detail = f"{check} could not run: {type(err).__name__}: {err}"
        return gate, None
    mandatory = report.mandatory
    gate.value = float(len(mandatory))
    gate.status = PASS if not mandatory else FAIL
    gate.extra["violations"] = [v.as_dict() for v in mandatory]
    names = sorted({f"{v.policy} ({v.urn.rsplit('::', 1)[-1]})" for v in mandatory})
    gate.detail = (
        f"{len(mandatory)} mandatory violation(s) at week {week}: {', '.join(names)}"
        if mandatory
        else f"no mandatory violation at week {week} ({len(report.violations)} advisory)"
    )
    return gate, planned


def _pack_dir() -> Path:
    from rollout_cli.policy.host import PACK_DIR

    return PACK_DIR


# -- the traffic diff -----------------------------------------------------------------------------


def _print_diff(stack: str, before: Any, after: Any, stream: TextIO) -> None:
    """The `rollout diff` view of the change just written."""
    from rollout_cli.render import diff as plan_diff
    from rollout_cli.summary import listener_weights

    result = plan_diff(before, after)
    weights = {"from": listener_weights(before), "to": listener_weights(after)}
    print(f"{stack}: week {before.week} -> week {after.week}", file=stream)
    print(
        "traffic: "
        + ", ".join(
            f"{t} {weights['from'].get(t, '-')} -> {weights['to'].get(t, '-')}" for t in TIERS
        ),
        file=stream,
    )
    for urn in result.added:
        print(f"  + {urn}", file=stream)
    for urn in result.removed:
        print(f"  - {urn}", file=stream)
    for urn, changes in result.changed.items():
        print(f"  ~ {urn}", file=stream)
        for change in changes:
            print(f"      {change.path}: {change.old!r} => {change.new!r}", file=stream)
    print(
        f"{len(result.added)} to add, {len(result.removed)} to remove, "
        f"{len(result.changed)} to change",
        file=stream,
    )


# -- the command ----------------------------------------------------------------------------------


def advance(
    stack: Annotated[str, typer.Option("--stack", "-s", help="Stack name (Pulumi.<stack>.yaml).")],
    to_week: Annotated[
        int | None,
        typer.Option("--to-week", help="The target week; must be the next one (default)."),
    ] = None,
    prometheus: Annotated[
        str | None,
        typer.Option(
            "--prometheus",
            help=f"Prometheus base URL (default: ${PROMETHEUS_ENV}, else {DEFAULT_PROMETHEUS}).",
        ),
    ] = None,
    window: Annotated[
        str | None,
        typer.Option(
            "--window",
            help="Judged window, e.g. 2h (default: since the week's commit, at most 7d).",
        ),
    ] = None,
    ledger: Annotated[
        Path | None,
        typer.Option("--ledger", help="Rollback ledger JSON file instead of SSM (no AWS call)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Judge only; write nothing.")] = False,
    fmt: Annotated[str, typer.Option("--format", "-f", help="text, json or markdown.")] = "text",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report to this file.")
    ] = None,
) -> None:
    """Advance the stack one rollout week if the week that ran passed every promotion gate
    in Prometheus; exit 1 (and write nothing) when refused."""
    if fmt not in FORMATS:
        raise _fail(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    root = project_root()
    url = prometheus or os.environ.get(PROMETHEUS_ENV) or DEFAULT_PROMETHEUS
    if not url.startswith(("http://", "https://")):
        raise _fail(f"--prometheus {url!r}: not an http(s) URL")
    if output is not None and not output.parent.is_dir():
        raise _fail(f"--output {output}: directory {output.parent} does not exist")
    now = time.time()
    try:
        model = load_offline(stack, root).model
        current = model.rollout.week
        target = current + 1
        if to_week is not None and to_week != target:
            raise ConfigError(
                f"--to-week {to_week}: `rollout advance` moves one week forward, and "
                f"Pulumi.{stack}.yaml is at week {current} (the next week is {target})"
            )
        load_offline(stack, root, target)  # the target week must be a valid config too
        judged = resolve_window(window, stack_file(stack, root), current, now)
        ledger_value: Ledger | None = None
        ledger_text: str | None = None
        ledger_error: str | None = None
        if ledger is not None:
            ledger_value, ledger_text = _ledger_from_file(ledger)
            source = f"--ledger {ledger}"
        else:
            try:
                ledger_value, ledger_text, source = _ledger_from_ssm(stack, model.region)
            except RuntimeError as err:
                ledger_error, source = f"cannot read the ledger: {err}", "SSM"
    except ConfigError as err:
        raise _fail(str(err)) from None

    judge = Judge(stack, model, current, target, judged, Prometheus(url))
    gates = judge.run(ledger_value, source)
    if ledger_error is not None:
        gates[0].status, gates[0].detail = INCONCLUSIVE, ledger_error

    with tempfile.TemporaryDirectory(prefix="rollout-advance-") as scratch:
        ledger_file: str | None = None
        if ledger_text is not None:
            ledger_file = str(Path(scratch) / "ledger.json")
            Path(ledger_file).write_text(ledger_text)
        policy, after = _policy_gate(stack, target, ledger_file, root)
        gates.append(policy)
        verdict = Verdict(
            stack=stack,
            from_week=current,
            to_week=target,
            window=judged,
            prometheus=url,
            ran=week_plan(current, model.schedule()).allocation,
            next=week_plan(target, model.schedule()).allocation,
            gates=gates,
            dry_run=dry_run,
        )
        write = verdict.allowed and not dry_run
        before = None
        if write:
            from rollout_cli.advance.writer import write_week
            from rollout_cli.offline import run_plan

            before = run_plan(stack, current, ledger_file, root=root)
            try:
                write_week(stack_file(stack, root), target)
            except ConfigError as err:
                raise _fail(str(err)) from None
            except OSError as err:
                raise _fail(f"Pulumi.{stack}.yaml: cannot write ({err.strerror})") from None
            verdict.written = True

    report = render(verdict, fmt)
    if output is not None:
        try:
            output.write_text(report)
        except OSError as err:
            raise _fail(f"--output {output}: cannot write ({err.strerror})") from None
        print(verdict.headline())
    else:
        sys.stdout.write(report)
    if verdict.written and before is not None and after is not None:
        # With a JSON or Markdown report on stdout, the diff goes to stderr to keep it parseable.
        stream = sys.stdout if (fmt == "text" or output is not None) else sys.stderr
        print(f"wrote rollout.week {target} to Pulumi.{stack}.yaml", file=stream)
        _print_diff(stack, before, after, stream)
    raise typer.Exit(verdict.exit_code)


def register(app: typer.Typer) -> None:
    """Mount `advance` as a top-level command of `app`."""
    app.command("advance")(advance)
