"""The function's entry points: `handler` for Lambda, `process` for one event's triggers.

Lambda calls `handler` (the component's handler name points here); the operator commands call
`process` with their own settings and clients.
"""

from __future__ import annotations

from typing import Any

from .events import Skip, parse_event
from .logs import log
from .rollbacks import Outcome, Rollbacks
from .settings import Settings, SettingsError
from .store import Clients


def process(
    event: Any, settings: Settings, clients: Clients, owner: str | None = None
) -> list[Outcome]:
    """Handle one Lambda event: every trigger in it, in order."""
    rollbacks = Rollbacks(settings, clients, owner)
    outcomes = []
    for item in parse_event(event, settings):
        if isinstance(item, Skip):
            log(
                "info",
                f"no change: {item.why}",
                stack=settings.stack,
                kind=item.kind,
                eventId=item.event_id,
            )
            outcomes.append(Outcome("ignored", item.kind, item.event_id, why=item.why))
        else:
            outcomes.append(rollbacks.apply(item))
    return outcomes


# Created on the first invocation and kept for the warm ones: a client per call would add
# connection set-up to every rollback.
_CLIENTS: Clients | None = None


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    """Lambda entry point.

    AWS errors that survive the retries propagate, so Lambda retries the event and finally sends
    it to the dead-letter queue; a replay (`rollout rollback --event FILE`) is idempotent.
    """
    global _CLIENTS
    try:
        settings = Settings.from_env()
    except SettingsError as err:
        # Raised, not swallowed: Lambda retries, then keeps the event in the dead-letter queue
        # for a replay once the configuration is fixed.
        log("error", "rollback function misconfigured; no change", error=str(err))
        raise
    if _CLIENTS is None:
        _CLIENTS = Clients.create()
    owner = getattr(context, "aws_request_id", None)
    outcomes = process(event, settings, _CLIENTS, owner)
    return {"outcomes": [o.as_dict() for o in outcomes]}
