"""Reading the rollback ledger in the program, so a re-apply never undoes a rollback.

The ledger is an SSM parameter with a deterministic name, created by the Rollback component with
`{"held": false}` and afterwards written only by the rollback function (and `rollout resume`).
The program reads it on every preview with the `aws:ssm/getParametersByPath:getParametersByPath`
invoke on the stack's prefix: unlike getParameter, that returns an empty list instead of failing
when the parameter does not exist yet (the first deploy of a stack), so no error handling hides
real failures. Offline, the tooling answers the same invoke from `--ledger FILE`.
"""

from __future__ import annotations

from collections.abc import Sequence

from rollout_rules.contract import ledger_parameter_name, ssm_prefix
from rollout_rules.ledger import Ledger, effective_allocation, parse_ledger
from rollout_rules.plan import Allocation

LEDGER_INVOKE = "aws:ssm/getParametersByPath:getParametersByPath"
"""The invoke token `read_ledger` reads the ledger with (the tooling answers it offline)."""


def read_ledger(stack: str) -> Ledger | None:
    """The stack's ledger, or None when the parameter does not exist (yet).

    Raises LedgerError (a ConfigError) when the parameter holds something that is not a valid
    ledger: the program must not guess whether a rollback is held.
    """
    import pulumi_aws as aws

    found = aws.ssm.get_parameters_by_path(
        path=ssm_prefix(stack), recursive=False, with_decryption=False
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
