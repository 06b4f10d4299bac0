"""Operator commands for rollbacks, running the rollback function's own code.

- `rollout rollback --stack S --tier T --reason "..."`: manual rollback of one tier (without
  --tier: a rollback that names no tier, to the previous week's allocation).
- `rollout rollback --stack S --event FILE`: replay a trigger event through the function (drills,
  incidents, events from the dead-letter queue). A Lambda event, or a bare CloudWatch alarm /
  Alertmanager message (wrapped as an SNS record). Replaying an event already applied changes
  nothing; an event the function does not recognise is refused (exit 2) before any AWS call.
- `rollout resume --stack S --reason "..."`: clear the hold (audited); the next `pulumi up`
  declares the schedule's allocation again.

The function's configuration (ROLLOUT_STACK, ROLLOUT_LISTENER_ARN, ROLLOUT_TARGET_GROUPS,
ROLLOUT_ROLLBACK_PLAN, ROLLOUT_LEDGER_PARAMETER, ROLLOUT_AUDIT_TABLE, ROLLOUT_NOTIFY_TOPIC_ARN)
comes from the stack's outputs (`rollback.environment`): with `--stack S`, from `pulumi stack
output --json --show-secrets --stack S` when the Pulumi CLI is installed, else from `--outputs
FILE` holding that JSON; without either, from the environment variables of the same names. The
AWS region is the listener's (from its ARN); credentials and endpoints come from the standard AWS
settings. Exit 0 when done, 1 when AWS refused or failed, 2 on bad input or a missing AWS setting.
Outcomes go to stdout; the function's JSON log lines only with `--log-json` (to stderr).

The function's modules (`components.rollback.function`) are imported when a command runs, not
with the CLI: they bring in boto3, which no other command needs.
"""

from __future__ import annotations

import getpass
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from rollout_rules.contract import ENV_LISTENER_ARN, ENV_STACK, ENV_VARS
from rollout_rules.errors import ConfigError
from rollout_rules.rollback import NO_TIER

if TYPE_CHECKING:
    from components.rollback.function.rollbacks import Outcome
    from components.rollback.function.settings import Settings
    from components.rollback.function.store import Clients

T = TypeVar("T")

rollback_app = typer.Typer(no_args_is_help=True)

# The command whose JSON `--outputs` holds, and that `--stack` runs when the CLI is installed.
OUTPUTS_COMMAND = ("pulumi", "stack", "output", "--json", "--show-secrets", "--stack")


def register(app: typer.Typer) -> None:
    """Mount `rollback` and `resume` as top-level commands of `app`."""
    app.add_typer(rollback_app)


def _fail(message: str, code: int = 2) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code)


def _operator(operator: str | None) -> str:
    if operator:
        return operator
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


# -- the function's configuration ----------------------------------------------------------------


def environment_from_outputs(outputs: Any, source: str) -> dict[str, str]:
    """The function's environment variables from a stack's outputs (`rollback.environment`)."""
    rollback = outputs.get("rollback") if isinstance(outputs, dict) else None
    environment = rollback.get("environment") if isinstance(rollback, dict) else None
    if not isinstance(environment, dict):
        raise ConfigError(
            f"{source}: no rollback.environment in the stack outputs "
            "(a stack deployed before it was exported: run `pulumi up` once)"
        )
    missing = [name for name in ENV_VARS if not isinstance(environment.get(name), str)]
    if missing:
        raise ConfigError(f"{source}: rollback.environment has no {', '.join(missing)}")
    return {name: environment[name] for name in ENV_VARS}


def _outputs_from_file(path: Path) -> Any:
    from rollout_cli.inputs import read_input

    label = f"--outputs {path}"
    try:
        return json.loads(read_input(path, label))
    except json.JSONDecodeError as err:
        raise ConfigError(f"{label}: not JSON ({err.msg} at line {err.lineno})") from None


