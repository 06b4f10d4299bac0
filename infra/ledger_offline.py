"""Offline answers for the ledger invoke (replaced when the rollback ledger lands)."""

from __future__ import annotations

from typing import Any


def ledger_invokes(stack: str, ledger: str | None) -> dict[str, Any]:
    return {}
