"""The policy check's error for bad input (state, config, pack): `rollout policy check` prints
its message as one line and exits 2."""

from __future__ import annotations


class PolicyCheckError(Exception):
    """Bad input (state, config, pack): the message is one line naming the problem."""
