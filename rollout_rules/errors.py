"""The errors the rules raise; each message is one line naming the key, the value and the rule."""

from __future__ import annotations


class ConfigError(Exception):
    """Invalid stack config or input. str(err) is the one-line message shown to the user."""


class PlanError(ValueError):
    """A custom plan breaks one of the plan rules; the message names the week and the rule."""


class LedgerError(ConfigError):
    """The ledger cannot be trusted or applied; str(err) is the one-line message.

    A ConfigError so the program stops with one line (exit 2) as for bad config: deploying while
    unsure whether a rollback is held could undo it.
    """
