"""Operator commands for rollbacks, running the rollback function's own code.

- `rollout rollback --tier T --reason "..."`: manual rollback of one tier (without --tier: a
  rollback that names no tier, to the previous week's allocation).
- `rollout rollback --event FILE`: replay a trigger event through the function (drills,
  incidents, events from the dead-letter queue). A Lambda event, or a bare CloudWatch alarm /
  Alertmanager message (wrapped as an SNS record). Replaying an event already applied changes
  nothing.
- `rollout resume --reason "..."`: clear the hold (audited); the next `pulumi up` declares the
  schedule's allocation again.

They read the same environment variables as the function (ROLLOUT_STACK, ROLLOUT_LISTENER_ARN,
ROLLOUT_TARGET_GROUPS, ROLLOUT_ROLLBACK_PLAN, ROLLOUT_LEDGER_PARAMETER, ROLLOUT_AUDIT_TABLE,
ROLLOUT_NOTIFY_TOPIC_ARN) and the standard AWS settings. Exit 0 when done, 1 when AWS refused or
failed, 2 on bad input. The function's JSON log lines go to stderr; stdout gets the outcomes.

The function's modules (`components.rollback.function`) are imported when a command runs, not
with the CLI: they bring in boto3, which no other command needs.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from rollout_rules.rollback import NO_TIER

if TYPE_CHECKING:
    from components.rollback.function.rollbacks import Outcome
    from components.rollback.function.settings import Settings
    from components.rollback.function.store import Clients

T = TypeVar("T")

rollback_app = typer.Typer(no_args_is_help=True)


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


def _runtime() -> tuple[Settings, Clients]:
    """The function's settings from the environment, and AWS clients; its logs to stderr."""
    from components.rollback.function import logs
    from components.rollback.function.settings import Settings, SettingsError
    from components.rollback.function.store import Clients

    logs.LOG_STREAM = sys.stderr
    try:
        settings = Settings.from_env()
    except SettingsError as err:
        raise _fail(str(err)) from None
    return settings, Clients.create()


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
    from rollout_rules.errors import ConfigError

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


def _run(action: Callable[[], T]) -> T:
    from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

    from components.rollback.function.store import LockTimeoutError

    try:
        return action()
    except (ClientError, BotoCoreError, LockTimeoutError) as err:
        raise _fail(f"rollback not completed: {err}", code=1) from None


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


@rollback_app.command("rollback")
def rollback(
    tier: TierOpt = None,
    reason: ReasonOpt = None,
    event: EventOpt = None,
    operator: OperatorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Roll back now: manually (--tier/--reason) or by replaying a trigger event (--event)."""
    from components.rollback.function.events import manual_event
    from components.rollback.function.handler import process

    if event is not None and (tier is not None or reason is not None):
        raise _fail("--event replays an event as it is; it takes no --tier or --reason")
    if event is None and not (reason and reason.strip()):
        raise _fail("--reason is required for a manual rollback (or replay one with --event)")
    payload = load_event(event) if event is not None else None
    settings, clients = _runtime()
    if payload is None:
        if tier is not None and settings.allocation_for(tier) is None:
            known = ", ".join(k for k in settings.plan["allocations"] if k != NO_TIER)
            raise _fail(f"--tier {tier}: not a tier with an environment this week ({known})")
        assert reason is not None
        payload = manual_event(tier, reason.strip(), _operator(operator))
    outcomes = _run(lambda: process(payload, settings, clients))
    _report(outcomes, as_json)


@rollback_app.command("resume")
def resume(
    reason: Annotated[str, typer.Option("--reason", help="Why the hold can be cleared.")],
    operator: OperatorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Clear the rollback hold (audited); the next `pulumi up` declares the schedule again."""
    from components.rollback.function.rollbacks import Rollbacks

    if not reason.strip():
        raise _fail("--reason must say why the hold can be cleared")
    settings, clients = _runtime()
    rollbacks = Rollbacks(settings, clients)
    outcome = _run(lambda: rollbacks.resume(reason.strip(), _operator(operator)))
    _report([outcome], as_json)