def _outputs_from_pulumi(stack: str) -> Any:
    from rollout_cli.stackfile import project_root

    pulumi = shutil.which("pulumi")
    command = " ".join((*OUTPUTS_COMMAND, stack))
    if pulumi is None:
        raise ConfigError(
            f"--stack {stack}: the Pulumi CLI is not installed; give --outputs FILE holding the "
            f"JSON of `{command}`"
        )
    try:
        done = subprocess.run(
            [pulumi, *OUTPUTS_COMMAND[1:], stack],
            capture_output=True,
            text=True,
            cwd=project_root(),
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise ConfigError(f"`{command}` did not run ({err})") from None
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["no message"])[0]
        raise ConfigError(f"`{command}` failed (exit {done.returncode}): {first}")
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError as err:
        raise ConfigError(f"`{command}` printed no JSON ({err.msg})") from None


def function_environment(stack: str | None, outputs: Path | None) -> Mapping[str, str]:
    """Where the commands get the function's configuration: the stack's outputs (a file, or
    the Pulumi CLI), else the process environment."""
    if outputs is not None:
        environment = environment_from_outputs(_outputs_from_file(outputs), f"--outputs {outputs}")
    elif stack is not None:
        environment = environment_from_outputs(_outputs_from_pulumi(stack), f"--stack {stack}")
    else:
        return os.environ
    if stack is not None and environment[ENV_STACK] != stack:
        raise ConfigError(
            f"--outputs {outputs}: these are the outputs of stack "
            f"{environment[ENV_STACK]!r}, not {stack!r}"
        )
    return environment


def region_of(listener_arn: str) -> str:
    """The region field of the listener's ARN (`arn:aws:elasticloadbalancing:<region>:...`)."""
    parts = listener_arn.split(":")
    if len(parts) < 6 or parts[0] != "arn" or not parts[3]:
        raise ConfigError(f"{ENV_LISTENER_ARN}: {listener_arn!r} is not an ARN with a region")
    return parts[3]


def _settings(stack: str | None, outputs: Path | None, log_json: bool) -> Settings:
    """The function's settings, and where its log lines go (stderr, or nowhere)."""
    from components.rollback.function import logs
    from components.rollback.function.settings import Settings, SettingsError

    logs.LOG_STREAM = sys.stderr if log_json else io.StringIO()
    try:
        settings = Settings.from_env(function_environment(stack, outputs))
        region_of(settings.listener_arn)
    except (SettingsError, ConfigError) as err:
        raise _fail(str(err)) from None
    return settings


def _clients(settings: Settings) -> Clients:
    """AWS clients in the listener's region. Creating them makes no call."""
    import boto3  # type: ignore[import-untyped]
    from botocore.exceptions import BotoCoreError  # type: ignore[import-untyped]

    from components.rollback.function.store import Clients

    try:
        return Clients.create(boto3.session.Session(region_name=region_of(settings.listener_arn)))
    except BotoCoreError as err:
        raise _fail(f"AWS: {err}") from None


# -- events and outcomes ---------------------------------------------------------------------------


def sns_event(message: dict[str, Any]) -> dict[str, Any]:
    """A bare SNS message body (alarm or Alertmanager JSON) as the Lambda event SNS delivers."""
    body = json.dumps(message)
    digest = hashlib.sha256(body.encode()).hexdigest()
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": f"replay-{digest[:32]}",
                    "Subject": "replay",
                    "Message": body,
                },
            }
        ]
    }


def load_event(path: Path) -> dict[str, Any]:
    """The event in FILE: a Lambda event, or a bare SNS message body to wrap."""
    from rollout_cli.inputs import read_input

    try:
        event = json.loads(read_input(path, f"--event {path}"))
    except ConfigError as err:
        raise _fail(str(err)) from None
    except json.JSONDecodeError as err:
        raise _fail(f"--event {path}: not JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(event, dict):
        raise _fail(f"--event {path}: not a JSON object")
    if "Records" not in event and ("AlarmName" in event or "alerts" in event):
        return sns_event(event)
    return event


def refuse_unrecognised(event: dict[str, Any], settings: Settings, path: Path) -> None:
    """Exit 2 when the event holds anything the function does not recognise (the function
    itself logs and ignores such events; from the command line they are a mistake)."""
    from components.rollback.function.events import Skip, parse_event

    for item in parse_event(event, settings):
        if isinstance(item, Skip) and not item.recognised:
            raise _fail(f"--event {path}: not an event the rollback function knows: {item.why}")


def _report(outcomes: list[Outcome], as_json: bool) -> None:
    if as_json:
        print(json.dumps([o.as_dict() for o in outcomes], indent=2))
        return
    for o in outcomes:
        line = f"{o.action}: {o.kind}"
        if o.event_id:
            line += f" {o.event_id}"
        if o.tier:
            line += f" (tier {o.tier})"
        if o.before is not None and o.after is not None:
            line += f" weights {o.before} -> {o.after}"
        if o.why:
            line += f" — {o.why}"
        print(line)


def _run(what: str, action: Callable[[], T]) -> T:
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )

    from components.rollback.function.store import LockTimeoutError

    try:
        return action()
    except (NoCredentialsError, PartialCredentialsError, NoRegionError) as err:
        # A missing AWS setting: nothing was called, so nothing changed.
        raise _fail(f"{what} not started: AWS: {err}") from None
    except (ClientError, BotoCoreError, LockTimeoutError) as err:
        raise _fail(f"{what} not completed: {err}", code=1) from None


