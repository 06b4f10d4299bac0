"""The `rollout policy` commands: `check` evaluates the pack against a stack rendered offline or
an exported state and writes a report (exit 1 on a mandatory violation, 2 on bad input);
`coverage` prints which policies cover which framework controls."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from rollout_cli.policy.config import load_config_file
from rollout_cli.policy.errors import PolicyCheckError
from rollout_cli.policy.formats import FORMATS, render
from rollout_cli.policy.formats.coverage import COVERAGE_FORMATS, render_coverage
from rollout_cli.policy.host import PACK_DIR, evaluate
from rollout_cli.policy.metadata import pack_policies
from rollout_cli.policy.state import load_state_file, plan_state

policy_app = typer.Typer(
    help="CrossGuard policy checks of a stack's state, offline.", no_args_is_help=True
)


def _fail(message: str) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(2)


def _stack_config(stack: str) -> dict[str, str]:
    """The stack's config as the engine passes it in PULUMI_CONFIG (``namespace:key`` -> string,
    objects JSON-encoded), read by the same loader as the offline plan; ``secure:`` values stay
    opaque placeholders."""
    from rollout_cli.stackfile import load_offline, project_root

    return dict(load_offline(stack, project_root()).engine_config)


def _render(stack: str, week: int | None, ledger: str | None, from_week: int | None) -> Any:
    from rollout_cli.offline import run_plan
    from rollout_cli.stackfile import project_root
    from rollout_rules.errors import ConfigError

    try:
        return plan_state(run_plan(stack, week, ledger, root=project_root(), from_week=from_week))
    except ConfigError as err:
        raise PolicyCheckError(str(err)) from None


@policy_app.command()
def check(
    stack: Annotated[
        str | None, typer.Option("--stack", "-s", help="Render this stack offline and check it.")
    ] = None,
    week: Annotated[
        int | None, typer.Option("--week", "-w", help="Rollout week (with --stack).")
    ] = None,
    export: Annotated[
        Path | None,
        typer.Option("--export", help="A `pulumi stack export` file, or a render DIR."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Policy pack config (the --policy-pack-config format)."),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="text, json, sarif, junit or markdown.")
    ] = "text",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report to this file.")
    ] = None,
    ledger: Annotated[
        str | None, typer.Option("--ledger", help="Rollback ledger JSON file (with --stack).")
    ] = None,
    from_week: Annotated[
        int | None,
        typer.Option(
            "--from-week",
            help="With --stack: check the preview of the change from this week (0: a first "
            "deploy), where what is new is unknown.",
        ),
    ] = None,
    pack: Annotated[Path, typer.Option("--policy-pack", help="Policy pack directory.")] = PACK_DIR,
    rego: Annotated[
        bool,
        typer.Option(
            "--rego",
            help="Run the Gatekeeper admission policies (the state's ConstraintTemplates and "
            "Constraints, on regopy) instead of the pack.",
        ),
    ] = False,
) -> None:
    """Evaluate the policy pack against a stack's state. Exit 1 on a mandatory violation,
    2 on bad input."""
    if fmt not in FORMATS:
        raise _fail(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if (stack is None) == (export is None):
        raise _fail("give exactly one of --stack or --export")
    if export is not None and (week is not None or ledger is not None or from_week is not None):
        raise _fail("--week, --from-week and --ledger go with --stack, not --export")
    if rego and config is not None:
        raise _fail("--config is the pack's config; with --rego the constraints' parameters apply")
    try:
        given = load_config_file(config) if config is not None else {}
        if export is not None:
            state = load_state_file(export)
            source, artifact, stack_config = str(export), str(export), None
        else:
            assert stack is not None
            state = _render(stack, week, ledger, from_week)
            source = f"offline render, week {week}" if week is not None else "offline render"
            if from_week is not None:
                source += f", preview from week {from_week}"
            artifact, stack_config = f"Pulumi.{stack}.yaml", _stack_config(stack)
        if rego:
            from rollout_cli.policy.admission import check_state

            report = check_state(state, source)
        else:
            report = evaluate(state, given, pack_dir=pack, source=source, stack_config=stack_config)
    except PolicyCheckError as err:
        raise _fail(str(err)) from None
    text = render(report, fmt, artifact)
    if output is not None:
        try:
            output.write_text(text)
        except OSError as err:
            raise _fail(f"--output {output}: cannot write ({err.strerror})") from None
        print(report.verdict())
    else:
        sys.stdout.write(text)
    raise typer.Exit(report.exit_code)


@policy_app.command("coverage")
def coverage_command(
    fmt: Annotated[str, typer.Option("--format", "-f", help="text, markdown or json.")] = "text",
) -> None:
    """Which policies cover which framework controls (SOC 2, GDPR, CIS, OpenChain)."""
    if fmt not in COVERAGE_FORMATS:
        raise _fail(f"--format {fmt!r}: expected text, markdown or json")
    sys.stdout.write(render_coverage(pack_policies(), fmt))
