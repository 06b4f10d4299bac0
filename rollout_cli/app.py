"""The `rollout` command line: offline plan, render, diff, schedule, config and policy checks.

Every command works without the Pulumi CLI or a cloud. Bad input ends with one line on stderr
naming what is wrong and where, exit code 2, and nothing written.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from typer._click.exceptions import ClickException, UsageError  # typer's vendored click

from rollout_cli.advance.cli import register as register_advance
from rollout_cli.drill.cli import register as register_drill
from rollout_cli.operator import register as register_rollback
from rollout_cli.policy.cli import policy_app
from rollout_cli.stackfile import load_offline, project_root
from rollout_cli.stackfile import stacks as stack_names
from rollout_rules.errors import ConfigError
from rollout_rules.plan import TIERS, table
from rollout_rules.runtime import tune_gc

app = typer.Typer(
    name="rollout",
    help="Offline plan, render, diff and checks for the codex-rollout Pulumi program.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(help="Stack config checks.", no_args_is_help=True)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"rollout {version('codex-rollout')}")
        except PackageNotFoundError:  # run from a checkout that was never installed
            print("rollout (not installed)")
        raise typer.Exit(0)


@app.callback()
def _main(
    show_version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_version, help="Print the version."),
    ] = False,
) -> None:
    """Offline plan, render, diff and checks for the codex-rollout Pulumi program."""


app.add_typer(config_app, name="config")

out = Console(highlight=False, soft_wrap=True, emoji=False)

StackOpt = Annotated[str, typer.Option("--stack", "-s", help="Stack name (Pulumi.<stack>.yaml).")]
WeekOpt = Annotated[
    int | None, typer.Option("--week", "-w", help="Rollout week (default: the stack's week).")
]
LedgerOpt = Annotated[
    str | None, typer.Option("--ledger", help="File holding the rollback ledger's JSON value.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
FromWeekOpt = Annotated[
    int | None,
    typer.Option(
        "--from-week",
        help="Preview the change from this week (0: a first deploy): resources new since then "
        "get unknown computed outputs, as `pulumi preview` gives them.",
    ),
]


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one line to stderr and return the Exit to raise."""
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code)


def _plan(
    stack: str,
    week: int | None,
    ledger: str | None,
    from_week: int | None = None,
    before: Any = None,
) -> Any:
    from rollout_cli.offline import run_plan

    try:
        return run_plan(
            stack, week, ledger, root=project_root(), from_week=from_week, before=before
        )
    except ConfigError as err:
        raise fail(str(err)) from None
    except Exception as err:
        # A failure inside the program is not bad input: exit 1, one line unless debugging.
        if os.environ.get("ROLLOUT_DEBUG"):
            raise
        message = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise fail(
            f"the program failed: {type(err).__name__}: {message} (ROLLOUT_DEBUG=1 for details)",
            code=1,
        ) from None


# -- config ---------------------------------------------------------------------------------------


@config_app.command("validate")
def config_validate(stack: StackOpt) -> None:
    """Check Pulumi.<stack>.yaml against the config model without running the program."""
    try:
        loaded = load_offline(stack, project_root())
    except ConfigError as err:
        raise fail(str(err)) from None
    model = loaded.model
    out.print(
        f"Pulumi.{stack}.yaml: valid (week {model.rollout.week}, {len(model.services)} services, "
        f"{len(loaded.secure)} secrets, region {model.region})"
    )


# -- stacks ---------------------------------------------------------------------------------------


@app.command()
def stacks(as_json: JsonOpt = False) -> None:
    """List the stacks (one per Pulumi.<stack>.yaml) with their region and week.

    CI builds its matrix from this list, and takes each stack's AWS region from it.
    """
    root = project_root()
    rows = []
    for name in stack_names(root):
        try:
            model = load_offline(name, root).model
        except ConfigError as err:
            raise fail(str(err)) from None
        rows.append({"stack": name, "region": model.region, "week": model.rollout.week})
    if as_json:
        print(json.dumps(rows))
        return
    for row in rows:
        out.print(f"{row['stack']}\t{row['region']}\tweek {row['week']}")


# -- schedule -------------------------------------------------------------------------------------


@app.command()
def schedule(stack: StackOpt, as_json: JsonOpt = False) -> None:
    """Print the stack's rollout schedule with its current week marked."""
    try:
        model = load_offline(stack, project_root()).model
    except ConfigError as err:
        raise fail(str(err)) from None
    plan = model.schedule()
    rows = table(plan, through=max(12, model.rollout.week))
    if as_json:
        current = model.rollout.week
        marked = [{**row.as_dict(), "current": row.week == current} for row in rows]
        print(json.dumps(marked, indent=2))
        return
    grid = Table(title=f"rollout schedule: {stack}")
    for column in ("", "week", "phase", *TIERS):
        grid.add_column(column, justify="right" if column in (*TIERS, "week") else "left")
    for row in rows:
        mark = "▶" if row.week == model.rollout.week else ""
        weights = [str(row.allocation.weight(t)) for t in TIERS]
        grid.add_row(mark, str(row.week), row.phase, *weights)
    out.print(grid)