# -- the commands ----------------------------------------------------------------------------------

StackOpt = Annotated[
    str | None,
    typer.Option(
        "--stack",
        "-s",
        help="Take the function's configuration from this stack's outputs "
        "(`pulumi stack output --json --show-secrets`, or --outputs FILE).",
    ),
]
OutputsOpt = Annotated[
    Path | None,
    typer.Option(
        "--outputs",
        help="File holding `pulumi stack output --json --show-secrets --stack S` "
        "(where the Pulumi CLI is not installed).",
    ),
]
TierOpt = Annotated[
    str | None, typer.Option("--tier", help="Tier to take out of traffic (omit: no tier).")
]
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="Why (kept in the audit record).")]
EventOpt = Annotated[
    Path | None, typer.Option("--event", help="Replay this trigger event (JSON file).")
]
OperatorOpt = Annotated[
    str | None, typer.Option("--operator", help="Who is acting (default: the login name).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Outcomes as JSON.")]
LogJsonOpt = Annotated[
    bool, typer.Option("--log-json", help="The function's JSON log lines, on stderr.")
]


@rollback_app.command("rollback")
def rollback(
    stack: StackOpt = None,
    outputs: OutputsOpt = None,
    tier: TierOpt = None,
    reason: ReasonOpt = None,
    event: EventOpt = None,
    operator: OperatorOpt = None,
    as_json: JsonOpt = False,
    log_json: LogJsonOpt = False,
) -> None:
    """Roll back now: manually (--tier/--reason) or by replaying a trigger event (--event)."""
    from components.rollback.function.events import manual_event
    from components.rollback.function.handler import process

    if event is not None and (tier is not None or reason is not None):
        raise _fail("--event replays an event as it is; it takes no --tier or --reason")
    if event is None and not (reason and reason.strip()):
        raise _fail("--reason is required for a manual rollback (or replay one with --event)")
    payload = load_event(event) if event is not None else None
    settings = _settings(stack, outputs, log_json)
    if payload is not None:
        assert event is not None
        refuse_unrecognised(payload, settings, event)
    else:
        if tier is not None and settings.allocation_for(tier) is None:
            known = ", ".join(k for k in settings.plan["allocations"] if k != NO_TIER)
            raise _fail(f"--tier {tier}: not a tier with an environment this week ({known})")
        assert reason is not None
        payload = manual_event(tier, reason.strip(), _operator(operator))
    clients = _clients(settings)
    outcomes = _run("rollback", lambda: process(payload, settings, clients))
    _report(outcomes, as_json)


@rollback_app.command("resume")
def resume(
    reason: Annotated[str, typer.Option("--reason", help="Why the hold can be cleared.")],
    stack: StackOpt = None,
    outputs: OutputsOpt = None,
    operator: OperatorOpt = None,
    as_json: JsonOpt = False,
    log_json: LogJsonOpt = False,
) -> None:
    """Clear the rollback hold (audited); the next `pulumi up` declares the schedule again."""
    from components.rollback.function.rollbacks import Rollbacks

    if not reason.strip():
        raise _fail("--reason must say why the hold can be cleared")
    settings = _settings(stack, outputs, log_json)
    rollbacks = Rollbacks(settings, _clients(settings))
    outcome = _run("resume", lambda: rollbacks.resume(reason.strip(), _operator(operator)))
    _report([outcome], as_json)
