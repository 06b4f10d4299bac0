"""Reading the rollback ledger in the program, so a re-apply never undoes a rollback.

The ledger is an SSM parameter with a deterministic name, created by the Rollback component with
`{"held": false}` and afterwards written only by the rollback function (and `rollout resume`).
The program reads it on every preview with the `aws:ssm/getParametersByPath:getParametersByPath`
invoke on the stack's prefix: unlike getParameter, that returns an empty list instead of failing
when the parameter does not exist yet (the first deploy of a stack), so no error handling hides
real failures. Offline, `ledger_invokes` answers the same invoke from `--ledger FILE`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from infra.rollback_plan import Ledger, effective_allocation, parse_ledger
from infra.schedule import Allocation

LEDGER_INVOKE = "aws:ssm/getParametersByPath:getParametersByPath"
"""The invoke token the program reads the ledger with."""


def ledger_prefix(stack: str) -> str:
    """The SSM path holding the stack's rollback parameters (no trailing slash)."""
    return f"/codex-rollout/{stack}"


def ledger_parameter_name(stack: str) -> str:
    """The ledger parameter's name: `/codex-rollout/<stack>/rollback-ledger`."""
    return f"{ledger_prefix(stack)}/rollback-ledger"


def read_ledger(stack: str) -> Ledger | None:
    """The stack's ledger, or None when the parameter does not exist (yet).

    Raises LedgerError (a ConfigError) when the parameter holds something that is not a valid
    ledger: the program must not guess whether a rollback is held.
    """
    import pulumi_aws as aws

    found = aws.ssm.get_parameters_by_path(
        path=ledger_prefix(stack), recursive=False, with_decryption=False
    )
    name = ledger_parameter_name(stack)
    for param_name, value in zip(found.names or [], found.values or [], strict=False):
        if param_name == name:
            return parse_ledger(value, source=f"ledger {name}")
    return None


def declared_allocation(stack: str, scheduled: Allocation, tiers: Sequence[str]) -> Allocation:
    """The allocation the listener declares: the held ledger's, else the schedule's.

    While a rollback is held the preview says so with a warning naming the event and how to
    resume.
    """
    import pulumi

    effective = effective_allocation(scheduled, read_ledger(stack), tiers)
    if effective.message:
        pulumi.log.warn(effective.message)
    return effective.allocation


def ledger_invokes(stack: str, ledger: str | None) -> dict[str, Any]:
    """Offline answers (token -> callable) for the ledger invoke.

    `ledger` is the text of `--ledger FILE`, or None: then the parameter does not exist, as on
    a stack's first deploy.
    """
    name = ledger_parameter_name(stack)

    def answer(args: dict[str, Any]) -> dict[str, Any]:
        path = str(args.get("path", "")).rstrip("/")
        hit = ledger is not None and path == ledger_prefix(stack)
        return {
            "id": path,
            "path": path,
            "recursive": bool(args.get("recursive", False)),
            "withDecryption": bool(args.get("withDecryption", False)),
            "names": [name] if hit else [],
            "values": [ledger] if hit else [],
            "types": ["String"] if hit else [],
        }

    return {LEDGER_INVOKE: answer}