# -- plan -----------------------------------------------------------------------------------------


@app.command()
def plan(
    stack: StackOpt,
    week: WeekOpt = None,
    ledger: LedgerOpt = None,
    as_json: JsonOpt = False,
    from_week: FromWeekOpt = None,
) -> None:
    """Run the program offline and summarise the stack's desired state at a week."""
    from rollout_cli.policy_summary import discard, prestart
    from rollout_cli.summary import summarise

    pack = prestart()  # the pack's start-up overlaps the offline run on the other core
    try:
        result = _plan(stack, week, ledger, from_week)
    except BaseException:
        discard(pack)
        raise
    summary = summarise(result, pack)
    if as_json:
        print(json.dumps(summary.as_dict(), indent=2))
    else:
        summary.print(out)
    if not summary.valid:
        raise typer.Exit(1)


@app.command()
def render(
    stack: StackOpt,
    out_dir: Annotated[
        str,
        typer.Option(
            "--out",
            "-o",
            help="Directory to write into: new, empty, or a previous render (replaced whole).",
        ),
    ],
    week: WeekOpt = None,
    ledger: LedgerOpt = None,
    from_week: FromWeekOpt = None,
) -> None:
    """Write the plan as files: resources.json (stack export shape), k8s/, and more.

    With --from-week, values unknown at preview are written as the engine's unknown sentinel,
    and `rollout policy check --export DIR` hands them to the pack as unknowns.
    Never deletes or overwrites a file it did not write (render-manifest.json lists them).
    """
    from rollout_cli.render import check_target
    from rollout_cli.render import render as write

    if not out_dir.strip():
        raise fail("--out '': give a directory to render into")
    try:
        check_target(Path(out_dir).absolute())  # refused before the plan runs, too
    except ValueError as err:
        raise fail(f"--out {out_dir}: {err}") from None
    result = _plan(stack, week, ledger, from_week)
    try:
        written = write(result, Path(out_dir))
    except (OSError, ValueError) as err:
        raise fail(f"--out {out_dir}: {err}") from None
    out.print(f"rendered {stack} week {result.week}: {len(written)} files under {out_dir}")


@app.command()
def diff(
    stack: StackOpt,
    from_week: Annotated[int, typer.Option("--from-week", help="Week to diff from.")],
    to_week: Annotated[int, typer.Option("--to-week", help="Week to diff to.")],
    ledger: LedgerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Traffic by tier, then per resource the paths that changed between two weeks (--json:
    every changed path with its full old and new value).

    The later week is previewed from the earlier one, as `pulumi preview` shows the change:
    what is new has unknown computed outputs (written as the engine's unknown sentinel).
    """
    from rollout_cli.render import diff as plan_diff
    from rollout_cli.summary import listener_weights

    before = _plan(stack, from_week, ledger)
    after = _plan(stack, to_week, ledger, from_week, before)
    result = plan_diff(before, after)
    weights = {"from": listener_weights(before), "to": listener_weights(after)}
    if as_json:
        print(json.dumps({**result.as_dict(), "weights": weights}, indent=2))
        return
    from rollout_cli.review import review

    print("\n".join(review(before, after, result)))


app.add_typer(policy_app, name="policy")
register_rollback(app)
register_advance(app)
register_drill(app)


def run(argv: Sequence[str] | None = None) -> int:
    """Run one `rollout` command line (default: ``sys.argv[1:]``) and return its exit code:
    bad usage is one line on stderr and 2, every other failure one line and its own code."""
    try:
        # Without standalone mode a command's typer.Exit comes back as its exit code.
        result = app(
            list(argv) if argv is not None else None, prog_name="rollout", standalone_mode=False
        )
        return result if isinstance(result, int) else 0
    except UsageError as err:
        # A bad option or argument: one line, like every other bad input.
        where = f" ({err.ctx.command_path})" if err.ctx is not None else ""
        if err.format_message():  # empty after `rollout` alone has printed the help
            print(f"error: {err.format_message()}{where}", file=sys.stderr)
        return 2
    except ClickException as err:
        print(f"error: {err.format_message()}", file=sys.stderr)
        return err.exit_code
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        return 1
    except SystemExit as done:
        if isinstance(done.code, str):
            print(done.code, file=sys.stderr)
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except typer.Exit as done:
        return done.exit_code


def main() -> None:
    """Console-script entry point."""
    tune_gc()  # before a command loads the SDKs: see rollout_rules/runtime.py
    code = run()
    # Everything is written and every child process is gone by now. Tearing down the Pulumi SDK
    # modules costs about a second of a ~3 s run, so leave without it.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
